//! Fuzzes `MysqlConnection` with pushes, gaps and closes on both streams.
//!
//! Input format (`seed_corpus.py` writes the captures of `testdata/mysql/` in it):
//! ```text
//! input = config *op
//! config: 1 byte; bit 0 set: tiny limits (64-byte payloads, 8 bytes of SQL, 4 of text,
//!         2 pending, 1 statement, 2 columns); bit 1 set: full capture
//! op    = 0bxxxxxx00 len data   push `len` (1 byte) bytes of `data` on the request stream
//!       | 0bxxxxxx01 len data   the same on the response stream
//!       | 0bxxxxs010 n          gap of n (1 byte) on stream s
//!       | 0bxxxxs110 n          gap of n (8 bytes, little endian) on stream s
//!       | 0bxxxxxx11            close
//! ```
//! `infer` also sees the raw input, on both streams.
//! Besides "no panic", it checks split invariance: the same ops with every run of adjacent
//! pushes on one stream merged into one push must give the same records and counters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::mysql::{MysqlConfig, MysqlConnection, MysqlRecord, MysqlStats};

#[path = "common/stream.rs"]
mod stream;
use stream::{Op, decode, replay};

stream_impl!(MysqlConnection, MysqlRecord);

fn run(cfg: &MysqlConfig, ops: &[Op<'_>], merge: bool) -> (Vec<MysqlRecord>, MysqlStats) {
    let mut conn = MysqlConnection::new(cfg.clone());
    let out = replay(&mut conn, ops, merge);
    let stats = conn.stats().clone();
    assert_eq!(stats.records, out.len() as u64);
    // COM_QUIT, COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA get a record without an answer.
    assert!(stats.records <= stats.responses + stats.requests);
    (out, stats)
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let full_capture = config & 2 != 0;
    let cfg = if config & 1 == 0 {
        MysqlConfig {
            full_capture,
            ..MysqlConfig::default()
        }
    } else {
        MysqlConfig {
            max_payload_len: 64,
            max_sql_len: 8,
            max_text_len: 4,
            max_pending: 2,
            max_statements: 1,
            max_columns: 2,
            full_capture,
        }
    };
    let _ = loupe_protocol_parsers::mysql::infer(rest, MessageKind::Request);
    let _ = loupe_protocol_parsers::mysql::infer(rest, MessageKind::Response);
    let ops = decode(rest);
    let split = run(&cfg, &ops, false);
    let merged = run(&cfg, &ops, true);
    assert_eq!(split, merged, "split pushes differ from merged pushes");
});
