//! Decoding one DNS message (RFC 1035 4.1): header, question section and answer section.
//!
//! ```text
//! message  = header *question *answer *authority *additional
//! header   = ID:16 flags:16 QDCOUNT:16 ANCOUNT:16 NSCOUNT:16 ARCOUNT:16      ; 12 bytes
//! flags    = QR:1 OPCODE:4 AA:1 TC:1 RD:1 RA:1 Z:1 AD:1 CD:1 RCODE:4          ; bit 15 first
//! question = name QTYPE:16 QCLASS:16
//! rr       = name TYPE:16 CLASS:16 TTL:32 RDLENGTH:16 RDATA
//! name     = *label (zero / pointer)
//! label    = len:8 (0b00xxxxxx, 1..=63) len*byte
//! pointer  = 0b11 offset:14                                      ; "a prior occurrence"
//! ```
//!
//! Decoded by hand rather than with a DNS crate, so that a response keeps what could be
//! decoded: the header and question always, answer records up to the first one that is
//! malformed (or cut by TC), RDATA of types this module does not know as opaque bytes
//! (RFC 3597 `\# len hex`). The authority and additional sections are not decoded: only
//! their counts appear, in the header.
//!
//! Names are bounded: at most 255 bytes in wire form once decompressed (RFC 1035 2.3.4),
//! labels of 63 bytes, and at most [`MAX_POINTERS`] compression pointers. Every pointer must
//! point strictly before the start of the run of labels that contains it; the run starts
//! therefore strictly decrease and no pointer loop can exist, whatever the bytes.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::types::{DnsConfig, DnsParseError};
use crate::MessageKind;

/// Most compression pointers followed in one name. Real encoders use one or two.
pub(crate) const MAX_POINTERS: usize = 32;
/// Longest name in wire form (length bytes, labels and the final zero), RFC 1035 2.3.4.
pub(crate) const MAX_NAME_WIRE: usize = 255;
/// Size of the fixed header.
pub(crate) const HEADER_LEN: usize = 12;

/// The fixed 12-byte header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) id: u16,
    pub(crate) flags: u16,
    pub(crate) qdcount: u16,
    pub(crate) ancount: u16,
    pub(crate) nscount: u16,
    pub(crate) arcount: u16,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(be16(b, at)?) << 16 | u32::from(be16(b, at.checked_add(2)?)?))
}

impl Header {
    /// The header at the start of `b`, if 12 bytes are there.
    pub(crate) fn parse(b: &[u8]) -> Option<Self> {
        Some(Self {
            id: be16(b, 0)?,
            flags: be16(b, 2)?,
            qdcount: be16(b, 4)?,
            ancount: be16(b, 6)?,
            nscount: be16(b, 8)?,
            arcount: be16(b, 10)?,
        })
    }

    fn bit(self, pos: u16) -> u16 {
        (self.flags >> pos) & 1
    }

    pub(crate) fn qr(self) -> u16 {
        self.bit(15)
    }
    pub(crate) fn opcode(self) -> u16 {
        (self.flags >> 11) & 0xf
    }
    pub(crate) fn aa(self) -> u16 {
        self.bit(10)
    }
    pub(crate) fn tc(self) -> u16 {
        self.bit(9)
    }
    pub(crate) fn rd(self) -> u16 {
        self.bit(8)
    }
    pub(crate) fn ra(self) -> u16 {
        self.bit(7)
    }
    pub(crate) fn z(self) -> u16 {
        self.bit(6)
    }
    pub(crate) fn ad(self) -> u16 {
        self.bit(5)
    }
    pub(crate) fn cd(self) -> u16 {
        self.bit(4)
    }
    pub(crate) fn rcode(self) -> u16 {
        self.flags & 0xf
    }

