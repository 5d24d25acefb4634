//! What every wire fuzz target checks, for one message type: any bytes,
//! as a whole message or as the body of an envelope of the right kind, are
//! decoded with a bound and validated, or refused with a reason, never a
//! panic, an abort or an allocation the input did not pay for. A message
//! that passes validation encodes back to bytes that decode and validate
//! to the same message (the same bytes again).
//!
//! Input: first byte selects how the rest is read (bit 0: a whole message,
//! else the body of an envelope of the target's kind; bit 1: the receiver
//! knows the subject's query id `q1` and node `n1`).

use loupe_topology::codec::{self, Kind, WIRE_VERSION};
use loupe_topology::validate::{Arrival, Validate};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub fn check<T>(kind: Kind, data: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + Validate,
{
    let (&mode, rest) = data.split_first()?;
    let bytes = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        let mut b = b"LOUP".to_vec();
        b.extend_from_slice(&WIRE_VERSION.to_le_bytes());
        b.extend_from_slice(&(kind as u16).to_le_bytes());
        b.extend_from_slice(rest);
        b
    };
    let arrival = if mode & 2 == 2 {
        Arrival {
            qid: Some("q1"),
            node: Some("n1"),
        }
    } else {
        Arrival::any()
    };
    let msg: T = codec::receive(kind, &bytes, &arrival).ok()?;
    let again = codec::encode(kind, &msg).expect("a valid message encodes");
    let back: T =
        codec::receive(kind, &again, &arrival).expect("what encodes decodes and validates");
    // Compared as bytes: a NaN is a value here, not a difference.
    let twice = codec::encode(kind, &back).expect("a valid message encodes");
    assert_eq!(twice, again, "a message changed through encode and decode");
    Some(msg)
}

/// One fuzz target for a message type: `wire_target!(Deploy, Kind::Deploy)`.
#[macro_export]
macro_rules! wire_target {
    ($t:ty, $kind:expr) => {
        libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            let _ = loupe_topology_fuzz::check::<$t>($kind, data);
        });
    };
}
