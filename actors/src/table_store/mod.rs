//! TableStore: the node's recent records, columnar (Arrow record batches),
//! bounded by bytes and by age; the oldest batch goes first, counted.

mod rows;

pub use rows::{ConnMeta, HttpBatchBuilder, HttpRow, REDACTED_BODY};

use actix::prelude::*;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Int64Array, StringArray,
    TimestampNanosecondArray,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use loupe_k8s::ProcessInfo;
use lru::LruCache;
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::wall_now_ns;
use crate::counters::{Counter, Counters};

/// Retention limits (flags of `loupe agent`).
#[derive(Clone, Debug)]
pub struct RetentionConfig {
    pub max_bytes: usize,
    pub max_age: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_bytes: 512 << 20,
            max_age: Duration::from_secs(3600),
        }
    }
}

struct Sealed {
    batch: RecordBatch,
    min_time: i64,
    max_time: i64,
    bytes: usize,
}

impl Sealed {
    /// The rows with `start <= time_ < end`: the batch itself when all
    /// are, none when none is.
    fn window(&self, start: i64, end: i64) -> Result<Option<RecordBatch>, String> {
        if self.max_time < start || self.min_time >= end {
            return Ok(None);
        }
        if self.min_time >= start && self.max_time < end {
            return Ok(Some(self.batch.clone()));
        }
        let time = self
            .batch
            .column(0)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or("time_ column is not a timestamp")?;
        let keep: BooleanArray = time
            .iter()
            .map(|t| Some(t.is_some_and(|t| t >= start && t < end)))
            .collect();
        if keep.true_count() == 0 {
            return Ok(None);
        }
        filter_record_batch(&self.batch, &keep)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// A sealed batch of one table (its stored schema: no metadata columns)
/// and the processes its `upid`s name.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TableBatch {
    /// One of `loupe_topology::schema::TABLES`.
    pub table: &'static str,
    pub batch: RecordBatch,
    /// Oldest and newest `time_` in the batch.
    pub min_time: i64,
    pub max_time: i64,
    pub processes: Vec<Arc<ProcessInfo>>,
}

/// Read a table: rows with `time_ >= now - since`, the newest `limit`.
#[derive(Message)]
#[rtype(result = "Result<Vec<RecordBatch>, String>")]
pub struct Scan {
    pub table: String,
    pub since_ns: Option<u64>,
    pub limit: Option<u64>,
}

/// Store statistics.
#[derive(Message)]
#[rtype(result = "StoreStats")]
pub struct GetStoreStats;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub batches: usize,
    pub rows: usize,
    pub bytes: usize,
    /// `time_` of the oldest row held.
    pub oldest_time: Option<i64>,
}

pub struct TableStore {
    cfg: RetentionConfig,
    /// Process metadata by upid: rows store only the upid; `node`, `pid`,
    /// `cmdline`, ... are derived from it when a table is read (as Pixie's
    /// metadata columns are). Bounded; a upid that fell out still gives its
    /// node and pid.
    procs: LruCache<String, Arc<ProcessInfo>>,
    /// One queue of sealed batches per table of `schema::TABLES`, oldest first.
    tables: Vec<VecDeque<Sealed>>,
    /// Bytes held across every table (retention bounds the sum).
    bytes: usize,
    /// Bytes held per table (each bounded by its share of the store).
    table_bytes: Vec<usize>,
    counters: Arc<Counters>,
}

fn table_index(table: &str) -> Result<usize, String> {
    loupe_topology::schema::TABLES
        .iter()
        .position(|t| *t == table)
        .ok_or_else(|| {
            format!(
                "unknown table {table:?}; this agent has: {}",
                loupe_topology::schema::TABLES.join(", ")
            )
        })
}

impl TableStore {
    pub fn new(cfg: RetentionConfig, counters: Arc<Counters>) -> Self {
        TableStore {
            cfg,
            procs: LruCache::new(NonZeroUsize::new(65_536).unwrap_or(NonZeroUsize::MIN)),
            tables: loupe_topology::schema::TABLES
                .iter()
                .map(|_| VecDeque::new())
                .collect(),
            bytes: 0,
            table_bytes: vec![0; loupe_topology::schema::TABLES.len()],
            counters,
        }
    }

    fn push_batch(&mut self, table: usize, batch: RecordBatch, min_time: i64, max_time: i64) {
        let bytes = batch.get_array_memory_size();
        let Some(q) = self.tables.get_mut(table) else {
            return;
        };
        self.bytes += bytes;
        self.table_bytes[table] += bytes;
        q.push_back(Sealed {
            batch,
            min_time,
            max_time,
            bytes,
        });
        self.evict();
    }

