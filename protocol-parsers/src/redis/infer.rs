//! Recognising where Redis traffic may start: [`infer`] on a stream's first bytes, and the
//! resynchronisation candidates of the decoder (`decode.rs`).
//!
//! ```text
//! request  = "*" 1*7DIGIT CRLF "$"                       ; a command array
//!          / inline-command (SP / CR / LF)               ; a known name, any case
//! response = ("+" / "-" UPPER) *PRINTABLE CRLF           ; status, error
//!          / (":" / "(") ["-"] 1*20DIGIT CRLF            ; integer, big number
//!          / "," 1*(DIGIT / "+-.eEinfa") CRLF             ; double
//!          / "#" ("t" / "f") CRLF / "_" CRLF             ; boolean, null
//!          / ("$" / "=" / "!") (1*10DIGIT / "-1" / "?") CRLF
//!          / ("*" / "%" / "~" / ">" / "|") (1*10DIGIT / "-1" / "?") CRLF [type-byte]
//! ```
//! At most [`MAX_START_PATTERN`] bytes are looked at. A long status line of printable bytes
//! with no CR LF within the window is accepted.

use super::decode::is_type;
use super::types::Inference;
use crate::MessageKind;

/// Bytes looked at by [`infer`].
pub(crate) const MAX_START_PATTERN: usize = 32;

/// Inline command names recognised by [`infer`]. HTTP method names (`GET`, `DELETE`, ...) are
/// left out so that HTTP requests are not taken for inline Redis commands.
const INLINE_COMMANDS: &[&[u8]] = &[
    b"PING",
    b"ECHO",
    b"INFO",
    b"HELLO",
    b"AUTH",
    b"SELECT",
    b"QUIT",
    b"MONITOR",
    b"DBSIZE",
    b"KEYS",
    b"EXISTS",
    b"SET",
    b"SETEX",
    b"INCR",
    b"DECR",
    b"DEL",
    b"MGET",
    b"MSET",
    b"LPUSH",
    b"RPUSH",
    b"LRANGE",
    b"HGET",
    b"HSET",
    b"HGETALL",
    b"SADD",
    b"SMEMBERS",
    b"EXPIRE",
    b"TTL",
    b"TYPE",
    b"FLUSHALL",
    b"FLUSHDB",
    b"CLIENT",
    b"CONFIG",
    b"COMMAND",
    b"PUBLISH",
    b"MULTI",
    b"EXEC",
];

