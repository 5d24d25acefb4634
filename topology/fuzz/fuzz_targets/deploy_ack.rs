//! `DeployAck` off the wire (see `src/lib.rs`).
#![no_main]

use loupe_topology::codec::Kind;
use loupe_topology::messages::DeployAck;

loupe_topology_fuzz::wire_target!(DeployAck, Kind::DeployAck);
