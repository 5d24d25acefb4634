//! `ExportsRequest` off the wire (see `src/lib.rs`).
#![no_main]

use loupe_topology::codec::Kind;
use loupe_topology::messages::ExportsRequest;

loupe_topology_fuzz::wire_target!(ExportsRequest, Kind::ExportsRequest);
