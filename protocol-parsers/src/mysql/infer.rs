//! Protocol inference from the first bytes of one direction.
//!
//! ```text
//! request  = len:u24le 0x01 caps:u32le ...   HandshakeResponse41 / SSLRequest: sequence id 1,
//!                                            32 <= len <= 4096, CLIENT_PROTOCOL_41 set
//!          | len:u24le 0x00 com:u8 ...       a command (mid-connection start): a known COM_
//!                                            byte, a length that fits it, at most 1 MiB
//! response = len:u24le 0x00 0x0a digit ...   HandshakeV10 greeting, len <= 1024
//!          | len:u24le 0x00 0xff ...         the server refusing a connection, len <= 1024
//!          | len:u24le 0x01 first ...        the first packet of an answer (OK, ERR, EOF, a
//!                                            column count), as `frame::plausible`
//! ```

use super::frame::plausible;
use super::types::Inference;
use crate::MessageKind;

/// Cheap bounded look at the first bytes of one direction of a connection: do they start
/// MySQL traffic? Looks at no more than 9 bytes and allocates nothing.
///
/// ```
/// use loupe_protocol_parsers::MessageKind::{Request, Response};
/// use loupe_protocol_parsers::mysql::{infer, Inference};
/// // COM_QUERY "SELECT 1", and a greeting of MariaDB 10.11
/// assert_eq!(infer(b"\x09\x00\x00\x00\x03SELECT 1", Request), Inference::Request);
/// assert_eq!(infer(b"\x58\x00\x00\x00\x0a5.5.5-10.11", Response), Inference::Response);
/// // OK packet answering a command
/// assert_eq!(infer(b"\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00", Response), Inference::Response);
/// assert_eq!(infer(b"\x09\x00\x00", Request), Inference::NeedMore);
/// assert_eq!(infer(b"GET / HTTP/1.1\r\n", Request), Inference::NotMysql);
/// ```
pub fn infer(first_bytes: &[u8], kind: MessageKind) -> Inference {
    let b = first_bytes;
    // Every accepted length is below 1 MiB: its top byte is at most 0x10.
    if b.get(2).is_some_and(|&h| h > 0x10) {
        return Inference::NotMysql;
    }
    let (Some(l0), Some(l1), Some(l2), Some(&seq)) = (b.first(), b.get(1), b.get(2), b.get(3))
    else {
        return Inference::NeedMore;
    };
    let len = u32::from_le_bytes([*l0, *l1, *l2, 0]);
    let yes = match kind {
        MessageKind::Request => Inference::Request,
        MessageKind::Response => Inference::Response,
    };
    let ok = match (kind, seq) {
        (MessageKind::Request, 1) => {
            let Some(&caps_hi) = b.get(5) else {
                return Inference::NeedMore;
            };
            (32..=4096).contains(&len) && caps_hi & 0x02 != 0
        }
        (MessageKind::Response, 0) => {
            let Some(&first) = b.get(4) else {
                return Inference::NeedMore;
            };
            match first {
                0x0a => {
                    let Some(&digit) = b.get(5) else {
                        return Inference::NeedMore;
                    };
                    len <= 1024 && digit.is_ascii_digit()
                }
                0xff => (9..=1024).contains(&len),
                _ => false,
            }
        }
        (_, 0 | 1) => {
            let Some(&first) = b.get(4) else {
                return Inference::NeedMore;
            };
            plausible(kind, len, seq, first)
        }
        _ => false,
    };
    if ok { yes } else { Inference::NotMysql }
}
