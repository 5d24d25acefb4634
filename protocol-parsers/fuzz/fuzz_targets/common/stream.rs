//! The op format and replay loop every `*_stream` target shares (included by
//! each with `#[path]`):
//!
//! ```text
//! op = 0bxxxxxx00 len data   push `len` (1 byte) bytes of `data` on the request stream
//!    | 0bxxxxxx01 len data   the same on the response stream
//!    | 0bxxxxs010 n          gap of n (1 byte) on stream s
//!    | 0bxxxxs110 n          gap of n (8 bytes, little endian) on stream s
//!    | 0bxxxxxx11            close
//! ```

use loupe_protocol_parsers::MessageKind;

#[derive(Debug)]
pub enum Op<'a> {
    Push(MessageKind, &'a [u8]),
    Gap(MessageKind, u64),
    Close,
}

fn kind(bit: u8) -> MessageKind {
    if bit & 1 == 0 {
        MessageKind::Request
    } else {
        MessageKind::Response
    }
}

pub fn decode(mut data: &[u8]) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    while let Some((&o, rest)) = data.split_first() {
        data = rest;
        match o & 3 {
            0 | 1 => {
                let Some((&len, rest)) = data.split_first() else {
                    break;
                };
                let n = usize::from(len).min(rest.len());
                let (bytes, rest) = rest.split_at(n);
                ops.push(Op::Push(kind(o), bytes));
                data = rest;
            }
            2 => {
                let wide = o & 4 != 0;
                let n = if wide { 8 } else { 1 };
                if data.len() < n {
                    break;
                }
                let (len, rest) = data.split_at(n);
                let mut le = [0u8; 8];
                le[..n].copy_from_slice(len);
                ops.push(Op::Gap(kind(o >> 3), u64::from_le_bytes(le)));
                data = rest;
            }
            _ => ops.push(Op::Close),
        }
    }
    ops
}

fn ts(kind: MessageKind) -> u64 {
    match kind {
        MessageKind::Request => 10,
        MessageKind::Response => 20,
    }
}

/// A parser connection of `protocol-parsers` (they share this shape).
pub trait Stream {
    type Record;
    fn push(&mut self, k: MessageKind, ts: u64, data: &[u8], out: &mut Vec<Self::Record>);
    fn push_gap(&mut self, k: MessageKind, ts: u64, len: u64, out: &mut Vec<Self::Record>);
    fn close(&mut self, ts: u64, out: &mut Vec<Self::Record>);
}

/// `Stream` for a connection type whose inherent methods have that shape.
#[macro_export]
macro_rules! stream_impl {
    ($conn:ty, $record:ty) => {
        impl stream::Stream for $conn {
            type Record = $record;
            fn push(&mut self, k: MessageKind, ts: u64, d: &[u8], out: &mut Vec<$record>) {
                <$conn>::push(self, k, ts, d, out)
            }
            fn push_gap(&mut self, k: MessageKind, ts: u64, n: u64, out: &mut Vec<$record>) {
                <$conn>::push_gap(self, k, ts, n, out)
            }
            fn close(&mut self, ts: u64, out: &mut Vec<$record>) {
                <$conn>::close(self, ts, out)
            }
        }
    };
}

/// Plays `ops` on `conn`. With `merge`, every run of adjacent pushes on one
/// stream goes in as one push: split invariance says the records and
/// counters must not change.
pub fn replay<S: Stream>(conn: &mut S, ops: &[Op<'_>], merge: bool) -> Vec<S::Record> {
    let mut out = Vec::new();
    let mut pending: Option<(MessageKind, Vec<u8>)> = None;
    let flush = |conn: &mut S, out: &mut Vec<S::Record>, p: &mut Option<(MessageKind, Vec<u8>)>| {
        if let Some((k, bytes)) = p.take() {
            conn.push(k, ts(k), &bytes, out);
        }
    };
    for op in ops {
        match op {
            Op::Push(k, bytes) if merge => match &mut pending {
                Some((pk, buf)) if pk == k => buf.extend_from_slice(bytes),
                _ => {
                    flush(conn, &mut out, &mut pending);
                    pending = Some((*k, bytes.to_vec()));
                }
            },
            Op::Push(k, bytes) => conn.push(*k, ts(*k), bytes, &mut out),
            Op::Gap(k, len) => {
                flush(conn, &mut out, &mut pending);
                conn.push_gap(*k, ts(*k), *len, &mut out);
            }
            Op::Close => {
                flush(conn, &mut out, &mut pending);
                conn.close(30, &mut out);
            }
        }
    }
    flush(conn, &mut out, &mut pending);
    out
}
