//! The query model: typed expressions, the logical plan, and its split into
//! node and merge fragments. Pure data (serde), no execution, no NATS.

pub mod export;
pub mod expr;
pub mod logical;
pub mod meta_fn;
pub mod semantic;
pub mod split;
pub mod table_fn;
pub mod types;

pub use expr::{BinOp, Expr, Func};
pub use logical::{
    AggFunc, AggMode, AggSpec, JoinHow, NodeId, Op, Plan, PlanNode, QUANTILE_RELATIVE_ERROR, Sink,
    SortKey,
};
pub use meta_fn::{META_FNS, MetaDef, MetaFn};
pub use split::{ChannelOut, Combine, Distributed, NodeFragment, split};
pub use table_fn::{TABLE_FNS, TableFn, TableFnDef};
pub use types::{DType, Field, Scalar, Schema, Sem};
