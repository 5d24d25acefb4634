//! The one codec for everything that crosses NATS: a serde message encoded
//! with bincode 2 inside an envelope that names the format version and the
//! message kind, so peers of different versions fail with a clear error
//! rather than decode garbage. Record batches travel as Arrow IPC bytes
//! inside messages.

use serde::{Serialize, de::DeserializeOwned};

/// Bumped on any incompatible change of a message.
pub const WIRE_VERSION: u16 = 1;
const MAGIC: &[u8; 4] = b"LOUP";

/// What a message is, so a reply of the wrong kind is caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
#[non_exhaustive]
pub enum Kind {
    TailRequest = 1,
    TailChunk = 2,
    StatusRequest = 3,
    Status = 4,
    Error = 5,
    QueryRequest = 6,
    ResultChunk = 7,
    Deploy = 8,
    DeployAck = 9,
    PartialChunk = 10,
    Cancel = 11,
    Heartbeat = 12,
    NodesRequest = 13,
    NodesReply = 14,
    LiveRequest = 15,
    LiveAccepted = 16,
    Lease = 17,
    TapHold = 18,
    TapAck = 19,
    TapChunk = 20,
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("not a Loupe message (bad magic or {0} bytes too short)")]
    NotLoupe(usize),
    #[error("peer speaks wire version {theirs}, this build speaks {ours}: upgrade the older side")]
    Version { theirs: u16, ours: u16 },
    #[error("expected a {expected:?} message, got kind {got}")]
    Kind { expected: Kind, got: u16 },
    #[error("encoding: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("decoding: {0}")]
    Decode(#[from] bincode::error::DecodeError),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes `msg` with its envelope.
pub fn encode<T: Serialize>(kind: Kind, msg: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    out.extend_from_slice(&(kind as u16).to_le_bytes());
    bincode::serde::encode_into_std_write(msg, &mut out, config())?;
    Ok(out)
}

/// The kind of an enveloped message, after checking magic and version.
pub fn peek_kind(bytes: &[u8]) -> Result<u16, CodecError> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(CodecError::NotLoupe(bytes.len()));
    }
    let theirs = u16::from_le_bytes([bytes[4], bytes[5]]);
    if theirs != WIRE_VERSION {
        return Err(CodecError::Version {
            theirs,
            ours: WIRE_VERSION,
        });
    }
    Ok(u16::from_le_bytes([bytes[6], bytes[7]]))
}

/// Decodes a message of kind `expected`.
pub fn decode<T: DeserializeOwned>(expected: Kind, bytes: &[u8]) -> Result<T, CodecError> {
    let got = peek_kind(bytes)?;
    if got != expected as u16 {
        return Err(CodecError::Kind { expected, got });
    }
    let (msg, _) = bincode::serde::decode_from_slice(&bytes[8..], config())?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::TailRequest;

    #[test]
    fn round_trip_and_mismatches() {
        let req = TailRequest {
            table: "http_events".into(),
            since_ns: Some(30_000_000_000),
            limit: None,
            columns: vec!["req_path".into()],
        };
        let b = encode(Kind::TailRequest, &req).unwrap();
        let back: TailRequest = decode(Kind::TailRequest, &b).unwrap();
        assert_eq!(back, req);
        assert!(matches!(
            decode::<TailRequest>(Kind::Status, &b),
            Err(CodecError::Kind { got: 1, .. })
        ));
        let mut old = b.clone();
        old[4] = 9;
        assert!(matches!(
            decode::<TailRequest>(Kind::TailRequest, &old),
            Err(CodecError::Version { theirs: 9, .. })
        ));
        assert!(matches!(
            decode::<TailRequest>(Kind::TailRequest, b"nope"),
            Err(CodecError::NotLoupe(4))
        ));
        assert!(decode::<TailRequest>(Kind::TailRequest, &b[..10]).is_err());
    }
}
