//! Socket capture from the kernel.
//!
//! The kernel programs (`src/socket_trace.bpf.c`, C, CO-RE) are compiled by
//! clang-19 in `build.rs` and embedded; [`loader::Capture`] loads them with
//! aya 0.14 on syscall tracepoints (this kernel has no kprobes and refuses
//! fentry/fexit). [`events`] mirrors the record layout of `src/loupe.h`.
//! Minimum kernel: 5.17 with BTF.

pub mod events;
pub mod loader;
pub mod stats;
pub mod sys;

pub use events::{
    ConnEvent, ConnMapKey, ConnMapValue, DataEventHeader, Direction, Event, Role, TcpEvent, decode,
};
pub use loader::{Capture, CaptureConfig, ConnTable, PROBES, ProbeStatus, Untrace};
pub use stats::{KernelStats, Stat};