    /// Whether this header is a plausible start of a message of direction `kind`, as used by
    /// [`infer`](super::infer) and by the TCP resynchronisation scan. `len` is the message
    /// length when known (the TCP length prefix).
    ///
    /// ```text
    /// QR matches the direction; OPCODE in {QUERY 0, IQUERY 1, STATUS 2, NOTIFY 4, UPDATE 5};
    /// Z = 0; 1 <= QDCOUNT <= 8 (0 allowed in a response with RCODE != 0); RCODE <= 10;
    /// a standard query has ANCOUNT = NSCOUNT = 0;
    /// len >= 12 + 5 * QDCOUNT + 11 * (ANCOUNT + NSCOUNT + ARCOUNT)
    /// ```
    pub(crate) fn plausible(self, kind: MessageKind, len: Option<usize>) -> bool {
        let response = kind == MessageKind::Response;
        let qd_ok = match self.qdcount {
            0 => response && self.rcode() != 0,
            n => n <= 8,
        };
        let query_counts_ok =
            response || self.opcode() != 0 || (self.ancount == 0 && self.nscount == 0);
        let min_len = HEADER_LEN
            + 5 * usize::from(self.qdcount)
            + 11 * (usize::from(self.ancount)
                + usize::from(self.nscount)
                + usize::from(self.arcount));
        (self.qr() == 1) == response
            && matches!(self.opcode(), 0 | 1 | 2 | 4 | 5)
            && self.z() == 0
            && self.rcode() <= 10
            && qd_ok
            && query_counts_ok
            && len.is_none_or(|l| l >= min_len)
    }
}

/// One entry of the question section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Question {
    /// Presentation form, without the final dot ("." for the root).
    pub(crate) name: String,
    pub(crate) qtype: u16,
    pub(crate) qclass: u16,
}

impl Question {
    /// Same question: names compared ASCII-case-insensitively (resolvers randomise the case
    /// of queries, RFC draft "0x20", and servers echo it), type and class exactly.
    pub(crate) fn same(&self, other: &Question) -> bool {
        self.qtype == other.qtype
            && self.qclass == other.qclass
            && self.name.eq_ignore_ascii_case(&other.name)
    }
}

/// How an answer's RDATA is rendered in `resp_body`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RdataKind {
    /// A or AAAA: `"addr"`.
    Addr,
    /// CNAME: `"cname"`.
    Cname,
    /// Anything else: `"data"`.
    Other,
}

/// One decoded record of the answer section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) name: String,
    pub(crate) rtype: u16,
    pub(crate) kind: RdataKind,
    /// RDATA in presentation form.
    pub(crate) data: String,
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) header: Header,
    pub(crate) questions: Vec<Question>,
    /// Empty for queries.
    pub(crate) answers: Vec<Answer>,
    /// Decoding of the answer section stopped at a malformed record.
    pub(crate) answers_malformed: bool,
}

/// Decodes a whole message of direction `kind`.
pub(crate) fn decode(
    msg: &[u8],
    kind: MessageKind,
    cfg: &DnsConfig,
) -> Result<Message, DnsParseError> {
    if msg.len() > cfg.max_message_bytes {
        return Err(DnsParseError::TooLong {
            limit: cfg.max_message_bytes,
        });
    }
    let header = Header::parse(msg).ok_or(DnsParseError::Truncated { offset: msg.len() })?;
    if (header.qr() == 1) != (kind == MessageKind::Response) {
        return Err(DnsParseError::WrongDirection);
    }
    if usize::from(header.qdcount) > cfg.max_questions {
        return Err(DnsParseError::TooManyQuestions {
            limit: cfg.max_questions,
        });
    }
    let mut pos = HEADER_LEN;
    let mut questions = Vec::with_capacity(1);
    for _ in 0..header.qdcount {
        let mut name = String::new();
        pos = read_name(msg, pos, &mut name)?;
        let (Some(qtype), Some(qclass)) = (be16(msg, pos), be16(msg, pos + 2)) else {
            return Err(DnsParseError::Truncated { offset: pos });
        };
        pos += 4;
        questions.push(Question {
            name,
            qtype,
            qclass,
        });
    }
    let mut answers = Vec::new();
    let mut answers_malformed = false;
    if kind == MessageKind::Response {
        let wanted = usize::from(header.ancount).min(cfg.max_answers);
        while answers.len() < wanted {
            match read_rr(msg, pos) {
                Ok((answer, next)) => {
                    answers.push(answer);
                    pos = next;
                }
                // A truncated (TC) response may announce records it does not carry.
                Err(DnsParseError::Truncated { .. }) if header.tc() == 1 => break,
                Err(_) => {
                    answers_malformed = true;
                    break;
                }
            }
        }
    }
    Ok(Message {
        header,
        questions,
        answers,
        answers_malformed,
    })
}

