//! Column types and literal values of the query model.

use arrow::datatypes::{DataType, TimeUnit};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The types a PxL value can have (Pixie's: TIME64NS, INT64, FLOAT64,
/// STRING, BOOLEAN), plus `Binary` for partial aggregate states that only
/// travel between fragments and never reach a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DType {
    Boolean,
    Int64,
    Float64,
    String,
    Time,
    Binary,
}

impl DType {
    /// The type of a stored Arrow column (dictionaries are strings).
    pub fn of_arrow(t: &DataType) -> Option<DType> {
        Some(match t {
            DataType::Boolean => DType::Boolean,
            DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::UInt64 => DType::Int64,
            DataType::Float64 | DataType::Float32 => DType::Float64,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DType::String,
            DataType::Dictionary(_, v) if DType::of_arrow(v) == Some(DType::String) => {
                DType::String
            }
            DataType::Timestamp(_, _) => DType::Time,
            DataType::Binary | DataType::LargeBinary => DType::Binary,
            _ => return None,
        })
    }

    /// The Arrow type results of this type are produced in.
    pub fn arrow(self) -> DataType {
        match self {
            DType::Boolean => DataType::Boolean,
            DType::Int64 => DataType::Int64,
            DType::Float64 => DataType::Float64,
            DType::String => DataType::Utf8,
            DType::Time => DataType::Timestamp(TimeUnit::Nanosecond, None),
            DType::Binary => DataType::Binary,
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, DType::Int64 | DType::Float64)
    }

    /// Pixie's name of the type, used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            DType::Boolean => "BOOLEAN",
            DType::Int64 => "INT64",
            DType::Float64 => "FLOAT64",
            DType::String => "STRING",
            DType::Time => "TIME64NS",
            DType::Binary => "BINARY",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a value means beyond its type (Pixie's semantic types): how it is
/// printed (12.3 %, 4.5 MiB, 12.3 ms) and what a UI may do with it; JSON
/// answers carry it beside the type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sem {
    #[default]
    None,
    /// A ratio, 0.123 printed as 12.3 %.
    Percent,
    /// A count of bytes.
    Bytes,
    /// A duration in ns.
    DurationNs,
    /// Bytes per ns, printed per second.
    BytesPerNs,
    /// Events per ns, printed per second.
    PerNs,
    /// Quantiles of durations in ns (a JSON object).
    DurationNsQuantiles,
    /// A link to a script with its arguments (a JSON object).
    ScriptReference,
}

impl Sem {
    /// Pixie's name (`ST_PERCENT`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Sem::None => "ST_NONE",
            Sem::Percent => "ST_PERCENT",
            Sem::Bytes => "ST_BYTES",
            Sem::DurationNs => "ST_DURATION_NS",
            Sem::BytesPerNs => "ST_THROUGHPUT_BYTES_PER_NS",
            Sem::PerNs => "ST_THROUGHPUT_PER_NS",
            Sem::DurationNsQuantiles => "ST_DURATION_NS_QUANTILES",
            Sem::ScriptReference => "ST_SCRIPT_REFERENCE",
        }
    }
}

/// A column of a plan node's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub dtype: DType,
}

impl Field {
    pub fn new(name: impl Into<String>, dtype: DType) -> Self {
        Field {
            name: name.into(),
            dtype,
        }
    }
}

/// The output columns of a plan node, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Self {
        Schema { fields }
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name.as_str()).collect()
    }

    /// The schema of a stored table (see [`crate::schema`]).
    pub fn of_arrow(s: &arrow::datatypes::Schema) -> Schema {
        Schema::new(
            s.fields()
                .iter()
                .filter_map(|f| DType::of_arrow(f.data_type()).map(|t| Field::new(f.name(), t)))
                .collect(),
        )
    }

    /// The Arrow schema results of this schema are produced in (nullable:
    /// outer joins and empty aggregates give nulls).
    pub fn arrow(&self) -> arrow::datatypes::SchemaRef {
        std::sync::Arc::new(arrow::datatypes::Schema::new(
            self.fields
                .iter()
                .map(|f| arrow::datatypes::Field::new(&f.name, f.dtype.arrow(), true))
                .collect::<Vec<_>>(),
        ))
    }
}

/// A literal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    Boolean(bool),
    Int64(i64),
    Float64(f64),
    String(String),
    /// ns since the epoch.
    Time(i64),
    Null(DType),
}

impl Scalar {
    pub fn dtype(&self) -> DType {
        match self {
            Scalar::Boolean(_) => DType::Boolean,
            Scalar::Int64(_) => DType::Int64,
            Scalar::Float64(_) => DType::Float64,
            Scalar::String(_) => DType::String,
            Scalar::Time(_) => DType::Time,
            Scalar::Null(t) => *t,
        }
    }
}
