//! Hand-written byte strings, one rule each.

use super::*;

// ---------------------------------------------------------------------------------------
// infer (grammar in infer.rs)

#[test]
fn infer_table() {
    use Inference::*;
    let requests: &[(&[u8], Inference)] = &[
        (b"*1\r\n$4\r\nPING\r\n", Request),
        (b"*3\r\n$3\r\nSET\r\n", Request),
        (b"PING\r\n", Request),
        (b"ping\n", Request),
        (b"SET k v\r\n", Request),
        (b"HELLO 3\r\n", Request),
        (b"", NeedMore),
        (b"*", NeedMore),
        (b"*12", NeedMore),
        (b"*2\r", NeedMore),
        (b"*2\r\n", NeedMore),
        (b"PIN", NeedMore),
        (b"PING", NeedMore),
        (b"*0\r\n", NotRedis),
        (b"*2\r\n:1\r\n", NotRedis),
        (b"*x\r\n", NotRedis),
        (b"*123456789\r\n$", NotRedis),
        (b"GET / HTTP/1.1\r\n", NotRedis),
        (b"FOO bar\r\n", NotRedis),
        (b"+OK\r\n", NotRedis),
        (b"\x16\x03\x01\x00\xa5", NotRedis),
    ];
    let responses: &[(&[u8], Inference)] = &[
        (b"+OK\r\n", Response),
        (b"+\r\n", Response),
        (b"-ERR unknown command\r\n", Response),
        (b":42\r\n", Response),
        (b":-1\r\n", Response),
        (b"$5\r\nhello\r\n", Response),
        (b"$-1\r\n", Response),
        (b"$?\r\n", Response),
        (b"*2\r\n$1\r\n", Response),
        (b"*0\r\n", Response),
        (b"*-1\r\n", Response),
        (b"*?\r\n:1\r\n", Response),
        (b"%1\r\n+a\r\n", Response),
        (b"~2\r\n:1\r\n", Response),
        (b">3\r\n$7\r\n", Response),
        (b"|1\r\n+a\r\n", Response),
        (b"_\r\n", Response),
        (b"#t\r\n", Response),
        (b",3.14\r\n", Response),
        (b",inf\r\n", Response),
        (b"(123\r\n", Response),
        (b"!5\r\nERR x\r\n", Response),
        (b"=7\r\ntxt:abc\r\n", Response),
        (
            b"+a status line longer than the window of thirty-two bytes",
            Response,
        ),
        (b"", NeedMore),
        (b"+OK", NeedMore),
        (b"+OK\r", NeedMore),
        (b"$5", NeedMore),
        (b"*2\r\n", NeedMore),
        (b"#", NeedMore),
        (b"-err lower case\r\n", NotRedis),
        (b"+OK\n", NotRedis),
        (b"+\x01\r\n", NotRedis),
        (b"$x\r\n", NotRedis),
        (b"$-2\r\n", NotRedis),
        (b"=-1\r\n", NotRedis),
        (b"|?\r\n", NotRedis),
        (b"*2\r\nhello", NotRedis),
        (b"#x\r\n", NotRedis),
        (b"HTTP/1.1 200 OK\r\n", NotRedis),
        (b"*1\r\n$4\r\nPING\r\n", Response),
    ];
    for (bytes, want) in requests {
        assert_eq!(
            infer(bytes, Q),
            *want,
            "req {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    for (bytes, want) in responses {
        assert_eq!(
            infer(bytes, R),
            *want,
            "resp {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // Every prefix of an accepted start is NeedMore or the same answer.
    for (kind, table) in [(Q, requests), (R, responses)] {
        for (bytes, want) in table.iter().filter(|(_, w)| *w != NotRedis) {
            for n in 0..bytes.len() {
                let got = infer(&bytes[..n], kind);
                assert!(
                    got == NeedMore || got == *want,
                    "{:?} prefix {n}: {got:?}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }
    // Bounded: a huge printable status line is decided within the window.
    let mut long = b"+".to_vec();
    long.extend(std::iter::repeat_n(b'a', 1 << 20));
    assert_eq!(infer(&long, R), Response);
}

// ---------------------------------------------------------------------------------------
// Replies: every type, rendered by default and with full capture.

/// (reply bytes, default rendering, full-capture rendering, bulk bytes, error)
const REPLIES: &[(&[u8], &str, &str, u64, bool)] = &[
    (b"+OK\r\n", "OK", "OK", 0, false),
    (b"+\r\n", "", "", 0, false),
    (b"-ERR bad\r\n", "ERR bad", "ERR bad", 0, true),
    (b":42\r\n", "42", "42", 0, false),
    (b":-7\r\n", "-7", "-7", 0, false),
    (b"$5\r\nhello\r\n", "<redacted>", "hello", 5, false),
    (b"$0\r\n\r\n", "\"\"", "", 0, false),
    (b"$4\r\na\r\nb\r\n", "<redacted>", "a\\x0d\\x0ab", 4, false),
    (b"$-1\r\n", "<NULL>", "<NULL>", 0, false),
    (b"*-1\r\n", "<NULL>", "<NULL>", 0, false),
    (b"_\r\n", "<NULL>", "<NULL>", 0, false),
    (b"*0\r\n", "array[0]", "[]", 0, false),
    (
        b"*3\r\n$1\r\na\r\n:2\r\n$-1\r\n",
        "array[3]",
        "[\"a\",2,null]",
        1,
        false,
    ),
    (
        b"*2\r\n*1\r\n+x\r\n%1\r\n+k\r\n#t\r\n",
        "array[2]",
        "[[\"x\"],{\"k\":true}]",
        0,
        false,
    ),
    (
        b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n",
        "map[2]",
        "{\"a\":1,\"b\":2}",
        0,
        false,
    ),
    (b"~2\r\n+a\r\n+b\r\n", "set[2]", "[\"a\",\"b\"]", 0, false),
    (b"#t\r\n", "true", "true", 0, false),
    (b"#f\r\n", "false", "false", 0, false),
    (b",3.25\r\n", "3.25", "3.25", 0, false),
    (b",-inf\r\n", "-inf", "-inf", 0, false),
    (
        b"(12345678901234567890123\r\n",
        "12345678901234567890123",
        "12345678901234567890123",
        0,
        false,
    ),
    (b"!9\r\nSYNTAX no\r\n", "SYNTAX no", "SYNTAX no", 0, true),
    (b"=8\r\ntxt:abcd\r\n", "<redacted>", "abcd", 8, false),
    (
        b"$?\r\n;2\r\nab\r\n;1\r\nc\r\n;0\r\n",
        "<redacted>",
        "abc",
        3,
        false,
    ),
    (b"*?\r\n:1\r\n:2\r\n.\r\n", "array[2]", "[1,2]", 0, false),
    (b"%?\r\n+a\r\n:1\r\n.\r\n", "map[1]", "{\"a\":1}", 0, false),
    (b"~?\r\n.\r\n", "set[0]", "[]", 0, false),
    // Attributes are parsed and skipped, at the top and inside aggregates.
    (
        b"|1\r\n+ttl\r\n:10\r\n$2\r\nhi\r\n",
        "<redacted>",
        "hi",
        2,
        false,
    ),
    (
        b"*2\r\n|1\r\n+a\r\n*1\r\n:1\r\n:1\r\n:2\r\n",
        "array[2]",
        "[1,2]",
        0,
        false,
    ),
    (b"|0\r\n+OK\r\n", "OK", "OK", 0, false),
];

fn one_reply(cfg: RedisConfig, bytes: &[u8]) -> Run {
    let mut r = Run::with(cfg);
    r.req(1, &cmd(&["GET", "k"])).resp(2, bytes);
    r
}

#[test]
fn reply_table_default_and_full() {
    for &(bytes, default, full, bulk, error) in REPLIES {
        let what = String::from_utf8_lossy(bytes);
        let r = one_reply(RedisConfig::default(), bytes);
        assert_eq!(r.out.len(), 1, "{what}: {:?}", r.stats());
        let rec = &r.out[0];
        assert_eq!(rec.resp, default, "{what}");
        assert_eq!(
            (rec.resp_bulk_bytes, rec.resp_error),
            (bulk, error),
            "{what}"
        );
        let r = one_reply(
            RedisConfig {
                full_capture: true,
                ..RedisConfig::default()
            },
            bytes,
        );
        assert_eq!(r.out.len(), 1, "{what}");
        assert_eq!(r.out[0].resp, full, "{what} (full)");
        assert_eq!(r.stats().parse_errors, 0, "{what}");
    }
}

/// Every strict prefix of every reply completes nothing and never panics; the rest of the
/// bytes then completes exactly one record, wherever the cut was.
#[test]
fn every_prefix_of_every_reply_needs_more() {
    for &(bytes, default, ..) in REPLIES {
        for n in 0..bytes.len() {
            let mut r = Run::new();
            r.req(1, &cmd(&["GET", "k"])).resp(2, &bytes[..n]);
            assert!(
                r.out.is_empty(),
                "{:?} prefix {n}",
                String::from_utf8_lossy(bytes)
            );
            assert_eq!(r.stats().parse_errors, 0);
            r.resp(3, &bytes[n..]);
            assert_eq!(r.out.len(), 1);
            assert_eq!(r.out[0].resp, default);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests: command names, arguments, redaction.

/// (request bytes, req_cmd, default req_args, full req_args)
const REQUESTS: &[(&[u8], &str, &str, &str)] = &[
    (b"*1\r\n$4\r\nPING\r\n", "PING", "[]", "[]"),
    (
        b"*2\r\n$3\r\nget\r\n$3\r\nkey\r\n",
        "GET",
        r#"["key"]"#,
        r#"["key"]"#,
    ),
    (
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\nsecret\r\n",
        "SET",
        r#"["k","<redacted>"]"#,
        r#"["k","secret"]"#,
    ),
    (
        b"*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
        "MSET",
        r#"["a","<redacted>","b","<redacted>"]"#,
        r#"["a","1","b","2"]"#,
    ),
    (
        b"*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n",
        "DEL",
        r#"["a","b"]"#,
        r#"["a","b"]"#,
    ),
    (
        b"*2\r\n$4\r\nAUTH\r\n$6\r\nhunter\r\n",
        "AUTH",
        r#"["<redacted>"]"#,
        r#"["hunter"]"#,
    ),
    (
        b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\nv\r\n",
        "HSET",
        r#"["h","<redacted>","<redacted>"]"#,
        r#"["h","f","v"]"#,
    ),
    (
        b"*3\r\n$6\r\nCLIENT\r\n$7\r\nsetname\r\n$2\r\nme\r\n",
        "CLIENT SETNAME",
        r#"["me"]"#,
        r#"["me"]"#,
    ),
    (
        b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n",
        "CONFIG SET",
        r#"["requirepass","<redacted>"]"#,
        r#"["requirepass","pw"]"#,
    ),
    (
        b"*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n",
        "CLIENT INFO",
        "[]",
        "[]",
    ),
    (b"*1\r\n$6\r\nCLIENT\r\n", "CLIENT", "[]", "[]"),
    (
        b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$3\r\nmsg\r\n",
        "PUBLISH",
        r#"["ch","<redacted>"]"#,
        r#"["ch","msg"]"#,
    ),
    (
        b"*2\r\n$7\r\nUNKNOWN\r\n$1\r\nx\r\n",
        "UNKNOWN",
        r#"["<redacted>"]"#,
        r#"["x"]"#,
    ),
    (
        b"*2\r\n$3\r\nGET\r\n$3\r\na\"\xff\r\n",
        "GET",
        r#"["a\"\xff"]"#,
        r#"["a\"\xff"]"#,
    ),
    (
        b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n",
        "HELLO",
        r#"["3","<redacted>","<redacted>","<redacted>"]"#,
        r#"["3","AUTH","u","pw"]"#,
    ),
    (
        b"SET k \"a b\"\r\n",
        "SET",
        r#"["k","<redacted>"]"#,
        r#"["k","a b"]"#,
    ),
    (b"ping\n", "PING", "[]", "[]"),
];

#[test]
fn request_table_redacts_by_default() {
    for &(bytes, name, default, full) in REQUESTS {
        let what = String::from_utf8_lossy(bytes);
        for (cfg, want) in [
            (RedisConfig::default(), default),
            (
                RedisConfig {
                    full_capture: true,
                    ..RedisConfig::default()
                },
                full,
            ),
        ] {
            let mut r = Run::with(cfg);
            r.req(1, bytes).resp(2, b"+OK\r\n");
            assert_eq!(r.triples(), [(name, want, "OK")], "{what}");
        }
    }
}

#[test]
fn every_prefix_of_every_request_needs_more() {
    for &(bytes, name, default, _) in REQUESTS {
        for n in 0..bytes.len() {
            let mut r = Run::new();
            r.req(1, &bytes[..n]);
            assert_eq!(
                r.stats().requests,
                0,
                "{:?} prefix {n}",
                String::from_utf8_lossy(bytes)
            );
            r.req(2, &bytes[n..]).resp(3, b"+OK\r\n");
            assert_eq!(r.triples(), [(name, default, "OK")]);
        }
    }
}

#[test]
fn argument_limits() {
    let cfg = RedisConfig {
        max_args: 2,
        max_arg_bytes: 3,
        full_capture: true,
        ..RedisConfig::default()
    };
    let mut r = Run::with(cfg);
    r.req(1, &cmd(&["RPUSH", "list", "abcdef", "x", "y"]))
        .resp(2, b":3\r\n");
    assert_eq!(r.out[0].req_args, r#"["lis...","abc...","<+2 more>"]"#);
    let mut r = Run::with(RedisConfig {
        max_resp_bytes: 8,
        full_capture: true,
        ..RedisConfig::default()
    });
    r.req(1, &cmd(&["GET", "k"]))
        .resp(2, b"$20\r\n01234567890123456789\r\n");
    assert_eq!(r.out[0].resp, "01234567...");
    assert_eq!(r.out[0].resp_bulk_bytes, 20);
}

#[test]
fn empty_commands_are_ignored() {
    let mut r = Run::new();
    r.req(1, b"*0\r\n*-1\r\n\r\n  \r\n");
    assert_eq!(r.stats().requests, 0);
    assert_eq!(r.stats().parse_errors, 0);
    r.req(2, &cmd(&["PING"])).resp(3, b"+PONG\r\n");
    assert_eq!(r.triples(), [("PING", "[]", "PONG")]);
}

#[test]
fn unknown_command_error_does_not_leak_arguments() {
    let mut r = Run::new();
    r.req(1, &cmd(&["NOPE", "secret"])).resp(
        2,
        b"-ERR unknown command 'NOPE', with args beginning with: 'secret' \r\n",
    );
    assert_eq!(r.out[0].resp, "ERR unknown command 'NOPE'");
    assert!(r.out[0].resp_error);
}

// ---------------------------------------------------------------------------------------
// Malformed input.

#[test]
fn grammar_errors() {
    use RedisParseError::*;
    let replies: &[(&[u8], RedisParseError)] = &[
        (b"?\r\n", InvalidType { byte: b'?' }),
        (b":12a\r\n", InvalidNumber { ty: ':' }),
        (b"$abc\r\n", InvalidNumber { ty: '$' }),
        (b"$-2\r\n", InvalidNumber { ty: '$' }),
        (b"=-1\r\n", InvalidNumber { ty: '=' }),
        (b"#x\r\n", InvalidNumber { ty: '#' }),
        (b"_x\r\n", InvalidNumber { ty: '_' }),
        (b",abc\r\n", InvalidNumber { ty: ',' }),
        (b"+OK\n", MissingCrlf),
        (b"$2\r\nabcd\r\n", MissingCrlf),
        (b".\r\n", Streamed),
        (b";3\r\n", InvalidType { byte: b';' }),
        (b"$?\r\n+x\r\n", Streamed),
        (b"%?\r\n+a\r\n.\r\n", Streamed),
        (b"|?\r\n", InvalidNumber { ty: '|' }),
    ];
    for &(bytes, err) in replies {
        let mut r = Run::new();
        r.req(1, &cmd(&["GET", "k"])).resp(2, bytes);
        assert_eq!(
            r.last_error(R),
            Some(err),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        assert_eq!(r.stats().parse_errors, 1);
        assert!(r.out.is_empty());
        // The waiting command may have lost its reply: dropped.
        assert_eq!(r.stats().unanswered_requests, 1);
    }
    let requests: &[(&[u8], RedisParseError)] = &[
        (b"*1\r\n:1\r\n", RequestShape),
        (b"*1\r\n*1\r\n$1\r\na\r\n", RequestShape),
        (b"*?\r\n", RequestShape),
        (b"*1\r\n$?\r\n", RequestShape),
        (b"*1\r\n$-1\r\n", RequestShape),
        (b"SET k \"open\r\n", InlineQuotes),
        (b"*x\r\n", InvalidNumber { ty: '*' }),
    ];
    for &(bytes, err) in requests {
        let mut r = Run::new();
        r.req(1, bytes);
        assert_eq!(
            r.last_error(Q),
            Some(err),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        assert_eq!(r.stats().parse_errors, 1);
        assert_eq!(r.stats().requests, 0);
    }
}

// ---------------------------------------------------------------------------------------
// Limits.

#[test]
fn nesting_depth_is_limited() {
    let cfg = RedisConfig {
        max_depth: 4,
        ..RedisConfig::default()
    };
    let deep = |n: usize| {
        let mut v = b"*1\r\n".repeat(n);
        v.extend_from_slice(b":1\r\n");
        v
    };
    let r = one_reply(cfg.clone(), &deep(4));
    assert_eq!(r.out.len(), 1);
    let r = one_reply(cfg, &deep(5));
    assert_eq!(r.last_error(R), Some(RedisParseError::TooDeep { limit: 4 }));
    // A million levels with the default limit: an error, not a stack overflow.
    let r = one_reply(RedisConfig::default(), &b"*1\r\n".repeat(1_000_000));
    assert_eq!(
        r.last_error(R),
        Some(RedisParseError::TooDeep { limit: 32 })
    );
}

#[test]
fn declared_lengths_are_limited() {
    let cfg = RedisConfig {
        max_aggregate_len: 10,
        max_bulk_len: 100,
        max_line_len: 16,
        ..RedisConfig::default()
    };
    let cases: &[(&[u8], RedisParseError)] = &[
        (b"*11\r\n", RedisParseError::AggregateTooLong { limit: 10 }),
        (b"%11\r\n", RedisParseError::AggregateTooLong { limit: 10 }),
        (b"$101\r\n", RedisParseError::BulkTooLong { limit: 100 }),
        (
            b"$?\r\n;101\r\n",
            RedisParseError::BulkTooLong { limit: 100 },
        ),
        (
            b"+0123456789abcdefg\r\n",
            RedisParseError::LineTooLong { limit: 16 },
        ),
    ];
    for &(bytes, err) in cases {
        let r = one_reply(cfg.clone(), bytes);
        assert_eq!(
            r.last_error(R),
            Some(err),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let r = one_reply(RedisConfig::default(), b"*99999999999999999999\r\n");
    assert_eq!(
        r.last_error(R),
        Some(RedisParseError::InvalidNumber { ty: '*' })
    );
    // A line without LF is rejected once it passes the limit, in any number of pushes.
    let mut r = Run::with(cfg.clone());
    r.req(1, &cmd(&["GET", "k"]));
    for _ in 0..10 {
        r.resp(2, b"+abc");
    }
    assert_eq!(
        r.last_error(R),
        Some(RedisParseError::LineTooLong { limit: 16 })
    );
    // At the limit is fine.
    let r = one_reply(cfg, b"+0123456789abcdef\r\n");
    assert_eq!(r.out[0].resp, "0123456789abcdef");
}

#[test]
fn pending_commands_are_limited() {
    let mut r = Run::with(RedisConfig {
        max_pending: 2,
        ..RedisConfig::default()
    });
    r.req(1, &cmd(&["INCR", "a"]))
        .req(2, &cmd(&["INCR", "b"]))
        .req(3, &cmd(&["INCR", "c"]));
    assert_eq!(r.stats().pending_overflow, 1);
    assert_eq!(r.conn.stitch.pending_len(), 2);
    r.resp(4, b":1\r\n:2\r\n:3\r\n");
    // The reply of the dropped command is discarded, the others pair correctly.
    assert_eq!(
        r.triples(),
        [("INCR", r#"["b"]"#, "2"), ("INCR", r#"["c"]"#, "3")]
    );
}

// ---------------------------------------------------------------------------------------
// Pairing: pipelining, MULTI/EXEC, pub/sub, HELLO, timestamps.

#[test]
fn pipelined_commands_pair_in_order() {
    let mut reqs = Vec::new();
    for i in 0..5 {
        reqs.extend(cmd(&["INCRBY", "n", &i.to_string()]));
    }
    let mut r = Run::new();
    r.req(10, &reqs)
        .resp(20, b":0\r\n:1\r\n:3\r\n:6\r\n:10\r\n");
    let resps: Vec<&str> = r.out.iter().map(|x| x.resp.as_str()).collect();
    assert_eq!(resps, ["0", "1", "3", "6", "10"]);
    assert!(r.out.iter().all(|x| x.latency_ns() == 10));
}

#[test]
fn multi_exec_records_each_queued_command() {
    let mut r = Run::new();
    let mut reqs = cmd(&["MULTI"]);
    reqs.extend(cmd(&["SET", "a", "1"]));
    reqs.extend(cmd(&["INCR", "a"]));
    reqs.extend(cmd(&["EXEC"]));
    r.req(1, &reqs)
        .resp(2, b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n");
    assert_eq!(
        r.triples(),
        [
            ("MULTI", "[]", "OK"),
            ("SET", r#"["a","<redacted>"]"#, "QUEUED"),
            ("INCR", r#"["a"]"#, "QUEUED"),
            ("EXEC", "[]", "array[2]")
        ]
    );
}

#[test]
fn resp2_subscribe_and_messages() {
    let mut r = Run::new();
    r.req(1, &cmd(&["SUBSCRIBE", "a", "b"]))
        .resp(2, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    assert!(r.out.is_empty(), "waits for the second confirmation");
    r.resp(3, b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n")
        .resp(4, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$6\r\nsecret\r\n")
        .resp(
            5,
            b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\ncd\r\n$1\r\nx\r\n",
        );
    assert_eq!(
        r.triples(),
        [
            ("SUBSCRIBE", r#"["a","b"]"#, r#"["subscribe","b",2]"#),
            ("PUSH PUB", "", r#"["message","a","<redacted>"]"#),
            ("PUSH PUB", "", r#"["pmessage","c*","cd","<redacted>"]"#),
        ]
    );
    let sub = &r.out[0];
    assert_eq!((sub.resp_ts_start_ns, sub.resp_ts_end_ns), (2, 3));
    assert!(r.out[1].is_push && r.out[1].latency_ns() == 0);
    // UNSUBSCRIBE with no argument: frames until the count is 0.
    r.req(6, &cmd(&["UNSUBSCRIBE"]))
        .resp(7, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n");
    assert_eq!(r.out.len(), 3);
    r.resp(8, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n");
    assert_eq!(r.out[3].resp, r#"["unsubscribe","b",0]"#);
    // Not subscribed any more: a message-shaped array answers the next command.
    r.req(9, &cmd(&["LRANGE", "l", "0", "-1"]))
        .resp(10, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n");
    assert_eq!(r.out[4].req_cmd, "LRANGE");
    assert_eq!(r.stats().pushes, 2);
    let full = {
        let mut r = Run::with(RedisConfig {
            full_capture: true,
            ..RedisConfig::default()
        });
        r.resp(1, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$6\r\nsecret\r\n");
        r.out[0].resp.clone()
    };
    assert_eq!(full, r#"["message","a","secret"]"#);
}

#[test]
fn resp3_pushes_and_hello() {
    let mut r = Run::new();
    assert_eq!(r.conn.resp_version(), 2);
    r.req(1, &cmd(&["HELLO", "3"]))
        .resp(2, b"%1\r\n$5\r\nproto\r\n:3\r\n");
    assert_eq!(r.conn.resp_version(), 3);
    r.req(3, &cmd(&["SUBSCRIBE", "ch"]))
        .resp(4, b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
        .resp(5, b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
        .resp(6, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n");
    // A push arriving while a command waits does not take its reply.
    r.req(7, &cmd(&["GET", "k"])).resp(
        8,
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$1\r\nv\r\n",
    );
    assert_eq!(
        r.triples(),
        [
            ("HELLO", r#"["3"]"#, "map[1]"),
            ("SUBSCRIBE", r#"["ch"]"#, r#"["subscribe","ch",1]"#),
            ("PUSH PUB", "", r#"["message","ch","<redacted>"]"#),
            ("PUSH", "", "push[2]"),
            ("PUSH", "", "push[2]"),
            ("GET", r#"["k"]"#, "<redacted>"),
        ]
    );
    // A failed HELLO keeps the version.
    let mut r = Run::new();
    r.req(1, &cmd(&["HELLO", "4"]))
        .resp(2, b"-NOPROTO unsupported protocol version\r\n");
    assert_eq!(r.conn.resp_version(), 2);
}

#[test]
fn reply_before_command_is_unmatched() {
    let mut r = Run::new();
    r.resp(5, b"+OK\r\n")
        .req(10, &cmd(&["PING"]))
        .resp(4, b"+PONG\r\n");
    assert!(r.out.is_empty());
    assert_eq!(r.stats().unmatched_responses, 2);
    r.close(20);
    assert_eq!(r.stats().unanswered_requests, 1);
}

#[test]
fn close_counts_incomplete_frames() {
    let mut r = Run::new();
    r.req(1, b"*2\r\n$3\r\nGET\r\n")
        .resp(2, b"$10\r\nabc")
        .close(3);
    assert_eq!(r.stats().incomplete_at_close, 2);
    // Reusable after close.
    r.req(4, &cmd(&["PING"])).resp(5, b"+PONG\r\n");
    assert_eq!(r.out.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Gaps and resynchronisation.

#[test]
fn gap_inside_bulk_is_skipped() {
    let mut r = Run::new();
    r.req(1, &cmd(&["GET", "big"]))
        .resp(2, b"$10\r\nabc")
        .gap(R, 3, 4)
        .resp(4, b"hij\r\n");
    assert_eq!(r.triples(), [("GET", r#"["big"]"#, "<redacted>")]);
    assert_eq!(r.out[0].resp_bulk_bytes, 10);
    assert_eq!(r.stats().gap_bytes_skipped, 4);
    assert_eq!(r.stats().messages_lost_to_gaps, 0);
}

#[test]
fn response_gap_resyncs_at_next_frame() {
    let mut r = Run::new();
    r.req(1, &cmd(&["GET", "a"]))
        .resp(2, b"*3\r\n:1\r\n")
        .gap(R, 3, 100)
        .resp(4, b"garbage\r\n:2\r\n");
    // The reply in progress is cut: its command gets a truncated record; the stray ":2"
    // is unmatched.
    assert_eq!(r.triples(), [("GET", r#"["a"]"#, "array <truncated>")]);
    assert_eq!(r.stats().truncated_replies, 1);
    assert_eq!(r.stats().messages_lost_to_gaps, 0);
    assert_eq!(r.stats().unanswered_requests, 0);
    assert_eq!(r.stats().resyncs, 1);
    assert_eq!(r.stats().unmatched_responses, 1);
    assert_eq!(r.stats().parse_errors, 0);
    r.req(5, &cmd(&["GET", "b"])).resp(6, b"+OK\r\n");
    assert_eq!(r.triples()[1..], [("GET", r#"["b"]"#, "OK")]);
}

#[test]
fn cut_reply_answers_its_command_and_later_ones_are_dropped() {
    // Pipelined: the gap cut the first reply and may have swallowed the second, so only the
    // first command's record is certain.
    let mut r = Run::new();
    r.req(
        1,
        &[cmd(&["LRANGE", "l", "0", "-1"]), cmd(&["GET", "x"])].concat(),
    )
    .resp(2, b"*1000\r\n$3\r\nabc\r\n")
    .gap(R, 3, 100_000);
    assert_eq!(
        r.triples(),
        [(
            "LRANGE",
            r#"["l","<redacted>","<redacted>"]"#,
            "array <truncated>"
        )]
    );
    assert_eq!(r.out[0].resp_ts_end_ns, 3);
    assert_eq!(r.stats().unanswered_requests, 1);
}

#[test]
fn request_gap_resyncs_at_next_array() {
    let mut r = Run::new();
    r.req(1, b"*3\r\n$3\r\nSET\r\n$1\r\nk")
        .gap(Q, 2, 50)
        .req(3, b"lue\r\n")
        .req(4, b"junk *2\r\n")
        .req(5, &cmd(&["GET", "k"]));
    assert_eq!(r.stats().messages_lost_to_gaps, 1);
    assert_eq!(r.stats().resyncs, 1);
    assert_eq!(r.stats().requests, 1);
    assert!(!r.conn.req.is_resyncing());
    // The reply of the lost SET (sent before GET) is discarded at the barrier; GET pairs.
    r.resp(2, b"+OK\r\n").resp(6, b"$1\r\nv\r\n");
    assert_eq!(r.triples(), [("GET", r#"["k"]"#, "<redacted>")]);
    assert_eq!(r.stats().unmatched_responses, 1);
}

#[test]
fn gap_at_frame_boundary_resyncs_immediately() {
    let mut r = Run::new();
    r.req(1, &cmd(&["PING"]))
        .gap(Q, 2, 30)
        .req(3, &cmd(&["GET", "x"]))
        .resp(4, b"+PONG\r\n$-1\r\n");
    assert_eq!(
        r.triples(),
        [("PING", "[]", "PONG"), ("GET", r#"["x"]"#, "<NULL>")]
    );
    assert_eq!(r.stats().resyncs, 1);
    assert_eq!(r.stats().messages_lost_to_gaps, 0);
}

#[test]
fn tentative_frames_that_fail_are_not_parse_errors() {
    let mut r = Run::new();
    r.req(1, &cmd(&["GET", "a"]))
        .gap(R, 2, 10)
        .resp(3, b"xx\r\n*2\r\nbad\r\n-lower\r\n+fine\r\n");
    assert_eq!(r.stats().parse_errors, 0);
    assert_eq!(r.stats().resyncs, 1);
}

/// Found by the fuzzer: a line that breaks the limit and ends in the same push must resume the
/// scan after its LF, as it does when the LF comes in a later push.
#[test]
fn too_long_line_resumes_after_its_lf() {
    let cfg = RedisConfig {
        max_line_len: 8,
        ..RedisConfig::default()
    };
    let long: &[u8] = b"$3\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    let next: &[u8] = b"\n$1\r\nv\r\n";
    let mut split = Run::with(cfg.clone());
    split.gap(R, 1, 10).resp(2, long).resp(2, next);
    let mut merged = Run::with(cfg);
    merged.gap(R, 1, 10).resp(2, &[long, next].concat());
    assert_eq!(split.stats(), merged.stats());
    assert_eq!(merged.stats().resyncs, 1);
}
