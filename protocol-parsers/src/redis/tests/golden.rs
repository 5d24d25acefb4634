//! Captured traffic (testdata/redis/*.jsonl, see testdata/redis/README.md) against the
//! expected rendering next to it. On a mismatch the actual rendering is written to
//! `<case>.actual`.

use super::*;

/// Every case `testdata/redis/capture.sh` writes; a missing capture fails the test.
const CASES: &[&str] = &[
    "benchmark_config_get",
    "benchmark_pipelined_get",
    "benchmark_pipelined_lpush",
    "benchmark_pipelined_set",
    "error_wrongtype",
    "inline_telnet",
    "large_bulk_1mb_get",
    "large_bulk_1mb_set",
    "multi_exec",
    "pipe_mass_insert",
    "pubsub_resp3_push",
    "pubsub_subscribe_messages",
    "resp3_debug_protocol_types",
    "resp3_hello_types",
    "resp3_tracking_invalidate",
    "simple_get_set_del_incr",
];

fn replay_with(name: &str, cfg: RedisConfig) -> (Vec<RedisRecord>, RedisStats) {
    let mut out = Vec::new();
    let stats = capture::replay(&load_case(name), cfg, &mut out);
    (out, stats)
}

fn replay(name: &str) -> (Vec<RedisRecord>, RedisStats) {
    replay_with(name, RedisConfig::default())
}

#[test]
fn captures_match_expected() {
    assert_eq!(
        case_names(),
        CASES,
        "testdata/redis holds other captures than expected"
    );
    let dir = format!("{}/testdata/redis", env!("CARGO_MANIFEST_DIR"));
    let mut failed = Vec::new();
    for name in CASES {
        let (records, stats) = replay(name);
        let actual = capture::render(&records, &stats);
        let expected =
            std::fs::read_to_string(format!("{dir}/{name}.expected")).unwrap_or_default();
        let actual_path = format!("{dir}/{name}.actual");
        if actual == expected {
            let _ = std::fs::remove_file(&actual_path);
        } else {
            std::fs::write(&actual_path, &actual).unwrap_or_else(|e| panic!("{actual_path}: {e}"));
            failed.push(actual_path);
        }
    }
    assert!(
        failed.is_empty(),
        "output differs from .expected, see: {failed:#?}"
    );
}

/// Facts about the captures checked directly, independent of the rendering.
#[test]
fn captures_key_facts() {
    assert!(capture::payload_bytes(&load_case("large_bulk_1mb_get")) > 1 << 20);
    let (r, _) = replay("large_bulk_1mb_get");
    assert_eq!(
        (r[0].req_cmd.as_str(), r[0].resp_bulk_bytes),
        ("GET", 1 << 20)
    );
    let (r, _) = replay("large_bulk_1mb_set");
    assert_eq!(
        (r[0].req_args.as_str(), r[0].resp.as_str()),
        (r#"["big","<redacted>"]"#, "OK")
    );
    let (r, _) = replay_with(
        "large_bulk_1mb_set",
        RedisConfig {
            full_capture: true,
            ..RedisConfig::default()
        },
    );
    assert!(
        r[0].req_args.len() <= 4 * 128 + 20,
        "full capture is still bounded"
    );

    let (r, s) = replay("benchmark_pipelined_set");
    assert_eq!((s.requests, s.records), (208, 208));
    assert!(r.iter().all(|x| x.req_cmd == "SET" && x.resp == "OK"));

    let (r, _) = replay("error_wrongtype");
    let wrongtype = r
        .iter()
        .find(|x| x.req_cmd == "LPUSH")
        .map(|x| (x.resp_error, x.resp.as_str()));
    assert_eq!(
        wrongtype,
        Some((
            true,
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        ))
    );

    let (r, s) = replay("pubsub_subscribe_messages");
    assert_eq!(s.pushes, 3);
    assert!(
        r.iter()
            .skip(1)
            .all(|x| x.is_push && x.req_cmd == "PUSH PUB")
    );

    let (r, _) = replay_with(
        "resp3_debug_protocol_types",
        RedisConfig {
            full_capture: true,
            ..RedisConfig::default()
        },
    );
    let resp: Vec<&str> = r.iter().map(|x| x.resp.as_str()).collect();
    assert!(resp.contains(&"{0:false,1:true,2:false}"), "{resp:?}");
    assert!(resp.contains(&"Some real reply following the attribute"));
    assert!(resp.contains(&"This is a verbatim\\x0astring"));

    let (r, _) = replay("multi_exec");
    let queued = r.iter().filter(|x| x.resp == "QUEUED").count();
    assert_eq!(queued, 4);

    let mut conn = RedisConnection::new(RedisConfig::default());
    let mut out = Vec::new();
    for e in load_case("pubsub_resp3_push") {
        match e {
            Event::Data { kind, ts, bytes } => conn.push(kind, ts, &bytes, &mut out),
            Event::Close { ts } => conn.close(ts, &mut out),
        }
    }
    assert_eq!(conn.resp_version(), 3);

    for name in CASES {
        for rec in replay(name).0 {
            if !rec.is_push {
                assert!(rec.latency_ns() > 0, "{name}: latency");
            }
        }
    }
}