/// Appends one label in presentation form (RFC 1035 5.1): `.`, `\` and `"` escaped with a
/// backslash, bytes outside `!`..`~` as `\DDD`.
fn push_label(out: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' | b'"' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x21..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
}

/// Reads the name at `start` into `out` (cleared first), following compression pointers.
/// Returns the offset just after the name where it is written (after its first pointer, if
/// any).
pub(crate) fn read_name(
    msg: &[u8],
    start: usize,
    out: &mut String,
) -> Result<usize, DnsParseError> {
    out.clear();
    let mut pos = start;
    let mut run_start = start;
    let mut after: Option<usize> = None;
    let mut wire_len = 1usize; // the final zero byte
    let mut pointers = 0usize;
    loop {
        let len = *msg
            .get(pos)
            .ok_or(DnsParseError::Truncated { offset: pos })?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                if out.is_empty() {
                    out.push('.');
                }
                return Ok(after.unwrap_or(pos + 1));
            }
            0x00 => {
                let l = usize::from(len);
                wire_len += 1 + l;
                if wire_len > MAX_NAME_WIRE {
                    return Err(DnsParseError::NameTooLong { offset: start });
                }
                let label = msg
                    .get(pos + 1..pos + 1 + l)
                    .ok_or(DnsParseError::Truncated { offset: pos })?;
                if !out.is_empty() {
                    out.push('.');
                }
                push_label(out, label);
                pos += 1 + l;
            }
            0xc0 => {
                let low = *msg
                    .get(pos + 1)
                    .ok_or(DnsParseError::Truncated { offset: pos })?;
                let target = usize::from(len & 0x3f) << 8 | usize::from(low);
                if target >= run_start {
                    return Err(DnsParseError::PointerNotBackward { offset: pos });
                }
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(DnsParseError::TooManyPointers {
                        limit: MAX_POINTERS,
                    });
                }
                after.get_or_insert(pos + 2);
                pos = target;
                run_start = target;
            }
            _ => return Err(DnsParseError::LabelType { offset: pos }),
        }
    }
}

/// Reads one resource record at `pos`; returns it and the offset after it.
fn read_rr(msg: &[u8], pos: usize) -> Result<(Answer, usize), DnsParseError> {
    let mut name = String::new();
    let at = read_name(msg, pos, &mut name)?;
    let truncated = DnsParseError::Truncated { offset: at };
    let rtype = be16(msg, at).ok_or(truncated)?;
    let rdlen = usize::from(be16(msg, at + 8).ok_or(truncated)?);
    let start = at + 10;
    let end = start + rdlen;
    if msg.len() < end {
        return Err(DnsParseError::Truncated { offset: start });
    }
    let (kind, data) = render_rdata(msg, rtype, start, end);
    Ok((
        Answer {
            name,
            rtype,
            kind,
            data,
        },
        end,
    ))
}

