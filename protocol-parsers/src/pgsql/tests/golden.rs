//! Captured traffic (testdata/pgsql/*.jsonl, see testdata/pgsql/README.md) against the
//! expected rendering next to it. On a mismatch the actual rendering is written to
//! `<case>.actual`.

use super::*;

/// Every case `testdata/pgsql/capture.sh` writes; a missing capture fails the test.
const CASES: &[&str] = &[
    "pgbench_extended",
    "pgbench_init",
    "pgbench_pipeline",
    "pgbench_prepared",
    "psql_copy_in_out",
    "psql_errors_and_notice",
    "psql_multi_statement",
    "psql_prepare_execute",
    "psql_simple_queries",
];

fn replay_with(name: &str, cfg: PgsqlConfig) -> (Vec<PgsqlRecord>, PgsqlStats) {
    let mut out = Vec::new();
    let stats = capture::replay(&load_case(name), cfg, &mut out);
    (out, stats)
}

fn replay(name: &str) -> (Vec<PgsqlRecord>, PgsqlStats) {
    replay_with(name, PgsqlConfig::default())
}

#[test]
fn captures_match_expected() {
    assert_eq!(
        case_names(),
        CASES,
        "testdata/pgsql holds other captures than expected"
    );
    let dir = format!("{}/testdata/pgsql", env!("CARGO_MANIFEST_DIR"));
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

/// The typed messages of one direction of a capture, as (type, body), startup packets skipped.
/// Test-side walker, independent of the framer.
fn messages(events: &[Event], kind: MessageKind) -> Vec<(u8, Vec<u8>)> {
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
    while i < bytes.len() {
        if kind == R && bytes[i] == b'N' && (i == 0 || out.is_empty()) {
            i += 1; // the answer to the SSLRequest
            continue;
        }
        if kind == Q && bytes[i] == 0 {
            let len = u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
            i += len;
            continue;
        }
        let ty = bytes[i];
        let len = u32::from_be_bytes(bytes[i + 1..i + 5].try_into().unwrap()) as usize;
        out.push((ty, bytes[i + 5..i + 1 + len].to_vec()));
        i += 1 + len;
    }
    out
}

/// The text values of the parameters of a Bind body.
fn bind_params(body: &[u8]) -> Vec<String> {
    let mut b = body;
    for _ in 0..2 {
        let nul = b.iter().position(|&c| c == 0).unwrap();
        b = &b[nul + 1..];
    }
    let nfmt = u16::from_be_bytes([b[0], b[1]]) as usize;
    b = &b[2 + 2 * nfmt..];
    let n = u16::from_be_bytes([b[0], b[1]]) as usize;
    b = &b[2..];
    let mut out = Vec::new();
    for _ in 0..n {
        let len = i32::from_be_bytes(b[..4].try_into().unwrap());
        b = &b[4..];
        if len > 0 {
            out.push(String::from_utf8_lossy(&b[..len as usize]).into_owned());
            b = &b[len as usize..];
        }
    }
    out
}

/// Facts about the captures checked directly, independent of the rendering.
#[test]
fn captures_key_facts() {
    // libpq's sslmode=prefer: SSLRequest first, answered by the single byte 'N'.
    for name in CASES {
        let events = load_case(name);
        let Some(Event::Data { kind, bytes, .. }) = events.first() else {
            panic!("{name}: empty")
        };
        assert_eq!(
            (*kind, bytes.as_slice()),
            (Q, &b"\x00\x00\x00\x08\x04\xd2\x16\x2f"[..])
        );
        let Some(Event::Data { kind, bytes, .. }) = events.get(1) else {
            panic!("{name}: no answer")
        };
        assert_eq!((*kind, bytes.as_slice()), (R, &b"N"[..]), "{name}");
        let (_, s) = replay(name);
        assert_eq!((s.encryption_requests, s.encrypted_sessions), (1, 0));
        for rec in replay(name).0 {
            assert!(rec.latency_ns() > 0, "{name}: latency");
        }
    }

    let (r, _) = replay("psql_multi_statement");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].resp_body, "INSERT 0 1; SELECT 2; UPDATE 1");
    assert_eq!(r[0].rows, 4);

    let (r, s) = replay("psql_errors_and_notice");
    let errors: Vec<(&str, &str)> = r
        .iter()
        .filter(|x| x.resp_status == "ERROR")
        .map(|x| (x.error_code.as_str(), x.resp_body.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            ("42P01", "relation \"no_such_table\" does not exist"),
            ("22012", "division by zero"),
            ("42P01", "relation \"nope\" does not exist"),
        ]
    );
    assert_eq!(s.notices, 1);

    assert!(capture::payload_bytes(&load_case("psql_copy_in_out")) > 10_000);
    let (r, _) = replay("psql_copy_in_out");
    assert_eq!((r[0].resp_body.as_str(), r[0].rows), ("COPY 500", 500));
    assert!(r[0].copy_bytes > 500 * 10);
    assert_eq!((r[1].resp_body.as_str(), r[1].rows), ("COPY 102", 102));
    assert!(r[1].copy_bytes > 102 * 10);

    // Pipelining: several Execute before one Sync, answered in order.
    let reqs = messages(&load_case("pgbench_pipeline"), Q);
    let mut max_run = 0;
    let mut run = 0;
    for (ty, _) in &reqs {
        match ty {
            b'E' => {
                run += 1;
                max_run = max_run.max(run);
            }
            b'S' => run = 0,
            _ => {}
        }
    }
    assert!(max_run >= 3, "{max_run}");
    let (r, _) = replay("pgbench_pipeline");
    assert!(
        r.iter()
            .filter(|x| x.req_cmd == "Execute")
            .all(|x| !x.req_body.is_empty() && x.resp_status == "OK")
    );

    // -M prepared: named statements, parsed once, executed by name.
    let reqs = messages(&load_case("pgbench_prepared"), Q);
    let parses = reqs.iter().filter(|(t, b)| *t == b'P' && b[0] != 0).count();
    let execs = reqs.iter().filter(|(t, _)| *t == b'E').count();
    assert!(parses > 0 && execs > parses * 5, "{parses} {execs}");
    let (r, _) = replay("pgbench_prepared");
    let executes: Vec<&PgsqlRecord> = r.iter().filter(|x| x.req_cmd == "Execute").collect();
    assert_eq!(executes.len(), execs);
    assert!(executes.iter().all(|x| !x.req_body.is_empty()));
    assert!(
        executes
            .iter()
            .any(|x| x.req_body == "SELECT abalance FROM pgbench_accounts WHERE aid = $1;")
    );
}

