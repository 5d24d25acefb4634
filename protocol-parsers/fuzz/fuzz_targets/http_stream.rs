//! Fuzzes `HttpConnection` with pushes, gaps and closes on both streams.
//!
//! Input format (`seed_corpus.py` writes the captures of `testdata/http/` in it):
//! ```text
//! input = config *op
//! config: 1 byte; bit 0 set: tiny limits (2 headers, 40-byte heads, 2 pending, 1 prefix byte)
//! op    = 0bxxxxxx00 len data   push `len` (1 byte) bytes of `data` on the request stream
//!       | 0bxxxxxx01 len data   the same on the response stream
//!       | 0bxxxxs010 n          gap of n (1 byte) on stream s
//!       | 0bxxxxs110 n          gap of n (8 bytes, little endian) on stream s
//!       | 0bxxxxxx11            close
//! ```
//! Besides "no panic", it checks split invariance: the same ops with every run of adjacent
//! pushes on one stream merged into one push must give the same records and counters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::http::{HttpConfig, HttpConnection, HttpRecord, HttpStats};

#[path = "common/stream.rs"]
mod stream;
use stream::{Op, decode, replay};

stream_impl!(HttpConnection, HttpRecord);

fn run(cfg: &HttpConfig, ops: &[Op<'_>], merge: bool) -> (Vec<HttpRecord>, HttpStats, bool) {
    let mut conn = HttpConnection::new(cfg.clone());
    let out = replay(&mut conn, ops, merge);
    let stats = conn.stats().clone();
    assert_eq!(stats.records, out.len() as u64);
    assert!(stats.records <= stats.responses);
    (out, stats, conn.is_upgraded())
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let cfg = if config & 1 == 0 {
        HttpConfig {
            keep_body_prefix: 8,
            ..HttpConfig::default()
        }
    } else {
        HttpConfig {
            max_headers: 2,
            max_header_bytes: 40,
            max_pending: 2,
            keep_body_prefix: 1,
        }
    };
    let ops = decode(rest);
    let split = run(&cfg, &ops, false);
    let merged = run(&cfg, &ops, true);
    assert_eq!(split, merged, "split pushes differ from merged pushes");
});
