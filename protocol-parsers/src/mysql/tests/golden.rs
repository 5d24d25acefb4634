//! Captured traffic (testdata/mysql/*.jsonl, see testdata/mysql/README.md) against the
//! expected rendering next to it. On a mismatch the actual rendering is written to
//! `<case>.actual`.

use super::*;

/// Every case `testdata/mysql/capture.sh` writes; a missing capture fails the test.
const CASES: &[&str] = &[
    "mariadb_errors",
    "mariadb_simple_queries",
    "mariadb_sql_prepare_execute",
    "mysqlslap_conn0",
    "mysqlslap_conn1",
    "mysqlslap_conn2",
    "pymysql_multi_statement",
    "pymysql_text_protocol",
    "python_binary_protocol",
];

fn replay_with(name: &str, cfg: MysqlConfig) -> (Vec<MysqlRecord>, MysqlStats) {
    let mut out = Vec::new();
    let stats = capture::replay(&load_case(name), cfg, &mut out);
    (out, stats)
}

fn replay(name: &str) -> (Vec<MysqlRecord>, MysqlStats) {
    replay_with(name, MysqlConfig::default())
}

#[test]
fn captures_match_expected() {
    assert_eq!(
        case_names(),
        CASES,
        "testdata/mysql holds other captures than expected"
    );
    let dir = format!("{}/testdata/mysql", env!("CARGO_MANIFEST_DIR"));
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

/// The client payloads of a capture, as (sequence id, payload). Test-side walker,
/// independent of the framer (no multi-packet payloads in these captures).
fn payloads(events: &[Event], kind: MessageKind) -> Vec<(u8, Vec<u8>)> {
    let mut bytes = Vec::new();
    for e in events {
        if let Event::Data {
            kind: k, bytes: b, ..
        } = e
            && *k == kind
        {
            bytes.extend_from_slice(b);
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let len = u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], 0]) as usize;
        out.push((bytes[i + 3], bytes[i + 4..i + 4 + len].to_vec()));
        i += 4 + len;
    }
    out
}

/// Facts about the captures checked directly, independent of the rendering.
#[test]
fn captures_key_facts() {
    for name in CASES {
        let (records, s) = replay(name);
        assert!(capture::payload_bytes(&load_case(name)) > 0);
        // Every capture starts with a greeting and a login without TLS.
        assert_eq!((s.handshakes, s.encrypted_sessions), (1, 0), "{name}");
        for rec in records.iter().filter(|r| r.resp_status != STATUS_NONE) {
            assert!(rec.latency_ns() > 0, "{name}: latency");
        }
        // Redaction: no execute parameter, no LOCAL INFILE content, no quoted literal.
        for rec in &records {
            for secret in [
                "secret",
                "param-name",
                "dup-param",
                "file-secret",
                "alice",
                "quoted",
            ] {
                if rec.resp_status != STATUS_ERROR {
                    assert!(!rec.resp_body.contains(secret), "{name}: {rec:?}");
                }
                assert!(!rec.req_body.contains(secret), "{name}: {rec:?}");
            }
            assert!(!rec.req_body.contains('\''), "{name}: {rec:?}");
        }
    }

    let (r, _) = replay("pymysql_multi_statement");
    let q: Vec<&MysqlRecord> = r
        .iter()
        .filter(|x| x.req_body.starts_with("INSERT"))
        .collect();
    assert_eq!(q.len(), 1);
    assert_eq!(
        q[0].resp_body,
        "OK affected=1; 1 column, 2 rows; OK affected=1"
    );
    assert_eq!(q[0].rows, 4);
    let e: Vec<&MysqlRecord> = r.iter().filter(|x| x.resp_status == STATUS_ERROR).collect();
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0].resp_body,
        "1 column, 1 row; 1146 (42S02): Table 'app.nope' doesn't exist"
    );

    let (r, _) = replay("mariadb_errors");
    let errors: Vec<(u16, &str)> = r
        .iter()
        .filter(|x| x.resp_status == STATUS_ERROR)
        .map(|x| (x.error_code, x.sql_state.as_str()))
        .collect();
    assert_eq!(errors, [(1146, "42S02"), (1064, "42000"), (1062, "23000")]);

    // The binary protocol: executes carry the SQL of their statement.
    let (r, s) = replay("python_binary_protocol");
    let execs: Vec<&MysqlRecord> = r.iter().filter(|x| x.req_cmd == 0x17).collect();
    assert!(execs.len() >= 4, "{execs:?}");
    assert!(
        execs
            .iter()
            .all(|x| x.req_body.contains('?') && !x.req_body.is_empty())
    );
    assert!(r.iter().any(|x| x.req_cmd == 0x16));
    assert!(
        r.iter()
            .any(|x| x.req_cmd == 0x19 && x.resp_status == STATUS_NONE)
    );
    assert!(
        r.iter()
            .any(|x| x.req_cmd == 0x1a && x.resp_status == STATUS_OK)
    );
    assert!(r.iter().any(|x| x.req_cmd == 0x0e));
    assert!(r.iter().any(|x| x.req_cmd == 0x02 && x.req_body == "mysql"));
    assert!(s.local_infile_packets >= 1);
    // The execute parameters are on the wire, so the check above means something.
    let events = load_case("python_binary_protocol");
    let wire = payloads(&events, Q);
    assert!(
        wire.iter()
            .any(|(_, p)| p.first() == Some(&0x17) && p.windows(12).any(|w| w == b"secret-param"))
    );
}

/// Full capture keeps the SQL verbatim, still without execute parameters.
#[test]
fn full_capture_keeps_sql_not_parameters() {
    let cfg = MysqlConfig {
        full_capture: true,
        ..MysqlConfig::default()
    };
    let (r, _) = replay_with("mariadb_simple_queries", cfg.clone());
    assert!(r.iter().any(|x| x.req_body.contains("'alice'")));
    let (r, _) = replay_with("python_binary_protocol", cfg);
    for rec in &r {
        assert!(!rec.req_body.contains("secret-param"), "{rec:?}");
    }
}

/// The 17 MB multi-packet capture of `capture.sh --large FILE`, too big for the repository:
/// `LOUPE_MYSQL_LARGE=FILE cargo test -p loupe-protocol-parsers -- --ignored large`.
#[test]
#[ignore = "needs LOUPE_MYSQL_LARGE, written by capture.sh --large"]
fn large_multi_packet_capture() {
    let path = std::env::var("LOUPE_MYSQL_LARGE").expect("LOUPE_MYSQL_LARGE");
    let text = std::fs::read_to_string(&path).expect("read");
    let events = capture::load(&text).expect("parse");
    let mut out = Vec::new();
    let s = capture::replay(&events, MysqlConfig::default(), &mut out);
    eprint!("{}", capture::render(&out, &s));
    assert!(s.multi_packet_payloads >= 1);
    let big: Vec<&MysqlRecord> = out
        .iter()
        .filter(|r| r.req_body.contains("REPEAT"))
        .collect();
    assert_eq!(big.len(), 1);
    assert_eq!(
        (big[0].resp_body.as_str(), big[0].rows),
        ("1 column, 1 row", 1)
    );
}
