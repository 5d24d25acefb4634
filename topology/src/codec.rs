//! The one codec for everything that crosses NATS: a serde message encoded
//! with bincode 2 inside an envelope that names the format version and the
//! message kind, so peers of different versions fail with a clear error
//! rather than decode garbage. Record batches travel as Arrow IPC bytes
//! inside messages.
//!
//! Decoding is bounded: bincode allocates a string or byte vector as long
//! as the length prefix the sender wrote before it checks that the bytes
//! exist, so every decode runs with a limit on the bytes it may claim, a
//! little above the message's own length (never above [`MAX_MESSAGE`], the
//! largest payload a NATS server can be configured to carry). Expressions
//! count their nesting while they decode ([`crate::plan::expr`]). What
//! decodes is then validated ([`crate::validate`]) before anyone uses it.

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
    /// An entry of the cluster metadata bucket ([`crate::meta::Object`]).
    Meta = 21,
    ExportsRequest = 22,
    ExportsReply = 23,
    /// An entry of the export schedules bucket.
    Schedule = 24,
}

/// The largest message any Loupe process accepts: NATS's own ceiling for
/// `max_payload` (64 MiB). A receiver also refuses anything above its
/// server's `max_payload`, which nothing legitimate can exceed.
pub const MAX_MESSAGE: usize = 64 << 20;

/// Why a message was refused: a label of few values, for the
/// `loupe_wire_rejected_total{subject,reason}` counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// Not a Loupe envelope.
    Garbage,
    /// Another wire version.
    Version,
    /// An envelope of another kind than the subject carries.
    Kind,
    /// Longer than the limit.
    TooLarge,
    /// The envelope's body does not decode (truncated, a length beyond
    /// the limit, bad values of an enum).
    Decode,
    /// An expression nested too deep.
    Depth,
    /// Says another query or node than the subject it came on.
    Subject,
    /// A value out of its sane range.
    Range,
    /// A plan that does not check against the schemas.
    Plan,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Garbage => "garbage",
            Reason::Version => "version",
            Reason::Kind => "kind",
            Reason::TooLarge => "too_large",
            Reason::Decode => "decode",
            Reason::Depth => "depth",
            Reason::Subject => "subject",
            Reason::Range => "range",
            Reason::Plan => "plan",
        }
    }

    pub const ALL: [Reason; 9] = [
        Reason::Garbage,
        Reason::Version,
        Reason::Kind,
        Reason::TooLarge,
        Reason::Decode,
        Reason::Depth,
        Reason::Subject,
        Reason::Range,
        Reason::Plan,
    ];
}

/// A message refused on arrival: why (a counter label) and what to tell
/// the sender.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejected {
    pub reason: Reason,
    pub message: String,
}

impl Rejected {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Rejected {
            reason,
            message: message.into(),
        }
    }
}

impl From<CodecError> for Rejected {
    fn from(e: CodecError) -> Self {
        Rejected {
            reason: e.reason(),
            message: e.to_string(),
        }
    }
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
    #[error("a message of {0} bytes, over the limit of {MAX_MESSAGE}")]
    TooLarge(usize),
    #[error("decoding: {0}")]
    Depth(String),
}

impl CodecError {
    pub fn reason(&self) -> Reason {
        match self {
            CodecError::NotLoupe(_) => Reason::Garbage,
            CodecError::Version { .. } => Reason::Version,
            CodecError::Kind { .. } => Reason::Kind,
            CodecError::Encode(_) | CodecError::Decode(_) => Reason::Decode,
            CodecError::TooLarge(_) => Reason::TooLarge,
            CodecError::Depth(_) => Reason::Depth,
        }
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Decodes `body` claiming at most `LIMIT` bytes for its strings and
/// vectors.
fn decode_within<T: DeserializeOwned, const LIMIT: usize>(body: &[u8]) -> Result<T, CodecError> {
    let cfg = bincode::config::standard().with_limit::<LIMIT>();
    crate::plan::expr::take_depth_refused();
    match bincode::serde::decode_from_slice(body, cfg) {
        Ok((msg, _)) => Ok(msg),
        Err(e) if crate::plan::expr::take_depth_refused() => Err(CodecError::Depth(e.to_string())),
        Err(e) => Err(CodecError::Decode(e)),
    }
}

/// Decodes a body with a claim limit of the smallest step at or above
/// twice its length: what is claimed must also be read, so a legitimate
/// body claims less than its own length (plus serde's bounded read-ahead),
/// and a forged length prefix costs at most the step.
fn decode_bounded<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    let need = body.len().saturating_mul(2);
    if body.len() > MAX_MESSAGE {
        Err(CodecError::TooLarge(body.len()))
    } else if need <= 64 << 10 {
        decode_within::<T, { 64 << 10 }>(body)
    } else if need <= 1 << 20 {
        decode_within::<T, { 1 << 20 }>(body)
    } else if need <= 8 << 20 {
        decode_within::<T, { 8 << 20 }>(body)
    } else {
        decode_within::<T, { 2 * MAX_MESSAGE }>(body)
    }
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
    decode_bounded(&bytes[8..])
}

/// Decodes a message of kind `expected` and validates it against what the
/// receiver already trusts (`arrival`: the subject it came on). Nothing a
/// message says is used before this passes.
pub fn receive<T: DeserializeOwned + crate::validate::Validate>(
    expected: Kind,
    bytes: &[u8],
    arrival: &crate::validate::Arrival<'_>,
) -> Result<T, Rejected> {
    let msg: T = decode(expected, bytes)?;
    msg.validate(arrival)?;
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
