//! A row builder driven by a table's stored schema: the common connection
//! columns are written by [`Columns::begin`], the protocol's own columns in
//! schema order by the typed setters, `resp_latency` by [`Columns::end`].
//! No allocation per row: strings go straight into Arrow's buffers.

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Int64Builder, StringBuilder, StringDictionaryBuilder,
    TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Int32Type, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::table_store::ConnMeta;

enum Col {
    Time(TimestampNanosecondBuilder),
    Int(Int64Builder),
    Str(StringBuilder),
    Dict(StringDictionaryBuilder<Int32Type>),
    Bool(BooleanBuilder),
}

impl Col {
    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Time(b) => std::sync::Arc::new(b.finish()),
            Col::Int(b) => std::sync::Arc::new(b.finish()),
            Col::Str(b) => std::sync::Arc::new(b.finish()),
            Col::Dict(b) => std::sync::Arc::new(b.finish()),
            Col::Bool(b) => std::sync::Arc::new(b.finish()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Col::Time(b) => b.len(),
            Col::Int(b) => b.len(),
            Col::Str(b) => b.len(),
            Col::Dict(b) => b.len(),
            Col::Bool(b) => b.len(),
        }
    }
}

/// Builds record batches of one table.
pub struct Columns {
    table: &'static str,
    schema: SchemaRef,
    cols: Vec<Col>,
    /// The column the next setter writes.
    at: usize,
    rows: usize,
    min_time: i64,
    max_time: i64,
}

impl Columns {
    /// A builder for `table`'s stored schema.
    ///
    /// # Panics
    /// If `table` is not in `topology::schema::TABLES` (a registry bug,
    /// caught by the registries' tests).
    pub fn new(table: &'static str) -> Self {
        let schema = loupe_topology::schema::stored_table(table)
            .unwrap_or_else(|| panic!("table {table} is not in schema::TABLE_DEFS"));
        let cols = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(..) => Col::Time(TimestampNanosecondBuilder::new()),
                DataType::Int64 => Col::Int(Int64Builder::new()),
                DataType::Boolean => Col::Bool(BooleanBuilder::new()),
                DataType::Dictionary(..) => Col::Dict(StringDictionaryBuilder::new()),
                _ => Col::Str(StringBuilder::new()),
            })
            .collect();
        Columns {
            table,
            schema,
            cols,
            at: 0,
            rows: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Starts a row: `time_` and the connection's columns.
    pub fn begin(&mut self, time_ns: i64, c: &ConnMeta) {
        debug_assert_eq!(self.at, 0, "{}: row not ended", self.table);
        self.at = 0;
        self.min_time = self.min_time.min(time_ns);
        self.max_time = self.max_time.max(time_ns);
        if let Some(Col::Time(b)) = self.cols.first_mut() {
            b.append_value(time_ns);
        }
        self.at = 1;
        self.str(&c.process.upid);
        self.str(&c.remote_addr);
        self.int(c.remote_port as i64);
        self.str(&c.local_addr);
        self.int(c.local_port as i64);
        self.int(c.trace_role);
        self.bool(false);
    }

    /// Starts a row of a sampled table: `time_`; the other columns follow
    /// in schema order through the typed setters, then [`Columns::end_row`].
    pub fn start(&mut self, time_ns: i64) {
        debug_assert_eq!(self.at, 0, "{}: row not ended", self.table);
        self.min_time = self.min_time.min(time_ns);
        self.max_time = self.max_time.max(time_ns);
        if let Some(Col::Time(b)) = self.cols.first_mut() {
            b.append_value(time_ns);
        }
        self.at = 1;
    }

    /// Ends a row started by [`Columns::start`].
    pub fn end_row(&mut self) {
        debug_assert_eq!(
            self.at,
            self.cols.len(),
            "{}: wrong column count",
            self.table
        );
        self.at = 0;
        self.rows += 1;
    }

    fn next(&mut self) -> Option<&mut Col> {
        let c = self.cols.get_mut(self.at);
        self.at += 1;
        c
    }

    /// The next column, a STRING.
    pub fn str(&mut self, v: &str) {
        match self.next() {
            Some(Col::Str(b)) => b.append_value(v),
            Some(Col::Dict(b)) => {
                b.append_value(v);
            }
            _ => debug_assert!(false, "column type mismatch (string)"),
        }
    }

    /// The next column, an INT64.
    pub fn int(&mut self, v: i64) {
        match self.next() {
            Some(Col::Int(b)) => b.append_value(v),
            _ => debug_assert!(false, "column type mismatch (int)"),
        }
    }

    /// The next column, a BOOLEAN.
    pub fn bool(&mut self, v: bool) {
        match self.next() {
            Some(Col::Bool(b)) => b.append_value(v),
            _ => debug_assert!(false, "column type mismatch (bool)"),
        }
    }

    /// Ends the row with its `resp_latency`.
    pub fn end(&mut self, latency_ns: i64) {
        self.int(latency_ns);
        self.end_row();
    }

    /// The rows so far as one batch, with its time range; `None` if empty.
    /// A builder whose columns disagree (a glue bug) drops its rows and
    /// says so, rather than storing misaligned columns.
    pub fn finish(&mut self) -> Option<(RecordBatch, i64, i64)> {
        if self.rows == 0 {
            return None;
        }
        let rows = self.rows;
        let consistent = self.cols.iter().all(|c| c.len() == rows);
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(Col::finish).collect();
        let range = (self.min_time, self.max_time);
        self.rows = 0;
        self.at = 0;
        self.min_time = i64::MAX;
        self.max_time = i64::MIN;
        if !consistent {
            tracing::error!(
                table = self.table,
                rows,
                "row builder columns disagree: batch dropped"
            );
            return None;
        }
        match RecordBatch::try_new(self.schema.clone(), arrays) {
            Ok(b) => Some((b, range.0, range.1)),
            Err(e) => {
                tracing::error!(table = self.table, rows, error = %e, "batch dropped");
                None
            }
        }
    }
}
