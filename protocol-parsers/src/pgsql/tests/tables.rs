//! Hand-written byte strings, one rule each.

use super::*;

// ---------------------------------------------------------------------------------------
// infer (grammar in infer.rs)

#[test]
fn infer_table() {
    use Inference::*;
    let requests: &[(&[u8], Inference)] = &[
        (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", Request), // SSLRequest
        (b"\x00\x00\x00\x08\x04\xd2\x16\x30", Request), // GSSENCRequest
        (b"\x00\x00\x00\x10\x04\xd2\x16\x2e", Request), // CancelRequest
        (b"\x00\x00\x00\x29\x00\x03\x00\x00", Request), // StartupMessage 3.0
        (b"Q\x00\x00\x00\x0dSELECT 1\x00", Request),
        (b"P\x00\x00\x00\x10", Request),
        (b"S\x00\x00\x00\x04", Request),
        (b"", NeedMore),
        (b"\x00", NeedMore),
        (b"\x00\x00\x00\x08\x04", NeedMore),
        (b"Q", NeedMore),
        (b"Q\x00\x00", NeedMore),
        (b"\x00\x00\x00\x08\x12\x34\x56\x78", NotPgsql), // unknown code
        (b"\x00\x00\x00\x04\x00\x03\x00\x00", NotPgsql), // length below 8
        (b"\x00\x00\x00\x10\x04\xd2\x16\x2f", NotPgsql), // SSLRequest of length 16
        (b"\x00\x01", NotPgsql),                         // startup longer than 10000
        (b"S\x00\x00\x00\x05", NotPgsql),                // Sync is 4 bytes
        (b"Q\x00\x00\x00\x03", NotPgsql),                // length below 4
        (b"Q\x7f\x00\x00\x00", NotPgsql),                // absurd length
        (b"GET / HTTP/1.1\r\n", NotPgsql),
        (b"*1\r\n$4\r\nPING\r\n", NotPgsql),
        (b"\x16\x03\x01\x00\xa5", NotPgsql),
        (b"Z\x00\x00\x00\x05I", NotPgsql), // a backend type
    ];
    let responses: &[(&[u8], Inference)] = &[
        (b"N", Response),
        (b"S", Response),
        (b"R\x00\x00\x00\x08\x00\x00\x00\x00", Response),
        (b"E\x00\x00\x00\x50SFATAL", Response),
        (b"Z\x00\x00\x00\x05I", Response),
        (b"1\x00\x00\x00\x04", Response),
        (b"T\x00\x00\x00\x20", Response),
        (b"", NeedMore),
        (b"R", NeedMore),
        (b"R\x00\x00", NeedMore),
        (b"X", NotPgsql),
        (b"Z\x00\x00\x00\x06I", NotPgsql),
        (b"R\x01\x00\x00\x00", NotPgsql),
        (b"HTTP/1.1 200 OK\r\n", NotPgsql),
        (b"+OK\r\n", NotPgsql),
    ];
    for (bytes, want) in requests {
        assert_eq!(infer(bytes, Q), *want, "request {bytes:?}");
    }
    for (bytes, want) in responses {
        assert_eq!(infer(bytes, R), *want, "response {bytes:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Startup, encryption requests, authentication

fn startup_message() -> Vec<u8> {
    let mut b = z("user");
    b.extend(z("postgres"));
    b.extend(z("database"));
    b.extend(z("app"));
    b.push(0);
    startup(0x0003_0000, &b)
}

/// Server side of a trust login: AuthenticationOk, ParameterStatus, BackendKeyData, Ready.
fn login_answer() -> Vec<u8> {
    let mut v = msg(b'R', &0u32.to_be_bytes());
    let mut ps = z("server_version");
    ps.extend(z("15.0"));
    v.extend(msg(b'S', &ps));
    v.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
    v.extend(ready());
    v
}

#[test]
fn ssl_and_gssenc_refused_then_startup_and_query() {
    let mut r = Run::new();
    r.req(1, &startup(frame::GSSENC_REQUEST, b""))
        .resp(2, b"N")
        .req(3, &startup(frame::SSL_REQUEST, b""))
        .resp(4, b"N")
        .req(5, &startup_message())
        .resp(6, &login_answer())
        .req(7, &query("SELECT 1"));
    // 'N' here is a NoticeResponse again: no encryption request waits.
    let mut notice = b"SNOTICE\0Mhello\0".to_vec();
    notice.push(0);
    let mut answer = msg(b'N', &notice);
    answer.extend(msg(b'T', b"\x00\x01"));
    answer.extend(data_row());
    answer.extend(complete("SELECT 1"));
    answer.extend(ready());
    r.resp(8, &answer);
    assert_eq!(r.rows(), [("Query", "SELECT ?", "OK", "SELECT 1", 1)]);
    let s = r.stats();
    assert_eq!((s.encryption_requests, s.encrypted_sessions), (2, 0));
    assert_eq!((s.notices, s.auth_messages), (1, 1));
    assert_eq!((s.parse_errors, s.unmatched_responses), (0, 0));
    assert_eq!(r.out[0].latency_ns(), 1);
}

#[test]
fn ssl_accepted_ignores_the_rest() {
    let mut r = Run::new();
    r.req(1, &startup(frame::SSL_REQUEST, b""))
        .resp(2, b"S")
        .req(3, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        .resp(4, b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76");
    assert!(r.out.is_empty());
    let s = r.stats();
    assert_eq!((s.encrypted_sessions, s.parse_errors), (1, 0));
    r.close(5);
    assert_eq!(r.stats().incomplete_at_close, 0);
}

#[test]
fn password_is_never_read() {
    let mut r = Run::new();
    r.req(1, &startup_message())
        .resp(2, &msg(b'R', &3u32.to_be_bytes())) // cleartext password requested
        .req(3, &msg(b'p', &z("hunter2-secret")))
        .resp(4, &login_answer())
        .req(5, &query("SELECT 1"))
        .resp(6, &[complete("SELECT 1"), ready()].concat());
    assert_eq!(r.out.len(), 1);
    assert_eq!(r.stats().auth_messages, 3);
    let dump = format!("{:?}", r.conn);
    assert!(!dump.contains("hunter2"), "password kept: {dump}");
}

#[test]
fn fatal_at_startup() {
    let mut r = Run::new();
    r.req(1, &startup_message())
        .resp(2, &error("28000", "role \"x\" does not exist"));
    r.close(3);
    assert!(r.out.is_empty());
    let s = r.stats();
    assert_eq!((s.unanswered_requests, s.unmatched_responses), (0, 0));
}

// ---------------------------------------------------------------------------------------
// Simple query

#[test]
fn multi_statement_query_is_one_record_with_all_tags() {
    let mut r = Run::new();
    r.req(
        1,
        &query("INSERT INTO t VALUES (1); SELECT a FROM t; ; DELETE FROM t WHERE a = 'x'"),
    );
    let mut a = complete("INSERT 0 1");
    a.extend(msg(b'T', b"\x00\x01"));
    a.extend(data_row());
    a.extend(data_row());
    a.extend(complete("SELECT 2"));
    a.extend(msg(b'I', b""));
    a.extend(complete("DELETE 3"));
    a.extend(ready());
    r.resp(2, &a);
    assert_eq!(
        r.rows(),
        [(
            "Query",
            "INSERT INTO t VALUES (?); SELECT a FROM t; ; DELETE FROM t WHERE a = ?",
            "OK",
            "INSERT 0 1; SELECT 2; DELETE 3",
            6
        )]
    );
}

#[test]
fn error_in_multi_statement_query() {
    let mut r = Run::new();
    r.req(1, &query("SELECT 1; SELECT * FROM nope; SELECT 2"));
    let mut a = msg(b'T', b"\x00\x01");
    a.extend(data_row());
    a.extend(complete("SELECT 1"));
    a.extend(error("42P01", "relation \"nope\" does not exist"));
    a.extend(ready());
    r.resp(2, &a);
    let rec = &r.out[0];
    assert_eq!(
        (
            rec.resp_status.as_str(),
            rec.error_severity.as_str(),
            rec.error_code.as_str(),
            rec.resp_body.as_str()
        ),
        (
            "ERROR",
            "ERROR",
            "42P01",
            "relation \"nope\" does not exist"
        )
    );
}

#[test]
fn empty_query_and_rows_without_tag_count() {
    let mut r = Run::new();
    r.req(1, &query(""))
        .resp(2, &[msg(b'I', b""), ready()].concat())
        .req(3, &query("SHOW x"))
        .resp(
            4,
            &[
                msg(b'T', b"\x00\x01"),
                data_row(),
                complete("SHOW"),
                ready(),
            ]
            .concat(),
        );
    assert_eq!(
        r.rows(),
        [
            ("Query", "", "OK", "", 0),
            ("Query", "SHOW x", "OK", "SHOW", 1)
        ]
    );
}

#[test]
fn copy_in_and_out_count_bytes() {
    let mut r = Run::new();
    r.req(1, &query("COPY t FROM STDIN"))
        .resp(2, &msg(b'G', b"\x00\x00\x01\x00\x00"))
        .req(3, &msg(b'd', b"1\tsecret-row\n"))
        .req(4, &msg(b'd', b"2\tother\n"))
        .req(5, &msg(b'c', b""))
        .resp(6, &[complete("COPY 2"), ready()].concat())
        .req(7, &query("COPY t TO STDOUT"))
        .resp(
            8,
            &[
                msg(b'H', b"\x00\x00\x01\x00\x00"),
                msg(b'd', b"1\tsecret-row\n"),
                msg(b'c', b""),
                complete("COPY 1"),
                ready(),
            ]
            .concat(),
        )
        .req(9, &query("COPY t FROM STDIN"))
        .resp(10, &msg(b'G', b"\x00\x00\x01\x00\x00"))
        .req(11, &msg(b'f', &z("aborted")))
        .resp(
            12,
            &[error("57014", "COPY from stdin failed: aborted"), ready()].concat(),
        );
    let got: Vec<(&str, u64, u64)> = r
        .out
        .iter()
        .map(|x| (x.resp_body.as_str(), x.rows, x.copy_bytes))
        .collect();
    assert_eq!(
        got,
        [
            ("COPY 2", 2, 21),
            ("COPY 1", 1, 13),
            ("COPY from stdin failed: aborted", 0, 0)
        ]
    );
    assert!(!format!("{:?}", r.out).contains("secret-row"));
}

// ---------------------------------------------------------------------------------------
// Extended protocol

#[test]
fn named_statement_executed_by_name() {
    let mut r = Run::new();
    r.req(
        1,
        &[
            parse("s1", "SELECT * FROM t WHERE id = $1 AND k = 'lit'"),
            sync(),
        ]
        .concat(),
    )
    .resp(2, &[msg(b'1', b""), ready()].concat());
    for i in 0..3 {
        r.req(
            3 + i * 2,
            &[bind("", "s1", &["param-value-secret"]), execute(""), sync()].concat(),
        )
        .resp(
            4 + i * 2,
            &[msg(b'2', b""), data_row(), complete("SELECT 1"), ready()].concat(),
        );
    }
    let sql = "SELECT * FROM t WHERE id = $1 AND k = ?";
    // A Parse that only prepares is its own row; each execution is one row,
    // its Bind folded in (as pg_stat_statements counts: 3 calls).
    assert_eq!(r.rows()[0], ("Parse", sql, "OK", "PARSE COMPLETE", 0));
    assert_eq!(r.rows()[1], ("Execute", sql, "OK", "SELECT 1", 1));
    assert_eq!(r.out.len(), 4);
    assert!(!format!("{:?}", r.out).contains("param-value-secret"));
    assert_eq!(r.stats().unknown_statements, 0);
}

#[test]
fn unnamed_statement_with_describe_and_pipelining() {
    let mut r = Run::new();
    let mut req = Vec::new();
    for i in 0..3 {
        req.extend(parse("", &format!("SELECT {i}")));
        req.extend(bind("", "", &[]));
        req.extend(describe(b'P', ""));
        req.extend(execute(""));
    }
    req.extend(describe(b'S', ""));
    req.extend(msg(b'H', b""));
    req.extend(sync());
    r.req(1, &req);
    let mut a = Vec::new();
    for _ in 0..3 {
        a.extend(msg(b'1', b""));
        a.extend(msg(b'2', b""));
        a.extend(msg(b'T', b"\x00\x01"));
        a.extend(data_row());
        a.extend(complete("SELECT 1"));
    }
    a.extend(msg(b't', b"\x00\x00"));
    a.extend(msg(b'n', b""));
    a.extend(ready());
    r.resp(2, &a);
    // Three executions, each one row (Parse, Bind, Describe folded in), and
    // the Describe of a statement never executed, its own row.
    let cmds: Vec<&str> = r.out.iter().map(|x| x.req_cmd.as_str()).collect();
    assert_eq!(cmds, ["Execute", "Execute", "Execute", "Describe"]);
    assert!(r.out.iter().all(|x| x.req_body == "SELECT ?"));
    assert_eq!(r.out[0].resp_body, "SELECT 1");
    assert_eq!(r.out[3].resp_body, "NO DATA");
}

#[test]
fn error_in_pipeline_skips_to_sync() {
    let mut r = Run::new();
    r.req(
        1,
        &[
            parse("a", "SELECT 1"),
            bind("", "a", &[]),
            execute(""),
            parse("b", "SELEC oops"),
            bind("", "b", &[]),
            execute(""),
            sync(),
            query("SELECT 2"),
        ]
        .concat(),
    );
    r.resp(
        2,
        &[
            msg(b'1', b""),
            msg(b'2', b""),
            data_row(),
            complete("SELECT 1"),
            error("42601", "syntax error at or near \"SELEC\""),
            ready(),
            data_row(),
            complete("SELECT 1"),
            ready(),
        ]
        .concat(),
    );
    let got: Vec<(&str, &str)> = r
        .out
        .iter()
        .map(|x| (x.req_cmd.as_str(), x.resp_status.as_str()))
        .collect();
    assert_eq!(
        got,
        [("Execute", "OK"), ("Parse", "ERROR"), ("Query", "OK")]
    );
    assert_eq!(r.stats().skipped_after_error, 2);
    assert_eq!(r.stats().unmatched_responses, 0);
}

#[test]
fn close_forgets_and_unknown_statements_are_counted() {
    let mut r = Run::new();
    let mut close = vec![b'S'];
    close.extend(z("s"));
    r.req(
        1,
        &[
            parse("s", "SELECT 1"),
            msg(b'C', &close),
            bind("", "s", &[]),
            sync(),
        ]
        .concat(),
    )
    .resp(
        2,
        &[msg(b'1', b""), msg(b'3', b""), msg(b'2', b""), ready()].concat(),
    );
    // Parse and Bind, never executed: one row, of the Parse.
    assert_eq!(
        r.rows()[0],
        ("Parse", "SELECT ?", "OK", "PARSE COMPLETE", 0)
    );
    assert_eq!(r.out.len(), 1);
    assert_eq!(r.stats().unknown_statements, 1);
}

#[test]
fn portal_suspended() {
    let mut r = Run::new();
    r.req(
        1,
        &[
            parse("", "SELECT g FROM t"),
            bind("c", "", &[]),
            execute("c"),
            sync(),
        ]
        .concat(),
    )
    .resp(
        2,
        &[
            msg(b'1', b""),
            msg(b'2', b""),
            data_row(),
            data_row(),
            msg(b's', b""),
            ready(),
        ]
        .concat(),
    );
    assert_eq!(
        r.rows()[0],
        ("Execute", "SELECT g FROM t", "OK", "PORTAL SUSPENDED", 2)
    );
    assert_eq!(r.out.len(), 1);
}

#[test]
fn full_capture_keeps_sql_not_parameters() {
    let mut r = Run::with(PgsqlConfig {
        full_capture: true,
        ..PgsqlConfig::default()
    });
    r.req(
        1,
        &[
            parse("", "SELECT 'kept' WHERE x = $1"),
            bind("", "", &["never-kept"]),
            execute(""),
            sync(),
        ]
        .concat(),
    )
    .resp(
        2,
        &[
            msg(b'1', b""),
            msg(b'2', b""),
            complete("SELECT 0"),
            ready(),
        ]
        .concat(),
    );
    assert!(
        r.out
            .iter()
            .all(|x| x.req_body == "SELECT 'kept' WHERE x = $1")
    );
    assert!(!format!("{:?}", r.out).contains("never-kept"));
}

// ---------------------------------------------------------------------------------------
// Framing errors and limits

#[test]
fn bad_headers_are_rejected() {
    let cases: &[(MessageKind, &[u8], PgsqlParseError)] = &[
        (
            Q,
            b"Q\x00\x00\x00\x03",
            PgsqlParseError::BadLength { ty: b'Q', len: 3 },
        ),
        (
            Q,
            b"S\x00\x00\x00\x05x",
            PgsqlParseError::BadLength { ty: b'S', len: 5 },
        ),
        (
            Q,
            b"Q\x7f\xff\xff\xff",
            PgsqlParseError::BadLength {
                ty: b'Q',
                len: 0x7fff_ffff,
            },
        ),
        (
            Q,
            b"Z\x00\x00\x00\x05I",
            PgsqlParseError::UnknownType { byte: b'Z' },
        ),
        (
            R,
            b"x\x00\x00\x00\x04",
            PgsqlParseError::UnknownType { byte: b'x' },
        ),
        (
            R,
            b"Z\x00\x00\x00\x04",
            PgsqlParseError::BadLength { ty: b'Z', len: 4 },
        ),
        (
            Q,
            b"\x00\x00\x00\x04\x00\x00",
            PgsqlParseError::BadLength { ty: 0, len: 4 },
        ),
    ];
    for (kind, bytes, want) in cases {
        let mut r = Run::new();
        r.conn.push(*kind, 1, bytes, &mut r.out);
        assert_eq!(r.last_error(*kind), Some(*want), "{bytes:?}");
        assert_eq!(r.stats().parse_errors, 1, "{bytes:?}");
    }
    let mut r = Run::new();
    r.req(1, &startup(0x1234_5678, b""));
    assert_eq!(r.stats().parse_errors, 1);
}

#[test]
fn max_message_len_is_enforced() {
    let mut r = Run::with(PgsqlConfig {
        max_message_len: 16,
        ..PgsqlConfig::default()
    });
    r.req(1, &query("SELECT 1")); // 13: fine
    r.req(2, &query("SELECT 123456789")); // 21: too long
    assert_eq!(r.stats().requests, 1);
    assert_eq!(
        r.last_error(Q),
        Some(PgsqlParseError::BadLength { ty: b'Q', len: 21 })
    );
}

#[test]
fn long_sql_and_text_are_cut() {
    let mut r = Run::with(PgsqlConfig {
        max_sql_len: 10,
        max_text_len: 5,
        full_capture: true,
        ..PgsqlConfig::default()
    });
    r.req(1, &query("SELECT abcdefghijklmnop")).resp(
        2,
        &[error("XX000", "a long error message"), ready()].concat(),
    );
    assert_eq!(r.out[0].req_body, "SELECT abcd...");
    assert_eq!(r.out[0].resp_body, "a lon...");
}

#[test]
fn pending_overflow_recovers_at_ready() {
    let mut r = Run::with(PgsqlConfig {
        max_pending: 2,
        ..PgsqlConfig::default()
    });
    r.req(
        1,
        &[query("SELECT 1"), query("SELECT 2"), query("SELECT 3")].concat(),
    );
    assert_eq!(r.stats().pending_overflow, 2);
    r.resp(2, &[complete("SELECT 1"), ready()].concat()); // absorbed by the loss marker
    r.req(3, &query("SELECT 4"));
    r.resp(4, &[complete("SELECT 1"), ready()].concat());
    r.resp(5, &[complete("SELECT 1"), ready()].concat());
    assert_eq!(r.out.len(), 1);
}

#[test]
fn statement_map_is_bounded() {
    let mut r = Run::with(PgsqlConfig {
        max_statements: 2,
        ..PgsqlConfig::default()
    });
    let mut req = Vec::new();
    for name in ["a", "b", "c", ""] {
        req.extend(parse(name, "SELECT 1"));
    }
    req.extend(bind("", "c", &[]));
    req.extend(sync());
    r.req(1, &req);
    assert_eq!(r.stats().statement_overflow, 1);
    assert_eq!(r.stats().unknown_statements, 1);
}

// ---------------------------------------------------------------------------------------
// Truncation: every prefix is "need more"

#[test]
fn every_prefix_needs_more() {
    let req = [
        startup(frame::SSL_REQUEST, b""),
        startup_message(),
        query("SELECT 'a'; SELECT 2"),
        parse("s", "SELECT $1"),
        bind("p", "s", &["1"]),
        describe(b'P', "p"),
        execute("p"),
        sync(),
    ]
    .concat();
    let mut resp = b"N".to_vec();
    resp.extend(login_answer());
    resp.extend(msg(b'T', b"\x00\x01"));
    resp.extend(data_row());
    resp.extend(complete("SELECT 1"));
    resp.extend(error("42P01", "x"));
    resp.extend(ready());
    resp.extend(msg(b'1', b""));
    resp.extend(msg(b'2', b""));
    resp.extend(msg(b'T', b"\x00\x01"));
    resp.extend(data_row());
    resp.extend(complete("SELECT 1"));
    resp.extend(ready());
    let mut whole = Run::new();
    whole.req(1, &req).resp(2, &resp).close(3);
    // The Query, its error, then one execution (Parse, Bind, Describe folded).
    assert_eq!(whole.out.len(), 2);
    for cut in 0..req.len() {
        let mut r = Run::new();
        r.req(1, &req[..cut]);
        assert!(r.out.is_empty());
        assert_eq!(r.stats().parse_errors, 0, "request cut at {cut}");
        r.req(1, &req[cut..]).resp(2, &resp).close(3);
        assert_eq!(r.out, whole.out, "request cut at {cut}");
    }
    for cut in 0..resp.len() {
        let mut r = Run::new();
        r.req(1, &req).resp(2, &resp[..cut]);
        let before = r.out.len();
        assert_eq!(r.stats().parse_errors, 0, "response cut at {cut}");
        r.resp(2, &resp[cut..]).close(3);
        assert_eq!(r.out, whole.out, "response cut at {cut}");
        assert!(before <= whole.out.len());
        // A prefix completes only the records whose last answer byte it holds.
        let mut p = Run::new();
        p.req(1, &req).resp(2, &resp[..cut]).close(3);
        assert_eq!(p.out[..], whole.out[..p.out.len()], "response cut at {cut}");
        assert!(p.stats().incomplete_at_close + p.stats().parse_errors <= 1);
    }
}

// ---------------------------------------------------------------------------------------
// Gaps

#[test]
fn gap_inside_data_row_is_skipped() {
    let row = msg(
        b'D',
        &[&[0u8, 1, 0, 0, 0, 20][..], &[b'x'; 20][..]].concat(),
    );
    let mut r = Run::new();
    r.req(1, &query("SELECT x FROM t"));
    r.resp(2, &row[..10]).gap(R, 3, 10);
    r.resp(
        4,
        &[&row[20..], &complete("SELECT 1")[..], &ready()[..]].concat(),
    );
    assert_eq!(
        r.rows(),
        [("Query", "SELECT x FROM t", "OK", "SELECT 1", 1)]
    );
    assert_eq!(r.stats().gap_bytes_skipped, 10);
    assert_eq!(r.stats().messages_lost_to_gaps, 0);
}

#[test]
fn gap_across_messages_resyncs_and_pairs_again() {
    let mut r = Run::new();
    r.req(1, &query("SELECT 1"));
    let answer = [complete("SELECT 1"), ready()].concat();
    r.resp(2, &answer[..3]).gap(R, 3, 100);
    // Garbage, then a clean answer to the next query.
    r.resp(4, b"\x00\x01garbage");
    r.resp(5, &ready());
    r.req(6, &query("SELECT 2"));
    r.resp(7, &[complete("SELECT 1"), ready()].concat());
    assert_eq!(r.rows(), [("Query", "SELECT ?", "OK", "SELECT 1", 1)]);
    assert_eq!(r.out[0].req_ts_start_ns, 6);
    let s = r.stats();
    assert_eq!(
        (s.messages_lost_to_gaps, s.resyncs, s.unanswered_requests),
        (1, 1, 1)
    );
}

#[test]
fn gap_on_request_stream_absorbs_the_lost_answer() {
    let mut r = Run::new();
    let q1 = query("SELECT 1");
    r.req(1, &q1[..4]).gap(Q, 2, 100);
    r.resp(3, &[complete("SELECT 1"), ready()].concat());
    r.req(4, &query("SELECT 'two'"));
    r.resp(5, &[complete("SELECT 2"), ready()].concat());
    assert_eq!(r.rows(), [("Query", "SELECT ?", "OK", "SELECT 2", 2)]);
    assert_eq!(r.stats().messages_lost_to_gaps, 1);
}

#[test]
fn gap_inside_kept_body_loses_only_that_message() {
    let mut r = Run::new();
    let q = query("SELECT 12345");
    r.req(1, &q[..8]).gap(Q, 2, 4);
    r.req(3, &q[12..]);
    r.resp(4, &[complete("SELECT 1"), ready()].concat());
    r.req(5, &query("SELECT 2"));
    r.resp(6, &[complete("SELECT 1"), ready()].concat());
    assert_eq!(r.out.len(), 1);
    let s = r.stats();
    assert_eq!(
        (s.messages_lost_to_gaps, s.resyncs, s.parse_errors),
        (1, 0, 0)
    );
}

#[test]
fn close_counts_what_is_left() {
    let mut r = Run::new();
    r.req(
        1,
        &[query("SELECT 1"), query("SELECT 2")[..3].to_vec()].concat(),
    );
    r.close(2);
    let s = r.stats();
    assert_eq!((s.unanswered_requests, s.incomplete_at_close), (1, 1));
    // Reusable afterwards.
    r.req(3, &query("SELECT 3"))
        .resp(4, &[complete("SELECT 1"), ready()].concat());
    assert_eq!(r.out.len(), 1);
}

#[test]
fn an_execution_runs_from_its_first_message_to_its_completion() {
    // Parse and Bind answered at 20, Execute sent at 30, completed at 40:
    // one row, from 10 (the Parse) to 40.
    let mut r = Run::new();
    r.req(
        10,
        &[parse("", "SELECT 1"), bind("", "", &[]), msg(b'H', b"")].concat(),
    )
    .resp(20, &[msg(b'1', b""), msg(b'2', b"")].concat())
    .req(30, &[execute(""), sync()].concat())
    .resp(40, &[data_row(), complete("SELECT 1"), ready()].concat());
    assert_eq!(r.out.len(), 1, "{:?}", r.out);
    let x = &r.out[0];
    assert_eq!(x.req_cmd, "Execute");
    assert_eq!((x.req_ts_start_ns, x.resp_ts_end_ns), (10, 40));
    assert_eq!(x.rows, 1);
}
