//! The query model shared by every process: table schemas, NATS subject
//! names, wire messages and their codec. No NATS connections, no actors.

pub mod codec;
pub mod messages;
pub mod schema;
pub mod subjects;
