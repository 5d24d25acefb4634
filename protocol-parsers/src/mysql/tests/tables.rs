//! Hand-written byte strings, one rule each.

use super::super::stitch::normalize_for_test;
use super::*;

// ---------------------------------------------------------------------------------------
// infer (grammar in infer.rs)

#[test]
fn infer_table() {
    use Inference::*;
    let requests: &[(&[u8], Inference)] = &[
        (b"\x09\x00\x00\x00\x03SELECT 1", Request),
        (b"\x01\x00\x00\x00\x0e", Request), // COM_PING
        (b"\x05\x00\x00\x00\x19\x01\x00\x00\x00", Request), // COM_STMT_CLOSE
        (b"\x20\x00\x00\x01\x05\xa6", Request), // SSLRequest
        (b"\x50\x00\x00\x01\x85\xa6\x3f\x00", Request), // HandshakeResponse41
        (b"", NeedMore),
        (b"\x09\x00\x00", NeedMore),
        (b"\x09\x00\x00\x00", NeedMore),
        (b"\x50\x00\x00\x01\x85", NeedMore),
        (b"\x02\x00\x00\x00\x0e", NotMysql), // COM_PING has one byte
        (b"\x09\x00\x00\x00\x00", NotMysql), // COM_SLEEP
        (b"\x09\x00\x00\x05\x03", NotMysql), // sequence id 5
        (b"\x50\x00\x00\x01\x85\x00", NotMysql), // no CLIENT_PROTOCOL_41
        (b"\x00\x00\x00\x00\x03", NotMysql), // empty
        (b"GET / HTTP/1.1\r\n", NotMysql),
        (b"*1\r\n$4\r\nPING\r\n", NotMysql),
        (b"\x16\x03\x01\x00\xa5", NotMysql),
    ];
    let responses: &[(&[u8], Inference)] = &[
        (b"\x58\x00\x00\x00\x0a5.5.5-10.11", Response),
        (b"\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00", Response),
        (b"\x17\x00\x00\x01\xff\x7a\x04#42S02", Response),
        (b"\x01\x00\x00\x01\x03", Response),
        (b"\x13\x00\x00\x00\xff\x10\x04Too many", Response),
        (b"", NeedMore),
        (b"\x58\x00\x00\x00", NeedMore),
        (b"\x58\x00\x00\x00\x0a", NeedMore),
        (b"\x58\x00\x00\x00\x0ax", NotMysql),
        (b"\x02\x00\x00\x01\x03", NotMysql), // a column count is one byte
        (b"\x07\x00\x00\x02\x00", NotMysql), // sequence id 2
        (b"HTTP/1.1 200 OK\r\n", NotMysql),
        (b"+OK\r\n", NotMysql),
    ];
    for (bytes, want) in requests {
        assert_eq!(infer(bytes, Q), *want, "request {bytes:?}");
    }
    for (bytes, want) in responses {
        assert_eq!(infer(bytes, R), *want, "response {bytes:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Connection phase

fn login(r: &mut Run, caps: u32) {
    r.resp(1, &greeting(caps));
    r.req(2, &handshake_response(caps, b"\x01\x02hunter2-scrambled"));
    r.resp(3, &ok(2, 0, 2));
}

#[test]
fn handshake_then_query() {
    let mut r = Run::new();
    login(&mut r, CAPS);
    r.req(4, &query("SELECT a FROM t WHERE a = 1"));
    r.resp(5, &result_set(1, 2, false, 2));
    assert_eq!(
        r.rows(),
        [(3, "SELECT a FROM t WHERE a = ?", 2, "1 column, 2 rows", 2)]
    );
    assert_eq!((r.stats().handshakes, r.stats().auth_messages), (1, 1));
    assert_eq!(r.out[0].latency_ns(), 1);
}

#[test]
fn deprecate_eof_negotiated() {
    // Server offers it, client asks for it: no EOF after definitions, OK-as-EOF at the end.
    let mut r = Run::new();
    login(&mut r, CAPS_DEPRECATE_EOF);
    r.req(4, &query("SELECT a, b FROM t"));
    r.resp(5, &result_set(2, 3, true, 2));
    r.req(6, &query("SELECT a FROM t WHERE 0"));
    r.resp(7, &result_set(1, 0, true, 2));
    assert_eq!(
        r.rows(),
        [
            (3, "SELECT a, b FROM t", 2, "2 columns, 3 rows", 3),
            (3, "SELECT a FROM t WHERE ?", 2, "1 column, 0 rows", 0),
        ]
    );
    // Server offers it, client does not: classic EOFs.
    let mut r = Run::new();
    r.resp(1, &greeting(CAPS_DEPRECATE_EOF));
    r.req(2, &handshake_response(CAPS, b""));
    r.resp(3, &ok(2, 0, 2));
    r.req(4, &query("SELECT a FROM t WHERE 0"));
    r.resp(5, &result_set(1, 0, false, 2));
    assert_eq!(
        r.rows(),
        [(3, "SELECT a FROM t WHERE ?", 2, "1 column, 0 rows", 0)]
    );
}

#[test]
fn mid_connection_start_tells_eof_by_length() {
    for deprecate in [false, true] {
        let mut r = Run::new();
        r.req(1, &query("SELECT 1"));
        r.resp(2, &result_set(1, 1, deprecate, 2));
        r.req(3, &query("SELECT 2 WHERE 0"));
        r.resp(4, &result_set(1, 0, deprecate, 2));
        assert_eq!(
            r.rows(),
            [
                (3, "SELECT ?", 2, "1 column, 1 row", 1),
                (3, "SELECT ? WHERE ?", 2, "1 column, 0 rows", 0)
            ],
            "{deprecate}"
        );
    }
}

#[test]
fn ssl_request_ignores_the_rest() {
    let mut r = Run::new();
    r.resp(1, &greeting(CAPS | 0x0800));
    let mut b = (CAPS | 0x0800).to_le_bytes().to_vec();
    b.extend_from_slice(&[0; 28]);
    r.req(2, &pkt(1, &b));
    r.req(3, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    r.resp(4, b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76");
    r.req(5, &query("SELECT 1"));
    assert!(r.out.is_empty());
    assert_eq!(r.stats().encrypted_sessions, 1);
    assert_eq!(r.stats().parse_errors, 0);
}

#[test]
fn auth_switch_and_more_data_are_skipped() {
    let mut r = Run::new();
    r.resp(1, &greeting(CAPS));
    r.req(2, &handshake_response(CAPS, b"xx"));
    r.resp(3, &pkt(2, b"\xfemysql_clear_password\0salt"));
    r.req(4, &pkt(3, b"cleartext-password\0"));
    r.resp(5, &pkt(4, b"\x01\x03"));
    r.resp(6, &ok(5, 0, 2));
    r.req(7, &com(0x0e, b""));
    r.resp(8, &ok(1, 0, 2));
    assert_eq!(r.rows(), [(0x0e, "", 2, "OK affected=0", 0)]);
    assert_eq!(r.stats().auth_messages, 4);
    assert!(!format!("{:?}", r.conn).contains("cleartext"));
    assert!(!format!("{:?}", r.conn).contains("hunter"));
}

#[test]
fn login_refused() {
    let mut r = Run::new();
    r.resp(1, &greeting(CAPS));
    r.req(2, &handshake_response(CAPS, b"xx"));
    r.resp(3, &err(2, 1045, "28000", "Access denied for user 'root'"));
    assert!(r.out.is_empty());
    assert_eq!(r.stats().auth_failures, 1);
}

// ---------------------------------------------------------------------------------------
// COM_QUERY answers

#[test]
fn ok_and_error_answers() {
    let mut r = Run::new();
    r.req(1, &query("INSERT INTO t VALUES (1, 'a')"));
    r.resp(2, &pkt(1, b"\x00\x01\x05\x02\x00\x01\x00"));
    r.req(3, &query("SELECT * FROM nope"));
    r.resp(4, &err(1, 1146, "42S02", "Table 'app.nope' doesn't exist"));
    assert_eq!(
        r.rows(),
        [
            (
                3,
                "INSERT INTO t VALUES (?, ?)",
                2,
                "OK affected=1 insert_id=5 warnings=1",
                1
            ),
            (
                3,
                "SELECT * FROM nope",
                3,
                "1146 (42S02): Table 'app.nope' doesn't exist",
                0
            ),
        ]
    );
    assert_eq!(
        (r.out[1].error_code, r.out[1].sql_state.as_str()),
        (1146, "42S02")
    );
}

#[test]
fn multi_results_make_one_record() {
    let mut r = Run::new();
    login(&mut r, CAPS);
    r.req(
        4,
        &query("INSERT INTO t VALUES (1); SELECT a FROM t; DELETE FROM t"),
    );
    let mut a = ok(1, 1, 0x0a);
    let mut rs = result_set(1, 2, false, 0x0a);
    for (i, chunk) in [&mut rs].into_iter().enumerate() {
        let _ = i;
        // Renumber: the second result starts at sequence id 2.
        let mut at = 0;
        let mut seq = 2u8;
        while at < chunk.len() {
            let len = u32::from_le_bytes([chunk[at], chunk[at + 1], chunk[at + 2], 0]) as usize;
            chunk[at + 3] = seq;
            seq += 1;
            at += 4 + len;
        }
    }
    a.extend(rs);
    a.extend(ok(7, 2, 2));
    r.resp(5, &a);
    assert_eq!(
        r.rows(),
        [(
            3,
            "INSERT INTO t VALUES (?); SELECT a FROM t; DELETE FROM t",
            2,
            "OK affected=1; 1 column, 2 rows; OK affected=2",
            5
        )]
    );
}

#[test]
fn error_inside_a_result_set() {
    let mut r = Run::new();
    let mut a = pkt(1, &[1]);
    a.extend(coldef(2));
    a.extend(eof(3, 2));
    a.extend(pkt(4, b"\x011"));
    a.extend(err(5, 1317, "70100", "Query execution was interrupted"));
    r.req(1, &query("SELECT SLEEP(10)"));
    r.resp(2, &a);
    assert_eq!(r.out[0].resp_status, STATUS_ERROR);
    assert_eq!(r.out[0].rows, 1);
    assert_eq!(r.out[0].error_code, 1317);
}

#[test]
fn local_infile_data_is_counted_not_kept() {
    let mut r = Run::new();
    login(&mut r, CAPS);
    r.req(
        4,
        &query("LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t"),
    );
    r.resp(5, &pkt(1, b"\xfb/tmp/x.csv"));
    r.req(6, &pkt(2, b"1\tsecret-row\n"));
    r.req(7, &pkt(3, b""));
    r.resp(8, &ok(4, 1, 2));
    assert_eq!(
        r.rows(),
        [(
            3,
            "LOAD DATA LOCAL INFILE ? INTO TABLE t",
            2,
            "LOCAL INFILE; OK affected=1",
            1
        )]
    );
    assert_eq!(r.stats().local_infile_packets, 2);
    assert!(!format!("{:?}", r.conn).contains("secret-row"));
}

// ---------------------------------------------------------------------------------------
// Prepared statements and other commands

fn prepare_ok(id: u32, cols: u16, params: u16) -> Vec<u8> {
    let mut b = vec![0x00];
    b.extend_from_slice(&id.to_le_bytes());
    b.extend_from_slice(&cols.to_le_bytes());
    b.extend_from_slice(&params.to_le_bytes());
    b.extend_from_slice(&[0, 0, 0]);
    pkt(1, &b)
}

fn execute(id: u32, param: &[u8]) -> Vec<u8> {
    let mut b = vec![0x17];
    b.extend_from_slice(&id.to_le_bytes());
    b.extend_from_slice(b"\x00\x01\x00\x00\x00\x00\x01\xfe\x00");
    b.push(param.len() as u8);
    b.extend_from_slice(param);
    pkt(0, &b)
}

#[test]
fn prepare_execute_close() {
    let mut r = Run::new();
    login(&mut r, CAPS);
    r.req(
        4,
        &com(0x16, b"SELECT a, b FROM t WHERE id = ? AND c = 'lit'"),
    );
    let mut a = prepare_ok(7, 2, 1);
    a.extend(coldef(2));
    a.extend(eof(3, 2));
    a.extend(coldef(4));
    a.extend(coldef(5));
    a.extend(eof(6, 2));
    r.resp(5, &a);
    r.req(6, &execute(7, b"top-secret"));
    let mut a = pkt(1, &[2]);
    a.extend(coldef(2));
    a.extend(coldef(3));
    a.extend(eof(4, 2));
    a.extend(pkt(5, b"\x00\x00\x01\x01\x01x"));
    a.extend(eof(6, 2));
    r.resp(7, &a);
    r.req(8, &execute(7, b"other"));
    r.resp(9, &err(1, 1213, "40001", "Deadlock found"));
    r.req(10, &com(0x1a, &7u32.to_le_bytes()));
    r.resp(11, &ok(1, 0, 2));
    r.req(12, &com(0x19, &7u32.to_le_bytes()));
    r.req(13, &execute(7, b"x"));
    r.resp(
        14,
        &err(1, 1243, "HY000", "Unknown prepared statement handler"),
    );
    r.req(15, &com(0x01, b""));
    let sql = "SELECT a, b FROM t WHERE id = ? AND c = ?";
    assert_eq!(
        r.rows(),
        [
            (0x16, sql, 2, "statement 7: 1 params, 2 columns", 0),
            (0x17, sql, 2, "2 columns, 1 row", 1),
            (0x17, sql, 3, "1213 (40001): Deadlock found", 0),
            (0x1a, sql, 2, "OK affected=0", 0),
            (0x19, sql, 1, "", 0),
            (
                0x17,
                "",
                3,
                "1243 (HY000): Unknown prepared statement handler",
                0
            ),
            (0x01, "", 1, "", 0),
        ]
    );
    assert_eq!(r.stats().unknown_statements, 1);
    assert_eq!(r.conn.stitch.statements(), 0);
    assert!(!format!("{:?}", r.conn).contains("top-secret"));
}

#[test]
fn prepare_with_deprecate_eof_and_no_columns() {
    let mut r = Run::new();
    login(&mut r, CAPS_DEPRECATE_EOF);
    r.req(4, &com(0x16, b"INSERT INTO t VALUES (?, ?)"));
    let mut a = prepare_ok(1, 0, 2);
    a.extend(coldef(2));
    a.extend(coldef(3));
    r.resp(5, &a);
    r.req(6, &com(0x16, b"DO 1"));
    r.resp(7, &prepare_ok(2, 0, 0));
    assert_eq!(
        r.rows(),
        [
            (
                0x16,
                "INSERT INTO t VALUES (?, ?)",
                2,
                "statement 1: 2 params, 0 columns",
                0
            ),
            (0x16, "DO ?", 2, "statement 2: 0 params, 0 columns", 0),
        ]
    );
}

#[test]
fn generic_commands() {
    let mut r = Run::new();
    login(&mut r, CAPS);
    r.req(4, &com(0x02, b"shop"));
    r.resp(5, &ok(1, 0, 2));
    r.req(6, &com(0x04, b"users\0"));
    let mut a = coldef(1);
    a.extend(coldef(2));
    a.extend(eof(3, 2));
    r.resp(7, &a);
    r.req(8, &com(0x09, b""));
    r.resp(9, &pkt(1, b"Uptime: 5  Threads: 1"));
    r.req(10, &com(0x1b, b"\x00\x00"));
    r.resp(11, &eof(1, 2));
    r.req(12, &com(0x05, b"newdb"));
    r.resp(
        13,
        &err(
            1,
            1007,
            "HY000",
            "Can't create database 'newdb'; database exists",
        ),
    );
    assert_eq!(
        r.rows(),
        [
            (0x02, "shop", 2, "OK affected=0", 0),
            (0x04, "users", 2, "2 columns", 0),
            (0x09, "", 2, "statistics", 0),
            (0x1b, "", 2, "EOF", 0),
            (
                0x05,
                "newdb",
                3,
                "1007 (HY000): Can't create database 'newdb'; database exists",
                0
            ),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Redaction

#[test]
fn mysql_literals_are_replaced() {
    let cfg = MysqlConfig::default();
    let cases = [
        (
            "SELECT * FROM t WHERE a = 'x' AND b = \"y\"",
            "SELECT * FROM t WHERE a = ? AND b = ?",
        ),
        ("SELECT 'it\\'s', 'a''b', \"q\\\"\"", "SELECT ?, ?, ?"),
        (
            "SELECT `we'ird` FROM t WHERE id IN (1, 2.5, -3)",
            "SELECT `we?ird` FROM t WHERE id IN (?, ?, ?)",
        ),
        (
            "INSERT INTO t VALUES (1, 'a', NULL)",
            "INSERT INTO t VALUES (?, ?, NULL)",
        ),
        ("SELECT 'unterminated", "SELECT ?"),
    ];
    for (sql, want) in cases {
        assert_eq!(normalize_for_test(&cfg, sql), want, "{sql}");
    }
    let full = MysqlConfig {
        full_capture: true,
        ..cfg
    };
    assert_eq!(normalize_for_test(&full, "SELECT 'x'"), "SELECT 'x'");
}

// ---------------------------------------------------------------------------------------
// Truncation: every prefix is "need more", never a record, never a panic.

#[test]
fn every_prefix_needs_more() {
    let caps = CAPS;
    let mut prep = prepare_ok(3, 1, 1);
    prep.extend(coldef(2));
    prep.extend(eof(3, 2));
    prep.extend(coldef(4));
    prep.extend(eof(5, 2));
    let mut ex = pkt(1, &[1]);
    ex.extend(coldef(2));
    ex.extend(eof(3, 2));
    ex.extend(pkt(4, b"\x00\x00\x01"));
    ex.extend(eof(5, 2));
    let convo: Vec<(MessageKind, Vec<u8>)> = vec![
        (R, greeting(caps)),
        (Q, handshake_response(caps, b"pw")),
        (R, ok(2, 0, 2)),
        (Q, query("SELECT a FROM t")),
        (R, result_set(1, 2, false, 2)),
        (Q, query("DO 1")),
        (R, err(1, 1146, "42S02", "nope")),
        (Q, com(0x16, b"SELECT a FROM t WHERE b = ?")),
        (R, prep),
        (Q, execute(3, b"p")),
        (R, ex),
        (Q, com(0x19, &3u32.to_le_bytes())),
    ];
    let mut full = Run::new();
    let mut after = Vec::new();
    for (k, b) in &convo {
        full.conn.push(*k, 1, b, &mut full.out);
        after.push(full.out.len());
    }
    assert_eq!(full.out.len(), 5);
    for (at, (k, b)) in convo.iter().enumerate() {
        for cut in 0..b.len() {
            let mut r = Run::new();
            for (k2, b2) in &convo[..at] {
                r.conn.push(*k2, 1, b2, &mut r.out);
            }
            let before = r.out.len();
            r.conn.push(*k, 1, &b[..cut], &mut r.out);
            assert_eq!(r.out.len(), before, "event {at} cut {cut}");
            assert_eq!(r.stats().parse_errors, 0);
            r.conn.push(*k, 1, &b[cut..], &mut r.out);
            assert_eq!(r.out.len(), after[at], "event {at} cut {cut}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Multi-packet payloads

#[test]
fn multi_packet_query_and_row() {
    let mut r = Run::with(MysqlConfig {
        max_sql_len: 32,
        ..MysqlConfig::default()
    });
    let mut sql = b"SELECT LENGTH('".to_vec();
    sql.extend(std::iter::repeat_n(b'x', 0xFF_FFFF + 10));
    sql.extend_from_slice(b"')");
    let mut b = vec![0x03];
    b.extend_from_slice(&sql);
    let wire = payload(0, &b);
    assert_eq!(wire.len(), b.len() + 8);
    r.req(1, &wire);
    let mut a = pkt(1, &[1]);
    a.extend(coldef(2));
    a.extend(eof(3, 2));
    let mut row = vec![0xfe];
    row.extend_from_slice(&(17_000_000u64).to_le_bytes());
    row.extend(std::iter::repeat_n(b'x', 17_000_000));
    a.extend(payload(4, &row));
    a.extend(eof(6, 2));
    for chunk in a.chunks(65536) {
        r.resp(2, chunk);
    }
    assert_eq!(
        r.rows(),
        [(3, "SELECT LENGTH(?...", 2, "1 column, 1 row", 1)]
    );
    assert_eq!(r.stats().multi_packet_payloads, 2);
    // Exactly 0xFFFFFF bytes: an empty last packet follows.
    let b = vec![0x03; 0xFF_FFFF];
    let wire = payload(0, &b);
    assert_eq!(&wire[wire.len() - 4..], b"\x00\x00\x00\x01");
}

// ---------------------------------------------------------------------------------------
// Gaps and resynchronisation

#[test]
fn gap_in_a_row_is_skipped() {
    let mut r = Run::new();
    r.req(1, &query("SELECT a FROM t"));
    let rs = result_set(1, 1, false, 2);
    // The row is `\x02\x00\x00\x04\x011`: lose its payload's last byte... after ROW_KEEP.
    let mut big = pkt(1, &[1]);
    big.extend(coldef(2));
    big.extend(eof(3, 2));
    let mut row = vec![100u8];
    row.extend([b'y'; 100]);
    let row = pkt(4, &row);
    big.extend_from_slice(&row[..60]);
    r.resp(2, &big);
    r.gap(R, 3, 45);
    r.resp(4, &eof(5, 2));
    assert_eq!(r.rows(), [(3, "SELECT a FROM t", 2, "1 column, 1 row", 1)]);
    assert_eq!(r.stats().gap_bytes_skipped, 45);
    let _ = rs;
}

#[test]
fn gaps_resync_at_the_next_command() {
    let mut r = Run::new();
    r.req(1, &query("SELECT 1"));
    r.gap(Q, 1, 10);
    r.resp(2, &result_set(1, 1, false, 2));
    // Garbage and half a command on the client stream, then a good command.
    r.req(3, b"\x03\x00garbage");
    r.req(4, &query("SELECT 2"));
    r.resp(5, &ok(1, 0, 2));
    // The gap came after the first command was complete: it still pairs.
    assert_eq!(
        r.rows(),
        [
            (3, "SELECT ?", 2, "1 column, 1 row", 1),
            (3, "SELECT ?", 2, "OK affected=0", 0)
        ]
    );
    assert_eq!(r.stats().resyncs, 1);
    assert_eq!(r.stats().unmatched_responses, 0);

    // A lost answer drops the waiting command; the next answer pairs with the next command.
    let mut r = Run::new();
    r.req(1, &query("SELECT 1"));
    let rs = result_set(1, 3, false, 2);
    r.resp(2, &rs[..7]);
    r.gap(R, 3, 100);
    r.resp(4, &rs[20..]);
    r.req(5, &query("SELECT 2"));
    r.resp(6, &ok(1, 0, 2));
    assert_eq!(r.rows(), [(3, "SELECT ?", 2, "OK affected=0", 0)]);
    assert_eq!(r.stats().unanswered_requests, 1);
    assert_eq!(r.stats().resyncs, 1);
    assert_eq!(r.stats().messages_lost_to_gaps, 1);
}

// ---------------------------------------------------------------------------------------
// Limits

#[test]
fn limits() {
    // Pending commands.
    let mut r = Run::with(MysqlConfig {
        max_pending: 2,
        ..MysqlConfig::default()
    });
    for _ in 0..3 {
        r.req(1, &query("SELECT 1"));
    }
    assert_eq!(r.stats().pending_overflow, 2);
    r.resp(2, &ok(1, 0, 2));
    assert_eq!(r.out.len(), 1);

    // Statement map.
    let mut r = Run::with(MysqlConfig {
        max_statements: 1,
        ..MysqlConfig::default()
    });
    for id in 1..=2 {
        r.req(1, &com(0x16, b"DO 1"));
        r.resp(2, &prepare_ok(id, 0, 0));
    }
    r.req(3, &execute(2, b""));
    r.resp(4, &ok(1, 0, 2));
    assert_eq!(r.stats().statement_overflow, 1);
    assert_eq!(r.out[2].req_body, "");

    // Column count.
    let mut r = Run::with(MysqlConfig {
        max_columns: 2,
        ..MysqlConfig::default()
    });
    r.req(1, &query("SELECT 1, 2, 3"));
    r.resp(2, &result_set(3, 1, false, 2));
    r.req(3, &query("SELECT 1"));
    r.resp(4, &ok(1, 0, 2));
    assert_eq!(r.stats().parse_errors, 1);
    assert_eq!(
        r.conn.stitch.last_error(),
        Some(crate::mysql::types::MysqlParseError::BadColumnCount { count: 3 })
    );
    assert_eq!(r.out.len(), 2);
    assert_eq!(r.out[1].resp_body, "OK affected=0");

    // SQL and text length.
    let mut r = Run::with(MysqlConfig {
        max_sql_len: 8,
        max_text_len: 5,
        ..MysqlConfig::default()
    });
    r.req(1, &query("SELECT abcdefgh FROM t"));
    r.resp(2, &err(1, 1054, "42S22", "Unknown column"));
    assert_eq!(r.rows(), [(3, "SELECT a...", 3, "1054 ...", 0)]);

    // Payload length: the payload is dropped, the framing kept.
    let mut r = Run::with(MysqlConfig {
        max_payload_len: 8,
        ..MysqlConfig::default()
    });
    r.req(1, &query("SELECT 123456789"));
    r.req(2, &query("DO 1"));
    r.resp(3, &ok(1, 0, 2));
    assert_eq!(r.rows(), [(3, "DO ?", 2, "OK affected=0", 0)]);
    assert_eq!(r.stats().parse_errors, 1);
}

#[test]
fn close_counts_and_resets() {
    let mut r = Run::new();
    r.req(1, &query("SELECT 1"));
    r.resp(2, &result_set(1, 1, false, 2)[..6]);
    r.close(3);
    assert_eq!(
        (r.stats().incomplete_at_close, r.stats().unanswered_requests),
        (1, 1)
    );
    r.req(4, &query("SELECT 2"));
    r.resp(5, &ok(1, 0, 2));
    assert_eq!(r.out.len(), 1);
    let _ = r.conn.req.last_error();
}
