//! Captured traffic (testdata/dns/*.jsonl, see testdata/dns/README.md) against the expected
//! rendering next to it. On a mismatch the actual rendering is written to `<case>.actual`.

use super::*;

/// Every case `testdata/dns/capture.sh` writes; a missing capture fails the test.
const CASES: &[&str] = &[
    "tcp_a_single",
    "tcp_keepopen_three_queries",
    "tcp_txt",
    "udp_a_wildcard_address",
    "udp_aaaa_host_record",
    "udp_cname_then_a",
    "udp_mx",
    "udp_no_answer_timeout",
    "udp_nxdomain",
    "udp_one_socket_four_queries",
    "udp_ptr_reverse",
    "udp_refused_no_upstream",
    "udp_retry_first_answer_lost",
    "udp_srv",
    "udp_txt_two_strings",
];

fn replay(name: &str) -> (Vec<DnsRecord>, DnsStats) {
    let mut out = Vec::new();
    let stats = capture::replay(&load_case(name), DnsConfig::default(), &mut out);
    (out, stats)
}

#[test]
fn captures_match_expected() {
    assert_eq!(
        case_names(),
        CASES,
        "testdata/dns holds other captures than expected"
    );
    let dir = format!("{}/testdata/dns", env!("CARGO_MANIFEST_DIR"));
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
    let (r, s) = replay("tcp_keepopen_three_queries");
    assert_eq!(
        r.iter()
            .map(|r| (
                r.query_name.as_str(),
                r.query_type.as_str(),
                r.answers.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            ("host.loupe.test", "A", r#"["10.0.0.7"]"#),
            ("www.loupe.test", "A", r#"["host.loupe.test","10.0.0.7"]"#),
            (
                "_sip._udp.loupe.test",
                "SRV",
                r#"["10 20 5060 host.loupe.test"]"#
            ),
        ]
    );
    assert!(r.iter().all(|r| r.transport == Transport::Tcp));
    assert_eq!(
        (s.queries, s.responses, s.records, s.parse_errors),
        (3, 3, 3, 0)
    );

    let (r, _) = replay("udp_nxdomain");
    assert_eq!((r[0].resp_code, r[0].answers.as_str()), (3, "[]"));
    let (r, _) = replay("udp_refused_no_upstream");
    assert_eq!(r[0].resp_code, 5);
    let (r, _) = replay("udp_ptr_reverse");
    assert_eq!(
        (r[0].query_name.as_str(), r[0].answers.as_str()),
        ("9.0.0.10.in-addr.arpa", r#"["ptr.loupe.test"]"#)
    );
    let (r, _) = replay("udp_txt_two_strings");
    assert_eq!(r[0].answers, r#"["\"v=loupe1\" \"second string\""]"#);

    // dig resent the query with the same id after 1 s; the relay had dropped the first
    // answer. The answer pairs with the first copy, the resend becomes a timeout row.
    let (r, s) = replay("udp_retry_first_answer_lost");
    assert_eq!(
        (s.queries, s.retries, s.responses, s.timeouts),
        (2, 1, 1, 1)
    );
    assert_eq!(r[0].txid, r[1].txid);
    assert!(!r[0].timed_out && r[1].timed_out);
    assert!(
        r[0].latency_ns() > 900_000_000,
        "includes dig's 1 s retry interval"
    );

    let (r, s) = replay("udp_no_answer_timeout");
    assert_eq!((r.len(), s.timeouts), (1, 1));
    assert_eq!((r[0].resp_code, r[0].timed_out), (-1, true));

    for name in CASES {
        let events = load_case(name);
        assert!(capture::payload_bytes(&events) > 0, "{name}");
        for rec in replay(name).0 {
            assert!(rec.timed_out || rec.latency_ns() > 0, "{name}: latency");
            assert_eq!(
                rec.transport == Transport::Udp,
                name.starts_with("udp_"),
                "{name}"
            );
        }
    }
}
