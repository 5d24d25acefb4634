//! `TailChunk` off the wire (see `src/lib.rs`).
#![no_main]

use loupe_topology::codec::Kind;
use loupe_topology::messages::TailChunk;

loupe_topology_fuzz::wire_target!(TailChunk, Kind::TailChunk);
