//! Protocol inference from the first bytes of one direction.
//!
//! ```text
//! request  = len:u32be code:u32be     8 <= len <= 10000, code 3.x / SSL / GSSENC / cancel
//!          | type:u8 len:u32be        a frontend type (Q P B D E S H C X p d c f F), length
//!                                     valid for it and at most 1 MiB (mid-connection start)
//! response = 'N' | 'S'                exactly one byte: the answer to an SSLRequest
//!          | type:u8 len:u32be        a backend type, length valid for it, at most 1 MiB
//! ```

use super::frame::{CANCEL_REQUEST, GSSENC_REQUEST, MAX_STARTUP_LEN, SSL_REQUEST, header_ok};
use super::types::Inference;
use crate::MessageKind;

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(<[u8; 4]>::try_from(b.get(..4)?).ok()?))
}

/// Cheap bounded look at the first bytes of one direction of a connection: do they start
/// PostgreSQL traffic? Looks at no more than 8 bytes and allocates nothing.
///
/// ```
/// use loupe_protocol_parsers::MessageKind::{Request, Response};
/// use loupe_protocol_parsers::pgsql::{infer, Inference};
/// // SSLRequest, then StartupMessage 3.0
/// assert_eq!(infer(b"\x00\x00\x00\x08\x04\xd2\x16\x2f", Request), Inference::Request);
/// assert_eq!(infer(b"\x00\x00\x00\x29\x00\x03\x00\x00user\x00", Request), Inference::Request);
/// assert_eq!(infer(b"Q\x00\x00\x00\x0dSELECT 1\x00", Request), Inference::Request);
/// assert_eq!(infer(b"N", Response), Inference::Response);
/// assert_eq!(infer(b"R\x00\x00\x00\x08\x00\x00\x00\x00", Response), Inference::Response);
/// assert_eq!(infer(b"\x00\x00\x00", Request), Inference::NeedMore);
/// assert_eq!(infer(b"GET / HTTP/1.1\r\n", Request), Inference::NotPgsql);
/// ```
pub fn infer(first_bytes: &[u8], kind: MessageKind) -> Inference {
    let Some(&first) = first_bytes.first() else {
        return Inference::NeedMore;
    };
    let yes = match kind {
        MessageKind::Request => Inference::Request,
        MessageKind::Response => Inference::Response,
    };
    if kind == MessageKind::Response && first_bytes.len() == 1 && matches!(first, b'N' | b'S') {
        return yes;
    }
    if kind == MessageKind::Request && first == 0 {
        if first_bytes.len() < 8 {
            // Every prefix of a length below 10000 starts 0 0.
            let ok = first_bytes.get(1).is_none_or(|&b| b == 0);
            return if ok {
                Inference::NeedMore
            } else {
                Inference::NotPgsql
            };
        }
        let (Some(len), Some(code)) = (be32(first_bytes), first_bytes.get(4..).and_then(be32))
        else {
            return Inference::NeedMore;
        };
        let code_ok = match code {
            SSL_REQUEST | GSSENC_REQUEST => len == 8,
            CANCEL_REQUEST => len == 16,
            c => c >> 16 == 3,
        };
        return if code_ok && (8..=MAX_STARTUP_LEN).contains(&len) {
            yes
        } else {
            Inference::NotPgsql
        };
    }
    let Some(len) = first_bytes.get(1..).and_then(be32) else {
        let typed = match kind {
            MessageKind::Request => super::frame::is_request_type(first),
            MessageKind::Response => super::frame::is_response_type(first),
        };
        // Lengths of plausible messages are below 1 MiB: their first length byte is 0.
        let ok = typed && first_bytes.get(1).is_none_or(|&b| b == 0);
        return if ok {
            Inference::NeedMore
        } else {
            Inference::NotPgsql
        };
    };
    if header_ok(kind, first, len, 1 << 20, true) {
        yes
    } else {
        Inference::NotPgsql
    }
}
