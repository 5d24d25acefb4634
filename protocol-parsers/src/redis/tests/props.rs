//! Properties: splitting bytes differently across pushes never changes records or counters,
//! and no input panics.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;
use crate::resplit::{resplit, split_at};

fn outcome(events: &[Event], cfg: &RedisConfig) -> (Vec<RedisRecord>, RedisStats) {
    let mut out = Vec::new();
    let stats = capture::replay(events, cfg.clone(), &mut out);
    (out, stats)
}

fn full() -> RedisConfig {
    RedisConfig {
        full_capture: true,
        ..RedisConfig::default()
    }
}

#[test]
fn captures_byte_by_byte_equal_chunk_by_chunk() {
    for name in case_names().iter().filter(|n| !n.starts_with("large_bulk")) {
        let events = load_case(name);
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
        for cfg in [RedisConfig::default(), full()] {
            assert_eq!(outcome(&events, &cfg), outcome(&bytes, &cfg), "{name}");
        }
    }
}

/// Every capture replays without errors or losses, and pairs every command it completes.
#[test]
fn captures_parse_cleanly() {
    for name in case_names() {
        for cfg in [RedisConfig::default(), full()] {
            let (records, s) = outcome(&load_case(&name), &cfg);
            assert_eq!(
                s.parse_errors + s.resyncs + s.messages_lost_to_gaps,
                0,
                "{name}"
            );
            assert_eq!(s.unmatched_responses + s.unanswered_requests, 0, "{name}");
            assert_eq!(s.records, records.len() as u64);
            assert_eq!(s.records, s.responses - absorbed_frames(&name), "{name}");
        }
    }
}

/// Reply frames that complete no record: the first confirmations of a multi-channel SUBSCRIBE.
fn absorbed_frames(name: &str) -> u64 {
    u64::from(name.starts_with("pubsub_"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn captures_split_anywhere(case in any::<Index>(), cuts in prop::collection::vec(prop::collection::vec(any::<Index>(), 0..8), 0..60)) {
        let names = case_names();
        let name = case.get(&names);
        let events = load_case(name);
        let resplit = resplit(&events, &cuts);
        for cfg in [RedisConfig::default(), full()] {
            prop_assert_eq!(outcome(&events, &cfg), outcome(&resplit, &cfg), "{}", name);
        }
    }

    /// Arbitrary bytes, gaps and closes on both streams, with tiny limits: no panic, and the
    /// counters stay consistent.
    #[test]
    fn arbitrary_input_never_panics(ops in prop::collection::vec((0u8..4, prop::collection::vec(prop_oneof![
            Just(b'*'), Just(b'$'), Just(b'\r'), Just(b'\n'), Just(b'1'), Just(b'2'), Just(b'?'),
            Just(b'%'), Just(b'>'), Just(b'|'), Just(b';'), Just(b'.'), Just(b'+'), Just(b':'),
            Just(b'-'), Just(b'a'), Just(b'"'), Just(b' '), any::<u8>()], 0..40)), 0..40),
        tiny in any::<bool>()) {
        let cfg = if tiny {
            RedisConfig { max_depth: 2, max_aggregate_len: 3, max_bulk_len: 5, max_line_len: 6,
                          max_pending: 2, max_args: 1, max_arg_bytes: 2, max_resp_bytes: 4,
                          full_capture: true }
        } else {
            RedisConfig::default()
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
        prop_assert!(s.pushes <= s.records);
    }

    /// Generated pipelines of commands and replies: every command pairs with its reply,
    /// whatever the split.
    #[test]
    fn generated_pipelines_pair(n in 1usize..20, cuts in prop::collection::vec(any::<Index>(), 0..20)) {
        let mut reqs = Vec::new();
        let mut resps = Vec::new();
        for i in 0..n {
            reqs.extend(cmd(&["SET", &format!("k{i}"), &"v".repeat(i)]));
            resps.extend(format!("${i}\r\n{}\r\n", "r".repeat(i)).into_bytes());
        }
        let mut r = Run::new();
        for piece in split_at(&reqs, &cuts) {
            r.req(1, piece);
        }
        for piece in split_at(&resps, &cuts) {
            r.resp(2, piece);
        }
        prop_assert_eq!(r.out.len(), n);
        for (i, rec) in r.out.iter().enumerate() {
            prop_assert_eq!(&rec.req_args, &format!("[\"k{i}\",\"<redacted>\"]"));
            prop_assert_eq!(rec.resp_bulk_bytes, i as u64);
        }
    }
}
