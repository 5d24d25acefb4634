//! `ExportsReply` off the wire (see `src/lib.rs`).
#![no_main]

use loupe_topology::codec::Kind;
use loupe_topology::messages::ExportsReply;

loupe_topology_fuzz::wire_target!(ExportsReply, Kind::ExportsReply);