/// RDATA of `msg[start..end]` in presentation form. RDATA that does not fit its type is
/// rendered as opaque bytes.
fn render_rdata(msg: &[u8], rtype: u16, start: usize, end: usize) -> (RdataKind, String) {
    let rdata = msg.get(start..end).unwrap_or_default();
    let mut s = String::new();
    let known = match rtype {
        1 => <[u8; 4]>::try_from(rdata)
            .map(|a| {
                let _ = write!(s, "{}", Ipv4Addr::from(a));
            })
            .is_ok(),
        28 => <[u8; 16]>::try_from(rdata)
            .map(|a| {
                let _ = write!(s, "{}", Ipv6Addr::from(a));
            })
            .is_ok(),
        // NS, CNAME, PTR: one name.
        2 | 5 | 12 => name_in(msg, start, end, &mut s) == Some(end),
        // MX: preference, exchange.
        15 => be16(rdata, 0).is_some_and(|pref| {
            let mut name = String::new();
            let ok = name_in(msg, start + 2, end, &mut name) == Some(end);
            let _ = write!(s, "{pref} {name}");
            ok
        }),
        // SRV: priority, weight, port, target (RFC 2782).
        33 => match (be16(rdata, 0), be16(rdata, 2), be16(rdata, 4)) {
            (Some(prio), Some(weight), Some(port)) => {
                let mut name = String::new();
                let ok = name_in(msg, start + 6, end, &mut name) == Some(end);
                let _ = write!(s, "{prio} {weight} {port} {name}");
                ok
            }
            _ => false,
        },
        // SOA: mname, rname, serial, refresh, retry, expire, minimum.
        6 => {
            let (mut mname, mut rname) = (String::new(), String::new());
            name_in(msg, start, end, &mut mname)
                .and_then(|p| name_in(msg, p, end, &mut rname))
                .filter(|&p| p + 20 == end)
                .and_then(|p| {
                    let n: Vec<u32> = (0..5).filter_map(|i| be32(msg, p + 4 * i)).collect();
                    let [serial, refresh, retry, expire, minimum] = n.as_slice() else {
                        return None;
                    };
                    let _ = write!(
                        s,
                        "{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
                    );
                    Some(())
                })
                .is_some()
        }
        // TXT: one or more character-strings, each quoted.
        16 => render_txt(rdata, &mut s),
        _ => false,
    };
    if !known {
        s.clear();
        let _ = write!(s, "\\# {}", rdata.len());
        if !rdata.is_empty() {
            s.push(' ');
            for b in rdata {
                let _ = write!(s, "{b:02x}");
            }
        }
    }
    let kind = match (rtype, known) {
        (1 | 28, true) => RdataKind::Addr,
        (5, true) => RdataKind::Cname,
        _ => RdataKind::Other,
    };
    (kind, s)
}

/// A name inside RDATA that ends at or before `end` (its pointers may go anywhere earlier
/// in the message). Returns the offset after it.
fn name_in(msg: &[u8], start: usize, end: usize, out: &mut String) -> Option<usize> {
    let in_rdata = msg.get(..end)?;
    read_name(in_rdata, start, out).ok()
}

fn render_txt(mut rdata: &[u8], s: &mut String) -> bool {
    if rdata.is_empty() {
        return false;
    }
    while let Some((&len, rest)) = rdata.split_first() {
        let Some(text) = rest.get(..usize::from(len)) else {
            return false;
        };
        if !s.is_empty() {
            s.push(' ');
        }
        s.push('"');
        for &b in text {
            match b {
                b'"' | b'\\' => {
                    s.push('\\');
                    s.push(char::from(b));
                }
                0x20..=0x7e => s.push(char::from(b)),
                _ => {
                    let _ = write!(s, "\\{b:03}");
                }
            }
        }
        s.push('"');
        rdata = rest.get(usize::from(len)..).unwrap_or_default();
    }
    true
}

/// Mnemonic of a TYPE / QTYPE value (RFC 1035, 3596, 2782, ...); `TYPE<n>` (RFC 3597) for
/// the others.
pub(crate) fn type_name(t: u16) -> std::borrow::Cow<'static, str> {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return format!("TYPE{t}").into(),
    };
    name.into()
}
