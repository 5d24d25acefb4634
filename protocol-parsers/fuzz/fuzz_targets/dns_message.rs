//! Fuzzes `DnsConnection` with UDP datagrams, TCP pushes, gaps, expiry and closes.
//!
//! Input format (`seed_corpus.py` writes the captures of `testdata/dns/` in it):
//! ```text
//! input = config *op
//! config: 1 byte; bit 0 set: tiny limits (1 question, 2 answers, 2 pending, 64-byte messages)
//! op    = 0bxxxxxs00 len data   TCP push of `len` (1 byte) bytes of `data` on stream s
//!       | 0bxxxxxs01 hi lo data UDP datagram of `hi lo` (2 bytes, big endian) bytes on stream s
//!       | 0bxxxxs010 n          TCP gap of n (1 byte) on stream s
//!       | 0bxxxxx110 n          advance the clock by n (1 byte) * 100 ms, then expire
//!       | 0bxxxxxx11            close
//! ```
//! Besides "no panic", it checks counter consistency and split invariance: the same ops with
//! every run of adjacent TCP pushes on one stream merged into one push must give the same
//! records and counters. The raw input is also decoded as one datagram of each direction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::dns::{
    DnsConfig, DnsConnection, DnsRecord, DnsStats, Transport, infer,
};

#[derive(Debug)]
enum Op<'a> {
    Push(MessageKind, &'a [u8]),
    Datagram(MessageKind, &'a [u8]),
    Gap(MessageKind, u64),
    Tick(u64),
    Close,
}

fn kind(bit: u8) -> MessageKind {
    if bit & 1 == 0 {
        MessageKind::Request
    } else {
        MessageKind::Response
    }
}

fn decode(mut data: &[u8]) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    while let Some((&o, rest)) = data.split_first() {
        data = rest;
        match o & 3 {
            0 => {
                let Some((&len, rest)) = data.split_first() else {
                    break;
                };
                let n = usize::from(len).min(rest.len());
                let (bytes, rest) = rest.split_at(n);
                ops.push(Op::Push(kind(o >> 2), bytes));
                data = rest;
            }
            1 => {
                let [hi, lo, rest @ ..] = data else {
                    break;
                };
                let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
                let (bytes, rest) = rest.split_at(n);
                ops.push(Op::Datagram(kind(o >> 2), bytes));
                data = rest;
            }
            2 => {
                let Some((&n, rest)) = data.split_first() else {
                    break;
                };
                data = rest;
                if o & 4 == 0 {
                    ops.push(Op::Gap(kind(o >> 3), u64::from(n)));
                } else {
                    ops.push(Op::Tick(u64::from(n) * 100_000_000));
                }
            }
            _ => ops.push(Op::Close),
        }
    }
    ops
}

fn run(cfg: &DnsConfig, ops: &[Op<'_>], merge: bool) -> (Vec<DnsRecord>, DnsStats) {
    let mut conn = DnsConnection::new(cfg.clone());
    let mut out = Vec::new();
    let mut now = 1u64;
    let mut pending: Option<(MessageKind, Vec<u8>)> = None;
    let flush = |conn: &mut DnsConnection,
                 out: &mut Vec<DnsRecord>,
                 p: &mut Option<(MessageKind, Vec<u8>)>,
                 now: u64| {
        if let Some((k, bytes)) = p.take() {
            conn.push(k, now, &bytes, out);
        }
    };
    for op in ops {
        match op {
            Op::Push(k, bytes) if merge => match &mut pending {
                Some((pk, buf)) if pk == k => buf.extend_from_slice(bytes),
                _ => {
                    flush(&mut conn, &mut out, &mut pending, now);
                    pending = Some((*k, bytes.to_vec()));
                }
            },
            Op::Push(k, bytes) => conn.push(*k, now, bytes, &mut out),
            Op::Datagram(k, bytes) => {
                flush(&mut conn, &mut out, &mut pending, now);
                conn.push_datagram(*k, now, bytes, &mut out);
            }
            Op::Gap(k, len) => {
                flush(&mut conn, &mut out, &mut pending, now);
                conn.push_gap(*k, now, *len, &mut out);
            }
            Op::Tick(d) => {
                flush(&mut conn, &mut out, &mut pending, now);
                now += d;
                conn.expire(now, &mut out);
            }
            Op::Close => {
                flush(&mut conn, &mut out, &mut pending, now);
                conn.close(now, &mut out);
            }
        }
    }
    flush(&mut conn, &mut out, &mut pending, now);
    conn.close(now, &mut out);
    let stats = conn.stats().clone();
    assert_eq!(stats.records, out.len() as u64);
    assert_eq!(
        stats.records, stats.queries,
        "every query is a row after close"
    );
    assert!(stats.records - stats.timeouts <= stats.responses);
    (out, stats)
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let cfg = if config & 1 == 0 {
        DnsConfig::default()
    } else {
        DnsConfig {
            max_message_bytes: 64,
            max_questions: 1,
            max_answers: 2,
            max_pending: 2,
            timeout_ns: 500_000_000,
        }
    };
    for k in [MessageKind::Request, MessageKind::Response] {
        for t in [Transport::Udp, Transport::Tcp] {
            let _ = infer(rest, k, t);
        }
        let mut conn = DnsConnection::new(cfg.clone());
        let mut out = Vec::new();
        conn.push_datagram(k, 1, rest, &mut out);
    }
    let ops = decode(rest);
    let split = run(&cfg, &ops, false);
    let merged = run(&cfg, &ops, true);
    assert_eq!(split, merged, "split pushes differ from merged pushes");
});