/// Redaction on real traffic: by default no literal of a captured statement survives in
/// `req_body`, and no bound parameter appears in any record, in either mode.
#[test]
fn captures_redacted() {
    for name in CASES {
        let events = load_case(name);
        let reqs = messages(&events, Q);
        let mut literals = Vec::new();
        let mut params = Vec::new();
        for (ty, body) in &reqs {
            match ty {
                b'Q' | b'P' => {
                    let sql = String::from_utf8_lossy(body);
                    // Quoted literals: every odd piece between single quotes.
                    for (i, piece) in sql.split('\'').enumerate() {
                        if i % 2 == 1 && piece.len() >= 2 {
                            literals.push(piece.to_owned());
                        }
                    }
                }
                b'B' => params.extend(bind_params(body)),
                _ => {}
            }
        }
        let (records, _) = replay(name);
        for r in &records {
            assert!(!r.req_body.contains('\''), "{name}: {}", r.req_body);
            let mut again = String::new();
            crate::normalize::normalize_sql(&r.req_body, &mut again);
            assert_eq!(again, r.req_body, "{name}: not normalised");
            for l in &literals {
                assert!(!r.req_body.contains(l.as_str()), "{name}: literal {l}");
            }
        }
        let (full, _) = replay_with(
            name,
            PgsqlConfig {
                full_capture: true,
                ..PgsqlConfig::default()
            },
        );
        assert_eq!(full.len(), records.len());
        for r in records.iter().chain(&full) {
            for p in params.iter().filter(|p| p.len() >= 3) {
                for field in [&r.req_body, &r.resp_body] {
                    assert!(
                        !field.contains(p.as_str()),
                        "{name}: parameter {p} in {field}"
                    );
                }
            }
        }
        if name.starts_with("pgbench_extended") {
            assert!(
                params.len() > 50,
                "{name}: Bind parameters present in the capture"
            );
        }
    }
    // Full capture keeps the literals.
    let (r, _) = replay_with(
        "psql_simple_queries",
        PgsqlConfig {
            full_capture: true,
            ..PgsqlConfig::default()
        },
    );
    assert!(r.iter().any(|x| x.req_body.contains("'alice'")));
}
