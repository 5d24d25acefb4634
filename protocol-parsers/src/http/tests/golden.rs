//! Captured traffic (testdata/http/*.jsonl, see testdata/http/README.md) against the expected
//! rendering next to it. On a mismatch the actual rendering is written to `<case>.actual`.

use super::*;

/// Every case the capture script writes; a missing capture fails the test.
const CASES: &[&str] = &[
    "chunked_extensions_trailer_python",
    "chunked_gzip_nginx",
    "head_request",
    "http10_close_delimited_python",
    "keepalive_get_three_paths",
    "large_body_1mb",
    "no_content_204",
    "not_found_404",
    "not_modified_304",
    "pipelined_three_requests",
    "post_expect_100_continue",
];

fn replay(name: &str) -> (Vec<HttpRecord>, HttpStats) {
    let mut out = Vec::new();
    let stats = capture::replay(&load_case(name), HttpConfig::default(), &mut out);
    (out, stats)
}

#[test]
fn captures_match_expected() {
    assert_eq!(
        case_names(),
        CASES,
        "testdata/http holds other captures than expected"
    );
    let dir = format!("{}/testdata/http", env!("CARGO_MANIFEST_DIR"));
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

/// Facts about each capture checked directly, independent of the rendering.
#[test]
fn captures_key_facts() {
    let (r, s) = replay("keepalive_get_three_paths");
    assert_eq!(
        r.iter()
            .map(|r| (r.req.path.as_str(), r.resp.status, r.resp.body_size))
            .collect::<Vec<_>>(),
        [
            ("/index.html", 200, 51),
            ("/a.html", 200, 33),
            ("/b.txt", 200, 180)
        ]
    );
    assert_eq!(
        (
            s.requests,
            s.responses,
            s.records,
            s.unanswered_requests,
            s.parse_errors
        ),
        (3, 3, 3, 0, 0)
    );

    let (r, _) = replay("head_request");
    assert_eq!(
        (
            r[0].req.method.as_str(),
            r[0].resp.status,
            r[0].resp.body_size
        ),
        ("HEAD", 200, 0)
    );
    assert!(
        r[0].resp
            .headers
            .iter()
            .any(|(n, v)| n == "Content-Length" && v == "180")
    );

    let (r, _) = replay("not_modified_304");
    assert_eq!((r[0].resp.status, r[0].resp.body_size), (304, 0));

    let (r, _) = replay("no_content_204");
    assert_eq!((r[0].resp.status, r[0].resp.body_size), (204, 0));

    let (r, _) = replay("not_found_404");
    assert_eq!(r[0].resp.status, 404);
    assert_eq!(r[0].resp.content_type, "text/html");

    let (r, s) = replay("post_expect_100_continue");
    assert_eq!(s.interim_responses, 1);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (
            r[0].req.method.as_str(),
            r[0].req.body_size,
            r[0].resp.status
        ),
        ("POST", 2019, 201)
    );
    assert_eq!(r[0].resp.content_type, "application/json");
    assert_eq!(s.records, 1);

    let (r, _) = replay("chunked_extensions_trailer_python");
    assert_eq!(r[0].resp.body_size, 12 + 87 + 300);
    let (r, _) = replay("chunked_gzip_nginx");
    assert_eq!(r[0].resp.body_size, 0x14b8);

    let (r, s) = replay("pipelined_three_requests");
    assert_eq!(
        r.iter()
            .map(|r| (r.req.path.as_str(), r.resp.status))
            .collect::<Vec<_>>(),
        [("/a.html", 200), ("/b.txt", 200), ("/missing", 404)]
    );
    assert_eq!(s.unmatched_responses + s.unanswered_requests, 0);

    let (r, _) = replay("http10_close_delimited_python");
    assert_eq!((r[0].req.minor_version, r[0].resp.minor_version), (0, 0));
    let body: usize = (0..200)
        .map(|i| format!("line {i} of a close-delimited body\n").len())
        .sum();
    assert_eq!(r[0].resp.body_size, body as u64);

    let (r, _) = replay("large_body_1mb");
    assert_eq!(r[0].resp.body_size, 1 << 20);
    assert!(capture::payload_bytes(&load_case("large_body_1mb")) > 1 << 20);
    for (name, records) in CASES.iter().map(|n| (n, replay(n).0)) {
        for rec in records {
            assert!(rec.latency_ns() > 0, "{name}: latency");
            assert!(
                rec.req.ts_start_ns <= rec.req.ts_end_ns && rec.req.ts_end_ns <= rec.resp.ts_end_ns,
                "{name}: ts"
            );
        }
    }
}
