//! Properties: splitting bytes differently across pushes never changes records or counters,
//! and no input panics.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;
use crate::resplit::{resplit, split_at};

fn outcome(events: &[Event], cfg: &MysqlConfig) -> (Vec<MysqlRecord>, MysqlStats) {
    let mut out = Vec::new();
    let stats = capture::replay(events, cfg.clone(), &mut out);
    (out, stats)
}

fn full() -> MysqlConfig {
    MysqlConfig {
        full_capture: true,
        ..MysqlConfig::default()
    }
}

#[test]
fn captures_byte_by_byte_equal_chunk_by_chunk() {
    for name in case_names() {
        let events = load_case(&name);
        let bytes: Vec<Event> = events
            .iter()
            .flat_map(|e| match e {
                Event::Data { kind, ts, bytes } => bytes
                    .iter()
                    .map(|&b| Event::Data {
                        kind: *kind,
                        ts: *ts,
                        bytes: vec![b],
                    })
                    .collect(),
                Event::Close { .. } => vec![e.clone()],
            })
            .collect();
        for cfg in [MysqlConfig::default(), full()] {
            assert_eq!(outcome(&events, &cfg), outcome(&bytes, &cfg), "{name}");
        }
    }
}

/// The same stream pushed as one piece per direction run gives the same as chunk by chunk.
#[test]
fn captures_merged_runs_equal_chunks() {
    for name in case_names() {
        let events = load_case(&name);
        let mut merged: Vec<Event> = Vec::new();
        for e in &events {
            match (merged.last_mut(), e) {
                (
                    Some(Event::Data {
                        kind: lk,
                        bytes: lb,
                        ..
                    }),
                    Event::Data { kind, bytes, .. },
                ) if lk == kind => lb.extend_from_slice(bytes),
                _ => merged.push(e.clone()),
            }
        }
        let (a, sa) = outcome(&events, &MysqlConfig::default());
        let (b, sb) = outcome(&merged, &MysqlConfig::default());
        assert_eq!(sa, sb, "{name}");
        let strip = |v: &[MysqlRecord]| -> Vec<(i64, String, String, u64)> {
            v.iter()
                .map(|r| (r.req_cmd, r.req_body.clone(), r.resp_body.clone(), r.rows))
                .collect()
        };
        assert_eq!(strip(&a), strip(&b), "{name}");
    }
}

/// Every capture replays without errors or losses, and pairs everything.
#[test]
fn captures_parse_cleanly() {
    for name in case_names() {
        for cfg in [MysqlConfig::default(), full()] {
            let (records, s) = outcome(&load_case(&name), &cfg);
            assert_eq!(
                s.parse_errors + s.resyncs + s.messages_lost_to_gaps + s.incomplete_at_close,
                0,
                "{name}"
            );
            assert_eq!(s.unmatched_responses + s.unanswered_requests, 0, "{name}");
            assert_eq!(s.unknown_statements, 0, "{name}");
            assert_eq!(s.records, records.len() as u64);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn captures_split_anywhere(case in any::<Index>(), cuts in prop::collection::vec(prop::collection::vec(any::<Index>(), 0..8), 0..300)) {
        let names = case_names();
        let name = case.get(&names);
        let events = load_case(name);
        let resplit = resplit(&events, &cuts);
        for cfg in [MysqlConfig::default(), full()] {
            prop_assert_eq!(outcome(&events, &cfg), outcome(&resplit, &cfg), "{}", name);
        }
    }

    /// Arbitrary bytes, gaps and closes on both streams, with tiny limits: no panic, and the
    /// counters stay consistent.
    #[test]
    fn arbitrary_input_never_panics(ops in prop::collection::vec((0u8..4, prop::collection::vec(prop_oneof![
            Just(0u8), Just(1), Just(2), Just(3), Just(5), Just(0x0a), Just(0x16), Just(0x17),
            Just(0x19), Just(0xfe), Just(0xff), Just(0xfb), Just(0xfc), any::<u8>()], 0..40)), 0..40),
        tiny in any::<bool>()) {
        let cfg = if tiny {
            MysqlConfig { max_payload_len: 12, max_sql_len: 3, max_text_len: 2, max_pending: 2,
                          max_statements: 1, max_columns: 2, full_capture: true }
        } else {
            MysqlConfig::default()
        };
        let mut r = Run::with(cfg);
        for (i, (op, bytes)) in ops.iter().enumerate() {
            let ts = i as u64;
            match op {
                0 => { r.req(ts, bytes); }
                1 => { r.resp(ts, bytes); }
                2 => { r.gap(if bytes.len() % 2 == 0 { Q } else { R }, ts, bytes.len() as u64); }
                _ => { r.close(ts); }
            }
        }
        let s = r.stats();
        prop_assert_eq!(s.records, r.out.len() as u64);
        prop_assert!(s.records <= s.responses + s.requests);
    }

    /// Generated prepare/execute sequences: every execute carries its statement's SQL and
    /// rows, whatever the split, and no parameter is kept.
    #[test]
    fn generated_statements_pair(n in 1usize..20, deprecate in any::<bool>(),
                                 cuts in prop::collection::vec(any::<Index>(), 0..20)) {
        let caps = if deprecate { CAPS_DEPRECATE_EOF } else { CAPS };
        let mut r = Run::new();
        r.resp(0, &greeting(caps));
        r.req(0, &handshake_response(caps, b"pw"));
        r.resp(0, &ok(2, 0, 2));
        for i in 0..n {
            let id = i as u32 + 1;
            let q = com(0x16, format!("SELECT a FROM t{i} WHERE a = {i} AND b = ?").as_bytes());
            for piece in split_at(&q, &cuts) { r.req(1, piece); }
            let mut a = Vec::new();
            let mut b = vec![0x00];
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&[0, 0, 0]);
            a.extend(pkt(1, &b));
            a.extend(coldef(2));
            let mut seq = 3;
            if !deprecate { a.extend(eof(seq, 2)); seq += 1; }
            a.extend(coldef(seq));
            if !deprecate { a.extend(eof(seq + 1, 2)); }
            for piece in split_at(&a, &cuts) { r.resp(2, piece); }
            let mut e = vec![0x17];
            e.extend_from_slice(&id.to_le_bytes());
            e.extend_from_slice(b"\x00\x01\x00\x00\x00\x01\xfe\x00\x0aPARAMVALUE");
            for piece in split_at(&pkt(0, &e), &cuts) { r.req(3, piece); }
            let mut a = pkt(1, &[1]);
            a.extend(coldef(2));
            let mut seq = 3;
            if !deprecate { a.extend(eof(seq, 2)); seq += 1; }
            for _ in 0..i { a.extend(pkt(seq, b"\x00\x00\x01\x02")); seq += 1; }
            a.extend(if deprecate { ok_eof(seq, 2) } else { eof(seq, 2) });
            for piece in split_at(&a, &cuts) { r.resp(4, piece); }
        }
        let execs: Vec<&MysqlRecord> = r.out.iter().filter(|x| x.req_cmd == 0x17).collect();
        prop_assert_eq!(execs.len(), n);
        for (i, rec) in execs.iter().enumerate() {
            prop_assert_eq!(&rec.req_body, &format!("SELECT a FROM t{i} WHERE a = ? AND b = ?"));
            prop_assert_eq!(rec.rows, i as u64);
            let shown = format!("{:?}", rec);
            prop_assert!(!shown.contains("PARAMVALUE"), "parameter kept");
        }
        prop_assert_eq!(r.out.len(), 2 * n);
    }
}
