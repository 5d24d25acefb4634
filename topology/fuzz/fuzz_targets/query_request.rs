//! `QueryRequest` off the wire (see `src/lib.rs`); a plan that passes is also split.
#![no_main]

use loupe_topology::codec::Kind;
use loupe_topology::messages::QueryRequest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(m) = loupe_topology_fuzz::check::<QueryRequest>(Kind::QueryRequest, data) {
        let _ = loupe_topology::plan::split(&m.plan);
    }
});
