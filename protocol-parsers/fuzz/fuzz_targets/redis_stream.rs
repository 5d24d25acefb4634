//! Fuzzes `RedisConnection` with pushes, gaps and closes on both streams.
//!
//! Input format (`seed_corpus.py` writes the captures of `testdata/redis/` in it):
//! ```text
//! input = config *op
//! config: 1 byte; bit 0 set: tiny limits (depth 3, 4 elements, 16-byte bulks and lines,
//!         2 pending, 1 argument of 2 bytes, 8-byte renderings); bit 1 set: full capture
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
use loupe_protocol_parsers::redis::{RedisConfig, RedisConnection, RedisRecord, RedisStats};

#[path = "common/stream.rs"]
mod stream;
use stream::{Op, decode, replay};

stream_impl!(RedisConnection, RedisRecord);

fn run(cfg: &RedisConfig, ops: &[Op<'_>], merge: bool) -> (Vec<RedisRecord>, RedisStats, u8) {
    let mut conn = RedisConnection::new(cfg.clone());
    let out = replay(&mut conn, ops, merge);
    let stats = conn.stats().clone();
    assert_eq!(stats.records, out.len() as u64);
    assert!(stats.records <= stats.responses);
    assert!(stats.pushes <= stats.records);
    (out, stats, conn.resp_version())
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let full_capture = config & 2 != 0;
    let cfg = if config & 1 == 0 {
        RedisConfig {
            full_capture,
            ..RedisConfig::default()
        }
    } else {
        RedisConfig {
            max_depth: 3,
            max_aggregate_len: 4,
            max_bulk_len: 16,
            max_line_len: 16,
            max_pending: 2,
            max_args: 1,
            max_arg_bytes: 2,
            max_resp_bytes: 8,
            full_capture,
        }
    };
    let ops = decode(rest);
    let split = run(&cfg, &ops, false);
    let merged = run(&cfg, &ops, true);
    assert_eq!(split, merged, "split pushes differ from merged pushes");
});
