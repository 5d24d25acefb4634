//! `Schedule` off the wire (see `src/lib.rs`).
#![no_main]

use loupe_topology::codec::Kind;
use loupe_topology::messages::Schedule;

loupe_topology_fuzz::wire_target!(Schedule, Kind::Schedule);
