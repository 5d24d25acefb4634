//! Properties: splitting bytes differently across pushes never changes records or counters,
//! and no input panics.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;
use crate::resplit::{resplit, split_at};

fn outcome(events: &[Event], cfg: &PgsqlConfig) -> (Vec<PgsqlRecord>, PgsqlStats) {
    let mut out = Vec::new();
    let stats = capture::replay(events, cfg.clone(), &mut out);
    (out, stats)
}

fn full() -> PgsqlConfig {
    PgsqlConfig {
        full_capture: true,
        ..PgsqlConfig::default()
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
        for cfg in [PgsqlConfig::default(), full()] {
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
        let (a, sa) = outcome(&events, &PgsqlConfig::default());
        let (b, sb) = outcome(&merged, &PgsqlConfig::default());
        assert_eq!(sa, sb, "{name}");
        let strip = |v: &[PgsqlRecord]| -> Vec<(String, String, String, u64)> {
            v.iter()
                .map(|r| {
                    (
                        r.req_cmd.clone(),
                        r.req_body.clone(),
                        r.resp_body.clone(),
                        r.rows,
                    )
                })
                .collect()
        };
        assert_eq!(strip(&a), strip(&b), "{name}");
    }
}

/// Every capture replays without errors or losses, and pairs everything.
#[test]
fn captures_parse_cleanly() {
    for name in case_names() {
        for cfg in [PgsqlConfig::default(), full()] {
            let (records, s) = outcome(&load_case(&name), &cfg);
            assert_eq!(
                s.parse_errors + s.resyncs + s.messages_lost_to_gaps + s.incomplete_at_close,
                0,
                "{name}"
            );
            assert_eq!(s.unmatched_responses + s.unanswered_requests, 0, "{name}");
            assert_eq!(s.skipped_after_error + s.unknown_statements, 0, "{name}");
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
        for cfg in [PgsqlConfig::default(), full()] {
            prop_assert_eq!(outcome(&events, &cfg), outcome(&resplit, &cfg), "{}", name);
        }
    }

    /// Arbitrary bytes, gaps and closes on both streams, with tiny limits: no panic, and the
    /// counters stay consistent.
    #[test]
    fn arbitrary_input_never_panics(ops in prop::collection::vec((0u8..4, prop::collection::vec(prop_oneof![
            Just(0u8), Just(4), Just(5), Just(8), Just(b'Q'), Just(b'P'), Just(b'B'), Just(b'E'),
            Just(b'S'), Just(b'Z'), Just(b'C'), Just(b'D'), Just(b'N'), Just(b'1'), Just(b'2'),
            Just(b'T'), Just(b'G'), Just(b'd'), Just(b'I'), any::<u8>()], 0..40)), 0..40),
        tiny in any::<bool>()) {
        let cfg = if tiny {
            PgsqlConfig { max_message_len: 12, max_sql_len: 3, max_text_len: 2, max_pending: 2,
                          max_statements: 1, full_capture: true }
        } else {
            PgsqlConfig::default()
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
        prop_assert!(s.records <= s.responses);
    }

    /// Generated pipelines of Bind/Execute before one Sync: every Execute pairs with its
    /// statement and rows, whatever the split.
    #[test]
    fn generated_pipelines_pair(n in 1usize..20, cuts in prop::collection::vec(any::<Index>(), 0..20)) {
        let mut reqs = Vec::new();
        let mut resps = Vec::new();
        for i in 0..n {
            reqs.extend(parse(&format!("s{i}"), &format!("SELECT * FROM t{i} WHERE a = {i}")));
            resps.extend(msg(b'1', b""));
        }
        for i in 0..n {
            reqs.extend(bind("", &format!("s{i}"), &["p"]));
            reqs.extend(execute(""));
            resps.extend(msg(b'2', b""));
            for _ in 0..i {
                resps.extend(data_row());
            }
            resps.extend(complete(&format!("SELECT {i}")));
        }
        reqs.extend(sync());
        resps.extend(ready());
        let mut r = Run::new();
        for piece in split_at(&reqs, &cuts) {
            r.req(1, piece);
        }
        for piece in split_at(&resps, &cuts) {
            r.resp(2, piece);
        }
        let execs: Vec<&PgsqlRecord> = r.out.iter().filter(|x| x.req_cmd == "Execute").collect();
        prop_assert_eq!(execs.len(), n);
        for (i, rec) in execs.iter().enumerate() {
            prop_assert_eq!(&rec.req_body, &format!("SELECT * FROM t{i} WHERE a = ?"));
            prop_assert_eq!(rec.rows, i as u64);
        }
        // Each execution is one row: its Parse and Bind folded in.
        prop_assert_eq!(r.out.len(), n);
    }
}
