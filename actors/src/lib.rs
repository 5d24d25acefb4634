//! The node's actors and the messages between them.
//!
//! ```text
//! kernel ring buffer -> Capture (thread) -> Reassembly (actor: order, gaps,
//!   protocol inference, parsers, metadata) -> TableStore (actor: Arrow
//!   batches, retention) <- Service (NATS request-reply)
//! ```
//! Stages hand each other batches, never single records; a full mailbox is
//! a counted drop (`try_send`), never an unbounded queue.

pub mod capture;
pub mod clock;
pub mod counters;
pub mod enrich;
pub mod exec;
pub mod export;
pub mod fragment;
pub mod gather;
pub mod metadata;
pub mod planner;
pub mod protocols;
pub mod reassembly;
pub mod serve_metrics;
pub mod service;
pub mod supervise;
pub mod table_store;
pub mod tables;
pub mod tap;
pub mod wire;

pub use counters::{Counter, Counters};