    /// Drops batches older than the age limit, then the oldest of a table
    /// over its share of the store, then, while over the byte limit, the
    /// oldest batch of any table.
    fn evict(&mut self) {
        let cutoff = wall_now_ns().saturating_sub(self.cfg.max_age.as_nanos() as i64);
        loop {
            let aged = self
                .tables
                .iter()
                .position(|q| q.front().is_some_and(|f| f.max_time < cutoff));
            let over_share = || {
                loupe_topology::schema::TABLE_DEFS
                    .iter()
                    .enumerate()
                    .position(|(i, d)| {
                        d.store_percent < 100
                            && self.tables[i].len() > 1
                            && self.table_bytes[i]
                                > self.cfg.max_bytes / 100 * d.store_percent as usize
                    })
            };
            let victim = aged.or_else(over_share).or_else(|| {
                (self.bytes > self.cfg.max_bytes)
                    .then(|| {
                        self.tables
                            .iter()
                            .enumerate()
                            .filter_map(|(i, q)| q.front().map(|f| (f.max_time, i)))
                            .min()
                            .map(|(_, i)| i)
                    })
                    .flatten()
            });
            let Some((i, front)) = victim.and_then(|i| self.tables[i].pop_front().map(|f| (i, f)))
            else {
                break;
            };
            self.bytes -= front.bytes;
            self.table_bytes[i] -= front.bytes;
            self.counters
                .add(Counter::StoreRowsEvicted, front.batch.num_rows() as u64);
        }
    }

    fn sealed(&self) -> impl Iterator<Item = &Sealed> {
        self.tables.iter().flatten()
    }

    /// A stored batch with the metadata columns derived from its `upid`
    /// dictionary: one lookup per distinct process, none per row.
    fn with_metadata(&self, table: &str, b: &RecordBatch) -> Result<RecordBatch, String> {
        let full = loupe_topology::schema::table(table).ok_or("unknown table")?;
        let names: Vec<&str> = full.fields().iter().map(|f| f.name().as_str()).collect();
        let meta = loupe_topology::schema::def(table).is_some_and(|d| d.process_metadata);
        let cols = self.derive(b, &names, meta)?;
        RecordBatch::try_new(full, cols).map_err(|e| e.to_string())
    }