/// Whether a byte right after a LF (or a gap) may start a frame when resynchronising.
pub(crate) fn resync_start(kind: MessageKind, b: u8) -> bool {
    match kind {
        MessageKind::Request => b == b'*',
        MessageKind::Response => is_type(b),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Miss {
    No,
    NeedMore,
}

struct Cursor<'a> {
    d: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Result<u8, Miss> {
        self.d.get(self.i).copied().ok_or(Miss::NeedMore)
    }

    fn byte(&mut self) -> Result<u8, Miss> {
        let b = self.peek()?;
        self.i += 1;
        Ok(b)
    }

    fn expect(&mut self, want: u8) -> Result<(), Miss> {
        if self.byte()? == want {
            Ok(())
        } else {
            Err(Miss::No)
        }
    }

    fn crlf(&mut self) -> Result<(), Miss> {
        self.expect(b'\r')?;
        self.expect(b'\n')
    }

    /// 1..=max digits; returns their value (saturating).
    fn digits(&mut self, max: usize) -> Result<u64, Miss> {
        let mut n = 0u64;
        let mut count = 0;
        while self.peek()?.is_ascii_digit() {
            n = n
                .saturating_mul(10)
                .saturating_add(u64::from(self.byte()? - b'0'));
            count += 1;
            if count > max {
                return Err(Miss::No);
            }
        }
        if count == 0 { Err(Miss::No) } else { Ok(n) }
    }

    /// Printable bytes up to CR LF; a window full of printable bytes is accepted.
    fn text_line(&mut self) -> Result<(), Miss> {
        loop {
            match self.peek() {
                Ok(b'\r') => return self.crlf(),
                Ok(b) if (0x20..0x7f).contains(&b) => self.i += 1,
                Ok(_) => return Err(Miss::No),
                Err(_) if self.d.len() >= MAX_START_PATTERN => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// A length: digits, `-1` (if `null`) or `?` (if `streamed`). Returns `Some(n)` for
    /// digits, `None` for `-1` / `?`.
    fn length(&mut self, null: bool, streamed: bool) -> Result<Option<u64>, Miss> {
        match self.peek()? {
            b'-' if null => {
                self.i += 1;
                self.expect(b'1')?;
                self.crlf()?;
                Ok(None)
            }
            b'?' if streamed => {
                self.i += 1;
                self.crlf()?;
                Ok(None)
            }
            _ => {
                let n = self.digits(10)?;
                self.crlf()?;
                Ok(Some(n))
            }
        }
    }
}

fn request_start(d: &[u8]) -> Result<(), Miss> {
    let mut c = Cursor { d, i: 0 };
    match c.peek()? {
        b'*' => {
            c.i += 1;
            if c.peek()? == b'0' {
                return Err(Miss::No);
            }
            c.digits(7)?;
            c.crlf()?;
            c.expect(b'$')
        }
        b if b.is_ascii_alphabetic() => {
            let word_len = d
                .iter()
                .position(|b| !b.is_ascii_alphabetic())
                .unwrap_or(d.len());
            let word = d.get(..word_len).unwrap_or_default();
            if word_len == d.len() {
                // The word may go on.
                let prefix = INLINE_COMMANDS.iter().any(|cmd| {
                    cmd.len() >= word.len()
                        && cmd
                            .get(..word.len())
                            .is_some_and(|p| p.eq_ignore_ascii_case(word))
                });
                return Err(if prefix { Miss::NeedMore } else { Miss::No });
            }
            let known = INLINE_COMMANDS
                .iter()
                .any(|cmd| cmd.eq_ignore_ascii_case(word));
            let end = d.get(word_len).copied();
            if known && matches!(end, Some(b' ' | b'\r' | b'\n')) {
                Ok(())
            } else {
                Err(Miss::No)
            }
        }
        _ => Err(Miss::No),
    }
}

fn response_start(d: &[u8]) -> Result<(), Miss> {
    let mut c = Cursor { d, i: 0 };
    let ty = c.byte()?;
    match ty {
        b'+' => c.text_line(),
        b'-' => {
            if !c.peek()?.is_ascii_uppercase() {
                return Err(Miss::No);
            }
            c.text_line()
        }
        b':' | b'(' => {
            if c.peek()? == b'-' {
                c.i += 1;
            }
            c.digits(40)?;
            c.crlf()
        }
        b',' => {
            let mut n = 0;
            while matches!(
                c.peek()?,
                b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E' | b'i' | b'n' | b'f' | b'a'
            ) {
                c.i += 1;
                n += 1;
            }
            if n == 0 {
                return Err(Miss::No);
            }
            c.crlf()
        }
        b'#' => {
            if !matches!(c.byte()?, b't' | b'f') {
                return Err(Miss::No);
            }
            c.crlf()
        }
        b'_' => c.crlf(),
        b'$' | b'=' | b'!' => c.length(ty == b'$', ty == b'$').map(|_| ()),
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let n = c.length(ty == b'*', matches!(ty, b'*' | b'%' | b'~'))?;
            let null = n.is_none() && d.get(1) == Some(&b'-');
            if n == Some(0) || null {
                return Ok(());
            }
            let b = c.byte()?;
            if is_type(b) || (n.is_none() && b == b'.') {
                Ok(())
            } else {
                Err(Miss::No)
            }
        }
        _ => Err(Miss::No),
    }
}

/// Cheap bounded look at the first bytes of one direction of a connection: do they start
/// Redis traffic? Looks at no more than 32 bytes and allocates nothing.
///
/// ```
/// use loupe_protocol_parsers::MessageKind::{Request, Response};
/// use loupe_protocol_parsers::redis::{infer, Inference};
/// assert_eq!(infer(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", Request), Inference::Request);
/// assert_eq!(infer(b"PING\r\n", Request), Inference::Request);
/// assert_eq!(infer(b"+OK\r\n", Response), Inference::Response);
/// assert_eq!(infer(b"$5\r\nhello\r\n", Response), Inference::Response);
/// assert_eq!(infer(b"*2\r\n", Request), Inference::NeedMore);
/// assert_eq!(infer(b"GET / HTTP/1.1\r\n", Request), Inference::NotRedis);
/// ```
pub fn infer(first_bytes: &[u8], kind: MessageKind) -> Inference {
    let d = first_bytes.get(..MAX_START_PATTERN).unwrap_or(first_bytes);
    let (r, yes) = match kind {
        MessageKind::Request => (request_start(d), Inference::Request),
        MessageKind::Response => (response_start(d), Inference::Response),
    };
    match r {
        Ok(()) => yes,
        Err(Miss::NeedMore) => Inference::NeedMore,
        Err(Miss::No) => Inference::NotRedis,
    }
}
