//! The query model shared by every process: table schemas, NATS subject
//! names, wire messages and their codec, the PxL front end and the logical
//! plan with its split into fragments. No NATS connections, no actors.

pub mod codec;
pub mod funcs;
pub mod messages;
pub mod meta;
pub mod metrics;
pub mod plan;
pub mod pxl;
pub mod schema;
pub mod stream;
pub mod subjects;
pub mod validate;