    /// The columns `names` of a stored batch, metadata derived from `upid`
    /// only for the metadata columns asked for.
    fn derive(
        &self,
        b: &RecordBatch,
        names: &[&str],
        process_metadata: bool,
    ) -> Result<Vec<ArrayRef>, String> {
        let needs_meta = process_metadata
            && names
                .iter()
                .any(|n| loupe_topology::schema::METADATA_COLUMNS.contains(n));
        if !needs_meta {
            // Stored columns only (and tables without a process).
            return names
                .iter()
                .map(|name| {
                    b.column_by_name(name)
                        .cloned()
                        .ok_or_else(|| format!("table has no column {name:?}"))
                })
                .collect();
        }
        let upid = b
            .column_by_name("upid")
            .and_then(|c| c.as_any().downcast_ref::<DictionaryArray<Int32Type>>())
            .ok_or("upid column is not a dictionary")?;
        let keys = upid.keys();
        let infos: Vec<Arc<ProcessInfo>> = if needs_meta {
            upid.values()
                .as_string::<i32>()
                .iter()
                .map(|u| {
                    let u = u.unwrap_or_default();
                    match self.procs.peek(u) {
                        Some(p) => p.clone(),
                        None => {
                            // Fell out of the registry: node and pid are in the upid.
                            let mut parts = u.split(':');
                            Arc::new(ProcessInfo {
                                node: parts.next().unwrap_or_default().to_string(),
                                pid: parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
                                ..Default::default()
                            })
                        }
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let dict = |f: fn(&ProcessInfo) -> &str| -> Result<ArrayRef, String> {
            let vals = StringArray::from_iter_values(infos.iter().map(|p| f(p)));
            if vals.len() != upid.values().len() {
                return Err("internal: one process per upid value".into());
            }
            // SAFETY: `keys` index `upid`'s values, valid dictionary keys;
            // `vals` has exactly as many entries as those values.
            Ok(Arc::new(unsafe {
                DictionaryArray::<Int32Type>::new_unchecked(keys.clone(), Arc::new(vals))
            }))
        };
        let mut cols = Vec::with_capacity(names.len());
        for name in names {
            let col: ArrayRef = match *name {
                "node" => dict(|p| &p.node)?,
                "pid" => {
                    let pids = Int64Array::from_iter_values(infos.iter().map(|p| p.pid as i64));
                    arrow::compute::take(&pids, keys, None).map_err(|e| e.to_string())?
                }
                "cmdline" => dict(|p| &p.cmdline)?,
                // Pixie's `container` is the container's name; a host's
                // container (no cluster) is named by its id.
                "container" => dict(|p| {
                    if p.container_name.is_empty() {
                        &p.container
                    } else {
                        &p.container_name
                    }
                })?,
                "container_id" => dict(|p| &p.container)?,
                "namespace" => dict(|p| &p.namespace)?,
                "service" => dict(|p| &p.service)?,
                "pod" => dict(|p| &p.pod)?,
                "pod_id" => dict(|p| &p.pod_id)?,
                "deployment" => dict(|p| &p.deployment)?,
                "replicaset" => dict(|p| &p.replicaset)?,
                name => b
                    .column_by_name(name)
                    .ok_or_else(|| format!("table has no column {name:?}"))?
                    .clone(),
            };
            cols.push(col);
        }
        Ok(cols)
    }

    /// Rows for a query: `start_ns <= time_ < end_ns`, only `columns`, in
    /// that order (metadata derived only when asked for).
    pub fn read(
        &mut self,
        table: &str,
        start_ns: i64,
        end_ns: Option<i64>,
        columns: &[String],
    ) -> Result<Vec<RecordBatch>, String> {
        let t = table_index(table)?;
        self.evict();
        let full = loupe_topology::schema::table(table).ok_or("unknown table")?;
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let fields = names
            .iter()
            .map(|n| {
                full.field_with_name(n)
                    .cloned()
                    .map_err(|_| format!("table {table} has no column {n:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let schema = Arc::new(arrow::datatypes::Schema::new(fields));
        let end = end_ns.unwrap_or(i64::MAX);
        let meta = loupe_topology::schema::def(table).is_some_and(|d| d.process_metadata);
        let mut out = Vec::new();
        for s in &self.tables[t] {
            let Some(b) = s.window(start_ns, end)? else {
                continue;
            };
            let cols = self.derive(&b, &names, meta)?;
            let opts =
                arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(b.num_rows()));
            out.push(
                RecordBatch::try_new_with_options(schema.clone(), cols, &opts)
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(out)
    }

    /// Seals the `http_events` rows built so far and stores them (for
    /// stores filled directly: simulated nodes, tests, benchmarks).
    pub fn insert_http(&mut self, b: &mut HttpBatchBuilder, processes: &[Arc<ProcessInfo>]) {
        if let Some((batch, min_time, max_time)) = b.finish() {
            self.insert(TableBatch {
                table: loupe_topology::schema::HTTP_EVENTS,
                batch,
                min_time,
                max_time,
                processes: processes.to_vec(),
            });
        }
    }

    /// Stores a sealed batch (what the `TableBatch` message does).
    pub fn insert(&mut self, msg: TableBatch) {
        let Ok(t) = table_index(msg.table) else {
            tracing::error!(
                table = msg.table,
                "batch for a table this build does not have"
            );
            return;
        };
        self.counters
            .add(Counter::StoreRowsAppended, msg.batch.num_rows() as u64);
        for p in msg.processes {
            self.procs.put(p.upid.clone(), p);
        }
        self.push_batch(t, msg.batch, msg.min_time, msg.max_time);
    }

    /// The batches at or after `min_time`, boundary batches filtered, with
    /// their metadata columns.
    fn scan(
        &mut self,
        table: &str,
        since_ns: Option<u64>,
        limit: Option<u64>,
    ) -> Result<Vec<RecordBatch>, String> {
        let stored = self.scan_stored(table_index(table)?, since_ns, limit)?;
        stored
            .iter()
            .map(|b| self.with_metadata(table, b))
            .collect()
    }

    fn scan_stored(
        &mut self,
        t: usize,
        since_ns: Option<u64>,
        limit: Option<u64>,
    ) -> Result<Vec<RecordBatch>, String> {
        self.evict();
        let min_time =
            since_ns.map(|s| wall_now_ns().saturating_sub(s.min(i64::MAX as u64) as i64));
        let mut out = Vec::new();
        for s in &self.tables[t] {
            let Some(min_time) = min_time else {
                out.push(s.batch.clone());
                continue;
            };
            if let Some(b) = s.window(min_time, i64::MAX)? {
                out.push(b);
            }
        }
        if let Some(limit) = limit {
            let mut remaining = limit as usize;
            let mut newest = Vec::new();
            for b in out.into_iter().rev() {
                if remaining == 0 {
                    break;
                }
                let n = b.num_rows();
                if n <= remaining {
                    remaining -= n;
                    newest.push(b);
                } else {
                    newest.push(b.slice(n - remaining, remaining));
                    remaining = 0;
                }
            }
            newest.reverse();
            out = newest;
        }
        Ok(out)
    }
}

impl Actor for TableStore {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
        // Age-based eviction must happen even when no batch arrives.
        ctx.run_interval(Duration::from_secs(1), |this, _| this.evict());
    }
}

impl Handler<TableBatch> for TableStore {
    type Result = ();

    fn handle(&mut self, msg: TableBatch, _: &mut Self::Context) {
        self.insert(msg);
    }
}

impl Handler<crate::enrich::UpdateProcesses> for TableStore {
    type Result = ();

    /// Better names for processes already stored (their pod became known).
    fn handle(&mut self, msg: crate::enrich::UpdateProcesses, _: &mut Self::Context) {
        for p in msg.0 {
            self.procs.put(p.upid.clone(), p);
        }
    }
}

impl Handler<Scan> for TableStore {
    type Result = Result<Vec<RecordBatch>, String>;

    fn handle(&mut self, msg: Scan, _: &mut Self::Context) -> Self::Result {
        self.scan(&msg.table, msg.since_ns, msg.limit)
    }
}

/// Read rows for a query (see [`TableStore::read`]).
#[derive(Message)]
#[rtype(result = "Result<Vec<RecordBatch>, String>")]
pub struct Read {
    pub table: String,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub columns: Vec<String>,
}

impl Handler<Read> for TableStore {
    type Result = Result<Vec<RecordBatch>, String>;

    fn handle(&mut self, m: Read, _: &mut Self::Context) -> Self::Result {
        self.read(&m.table, m.start_ns, m.end_ns, &m.columns)
    }
}

impl Handler<GetStoreStats> for TableStore {
    type Result = MessageResult<GetStoreStats>;

    fn handle(&mut self, _: GetStoreStats, _: &mut Self::Context) -> Self::Result {
        MessageResult(StoreStats {
            batches: self.sealed().count(),
            rows: self.sealed().map(|s| s.batch.num_rows()).sum::<usize>(),
            bytes: self.bytes,
            oldest_time: self.sealed().map(|s| s.min_time).min(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::rows::tests::row;
    use super::*;
    use loupe_topology::schema::HTTP_EVENTS;

    fn batch(rows: &[(i64, &str)]) -> (RecordBatch, i64, i64) {
        let mut b = HttpBatchBuilder::default();
        for (t, p) in rows {
            b.append(&row(*t, p));
        }
        b.finish().unwrap()
    }

    #[test]
    fn retention_by_bytes_and_age_drops_oldest_first() {
        let counters = Arc::new(Counters::default());
        let cfg = RetentionConfig {
            max_bytes: usize::MAX,
            max_age: Duration::from_secs(60),
        };
        let mut s = TableStore::new(cfg, counters.clone());
        let now = wall_now_ns();
        // Two rows older than the max age, then four fresh ones.
        let (old, min, max) = batch(&[
            (now - 120_000_000_000, "/old1"),
            (now - 119_000_000_000, "/old2"),
        ]);
        s.push_batch(0, old, min, max);
        assert_eq!(s.sealed().count(), 0, "aged batch evicted on arrival");
        assert_eq!(counters.get(Counter::StoreRowsEvicted), 2);
        for i in 0..2 {
            let (b, min, max) = batch(&[(now - 1000 + 2 * i, "/new"), (now - 999 + 2 * i, "/new")]);
            s.push_batch(0, b, min, max);
        }
        assert_eq!(s.sealed().count(), 2);
        let all: usize = s
            .scan(HTTP_EVENTS, None, None)
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(all, 4);
        let newest = s.scan(HTTP_EVENTS, Some(10_000_000_000), Some(3)).unwrap();
        assert_eq!(newest.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
        // Metadata columns come from the upid: the test rows' process was
        // not registered (no TableBatch message), so node and pid come from the upid.
        let b = &newest[0];
        assert_eq!(b.schema(), loupe_topology::schema::http_events());
        let pid = b
            .column_by_name("pid")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(pid.value(0), 1);
        let node = arrow::compute::cast(
            b.column_by_name("node").unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        assert_eq!(node.as_string::<i32>().value(0), "n");
        // Byte bound: keep only as much as one batch.
        s.cfg.max_bytes = s.tables[0][0].bytes;
        s.evict();
        assert_eq!(s.sealed().count(), 1);
        assert_eq!(counters.get(Counter::StoreRowsEvicted), 4);
    }
}
