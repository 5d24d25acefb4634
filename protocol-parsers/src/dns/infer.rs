//! [`infer`]: a cheap, bounded look at the first bytes of a stream or datagram. The same
//! header test ([`Header::plausible`], documented there) drives the TCP resynchronisation
//! scan in `frame.rs`, so a stream that `infer` accepts is one the framer can lock on to.
//!
//! ```text
//! udp: header                  ; the first 12 bytes of the datagram
//! tcp: length:16 header        ; 12 <= length <= 65535, the first 14 bytes of the stream
//! ```

use super::message::{HEADER_LEN, Header};
use super::types::{Inference, Transport};
use crate::MessageKind;

/// Does `first_bytes` start a DNS message of direction `kind`? Looks at 12 bytes (UDP) or
/// 14 bytes (TCP) at most and allocates nothing.
///
/// A query header on the response direction (or the reverse) is [`Inference::NotDns`]: the
/// direction is known to the caller, and DNS has no other way to tell a query from a
/// response than the QR bit.
///
/// ```
/// use loupe_protocol_parsers::MessageKind;
/// use loupe_protocol_parsers::dns::{infer, Inference, Transport};
/// let q = [0xab, 0xcd, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1];
/// assert_eq!(infer(&q, MessageKind::Request, Transport::Udp), Inference::Request);
/// assert_eq!(infer(&q, MessageKind::Response, Transport::Udp), Inference::NotDns);
/// assert_eq!(infer(&q[..5], MessageKind::Request, Transport::Udp), Inference::NeedMore);
/// assert_eq!(infer(b"GET / HTTP/1.1\r\n", MessageKind::Request, Transport::Tcp), Inference::NotDns);
/// ```
pub fn infer(first_bytes: &[u8], kind: MessageKind, transport: Transport) -> Inference {
    let (header, len) = match transport {
        Transport::Udp => (first_bytes, None),
        Transport::Tcp => {
            let [hi, lo, rest @ ..] = first_bytes else {
                return Inference::NeedMore;
            };
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            if len < HEADER_LEN {
                return Inference::NotDns;
            }
            (rest, Some(len))
        }
    };
    let Some(h) = Header::parse(header) else {
        return Inference::NeedMore;
    };
    match (h.plausible(kind, len), kind) {
        (false, _) => Inference::NotDns,
        (true, MessageKind::Request) => Inference::Request,
        (true, MessageKind::Response) => Inference::Response,
    }
}
