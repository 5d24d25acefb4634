//! Hand-written messages, one rule each.

use super::*;
use crate::dns::message::{self, MAX_POINTERS};

// ---------------------------------------------------------------------------------------
// infer
//
// udp: header; tcp: length:16 header; header plausible per `Header::plausible`.

#[test]
fn infer_table() {
    use Inference::*;
    use Transport::{Tcp, Udp};
    let q = query(0xabcd, "example.test", A);
    let r = response(
        0xabcd,
        "example.test",
        A,
        0,
        &[rr("example.test", A, &[1, 2, 3, 4])],
    );
    let nx = response(7, "x.test", A, 3, &[]);
    let table: &[(&[u8], MessageKind, Transport, Inference)] = &[
        (&q, Q, Udp, Request),
        (&r, R, Udp, Response),
        (&nx, R, Udp, Response),
        (&q, R, Udp, NotDns),
        (&r, Q, Udp, NotDns),
        (&tcp(&q), Q, Tcp, Request),
        (&tcp(&r), R, Tcp, Response),
        (&q, Q, Tcp, NotDns), // the id read as a length, the header shifted
        (b"", Q, Udp, NeedMore),
        (&q[..11], Q, Udp, NeedMore),
        (b"\x00", Q, Tcp, NeedMore),
        (b"\x00\x05", Q, Tcp, NotDns), // length below a header
        (b"GET / HTTP/1.1\r\nHost: x\r\n", Q, Tcp, NotDns),
        (b"GET / HTTP/1.1\r\nHost: x\r\n", Q, Udp, NotDns),
        (
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x00\x00",
            Q,
            Tcp,
            NotDns,
        ),
        // opcode 3 is unassigned
        (&header(1, 0x1800, [1, 0, 0, 0]), Q, Udp, NotDns),
        // Z bit set
        (&header(1, 0x0140, [1, 0, 0, 0]), Q, Udp, NotDns),
        // a standard query with answers
        (&header(1, 0x0100, [1, 1, 0, 0]), Q, Udp, NotDns),
        // no question: only an error response may do that
        (&header(1, 0x0100, [0, 0, 0, 0]), Q, Udp, NotDns),
        (&header(1, 0x8181, [0, 0, 0, 0]), R, Udp, Response),
        (&header(1, 0x8180, [0, 0, 0, 0]), R, Udp, NotDns),
        // RCODE 11..15 unassigned
        (&header(1, 0x818b, [1, 0, 0, 0]), R, Udp, NotDns),
        (&header(1, 0x0100, [9, 0, 0, 0]), Q, Udp, NotDns),
    ];
    for (i, (bytes, kind, transport, want)) in table.iter().enumerate() {
        assert_eq!(infer(bytes, *kind, *transport), *want, "row {i}");
    }
    // TCP: the announced length must hold the announced counts.
    let mut short = tcp(&q);
    short[1] = 12;
    assert_eq!(infer(&short, Q, Tcp), NotDns);
    // Every prefix of a start is NeedMore or the final answer.
    for (bytes, kind, transport) in [(tcp(&q), Q, Tcp), (tcp(&r), R, Tcp), (q.clone(), Q, Udp)] {
        let full = infer(&bytes, kind, transport);
        for n in 0..bytes.len() {
            let got = infer(&bytes[..n], kind, transport);
            assert!(got == NeedMore || got == full, "prefix {n}: {got:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Names: compression, loops, limits, escaping.

fn decode_resp(msg: &[u8]) -> Result<message::Message, DnsParseError> {
    message::decode(msg, R, &DnsConfig::default())
}

fn decode_query(msg: &[u8]) -> Result<message::Message, DnsParseError> {
    message::decode(msg, Q, &DnsConfig::default())
}

#[test]
fn compressed_answer_name_points_at_the_question() {
    // answer: C0 0C (the question name at offset 12) A IN 60 10.0.0.1
    let mut m = response(1, "host.loupe.test", A, 0, &[]);
    m[7] = 1;
    m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01");
    let d = decode_resp(&m).unwrap();
    assert_eq!(d.answers[0].name, "host.loupe.test");
    assert_eq!(d.answers[0].data, "10.0.0.1");
    // A suffix pointer: "www" + pointer to "loupe.test" inside the question (offset 17).
    let mut m = response(1, "host.loupe.test", CNAME, 0, &[]);
    m[7] = 1;
    m.extend_from_slice(b"\x03www\xc0\x11\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x02\xc0\x0c");
    let d = decode_resp(&m).unwrap();
    assert_eq!(
        (d.answers[0].name.as_str(), d.answers[0].data.as_str()),
        ("www.loupe.test", "host.loupe.test")
    );
}

/// A question whose name is `name` (raw wire bytes) at offset 12, then type A class IN.
fn raw_question(name: &[u8]) -> Vec<u8> {
    let mut m = header(9, 0x0100, [1, 0, 0, 0]);
    m.extend_from_slice(name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m
}

#[test]
fn compression_loops_and_forward_pointers_are_rejected() {
    use DnsParseError::*;
    // A pointer to itself.
    assert_eq!(
        decode_query(&raw_question(b"\xc0\x0c")),
        Err(PointerNotBackward { offset: 12 })
    );
    // A label, then a pointer back to that label: a loop through one label.
    assert_eq!(
        decode_query(&raw_question(b"\x01a\xc0\x0c")),
        Err(PointerNotBackward { offset: 14 })
    );
    // Two names pointing at each other: the answer name points into the second, which
    // points back to the first.
    let mut m = response(1, "a.test", A, 0, &[]);
    m[7] = 1;
    let at = m.len(); // 12 + 8 + 4 = 24
    assert_eq!(at, 24);
    m.extend_from_slice(b"\x01b\xc0\x18"); // "b" then pointer to 24 (itself): loop
    m.extend_from_slice(b"\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04");
    assert_eq!(decode_resp(&m).map(|d| d.answers_malformed), Ok(true));
    // A forward pointer, and a forward chain (12 -> 14 -> 16 -> root).
    assert_eq!(
        decode_query(&raw_question(b"\xc0\x0e\x00")),
        Err(PointerNotBackward { offset: 12 })
    );
    assert_eq!(
        decode_query(&raw_question(b"\xc0\x0e\xc0\x10\x00")),
        Err(PointerNotBackward { offset: 12 })
    );
    // A backward chain longer than MAX_POINTERS: answer names, each a pointer to the
    // previous answer name, the first pointing at the question.
    let n = MAX_POINTERS + 2;
    let mut m = response(1, "a.test", A, 0, &[]);
    m[6..8].copy_from_slice(&(n as u16).to_be_bytes());
    let mut prev = 12u16;
    for _ in 0..n {
        let here = m.len() as u16;
        m.extend_from_slice(&(0xc000 | prev).to_be_bytes());
        m.extend_from_slice(b"\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04");
        prev = here;
    }
    let d = decode_resp(&m).unwrap();
    assert!(d.answers_malformed);
    assert_eq!(d.answers.len(), MAX_POINTERS);
    assert!(d.answers.iter().all(|a| a.name == "a.test"));
    // The same through the connection: counted, paired, no panic.
    let mut r = Run::new();
    r.udp(Q, 1, &query(1, "a.test", A)).udp(R, 2, &m);
    assert_eq!(r.stats().malformed_answers, 1);
    assert_eq!(r.out.len(), 1);
}

#[test]
fn name_limits_and_label_types() {
    use DnsParseError::*;
    // 4 labels of 63 = 256 bytes with length bytes, + final zero: over 255.
    let mut long = Vec::new();
    for _ in 0..4 {
        long.push(63);
        long.extend(std::iter::repeat_n(b'x', 63));
    }
    long.push(0);
    assert_eq!(
        decode_query(&raw_question(&long)),
        Err(NameTooLong { offset: 12 })
    );
    // 3 labels of 63 + one of 61 = 254 with the zero: fits.
    let mut ok = Vec::new();
    for l in [63u8, 63, 63, 61] {
        ok.push(l);
        ok.extend(std::iter::repeat_n(b'y', usize::from(l)));
    }
    ok.push(0);
    assert_eq!(ok.len(), 255);
    assert!(decode_query(&raw_question(&ok)).is_ok());
    // Reserved label types 01 and 10.
    assert_eq!(
        decode_query(&raw_question(b"\x41a\x00")),
        Err(LabelType { offset: 12 })
    );
    assert_eq!(
        decode_query(&raw_question(b"\x80a\x00")),
        Err(LabelType { offset: 12 })
    );
    // Cut inside a label, inside a pointer.
    assert!(matches!(
        decode_query(&raw_question(b"\x05ab")),
        Err(Truncated { .. })
    ));
    let mut cut = header(9, 0x0100, [1, 0, 0, 0]);
    cut.push(0xc0);
    assert!(matches!(decode_query(&cut), Err(Truncated { .. })));
    // The root, and label bytes that need escaping.
    assert_eq!(
        decode_query(&raw_question(b"\x00")).unwrap().questions[0].name,
        "."
    );
    let d = decode_query(&raw_question(b"\x04a.b\\\x02\x20\xff\x00")).unwrap();
    assert_eq!(d.questions[0].name, "a\\.b\\\\.\\032\\255");
}

// ---------------------------------------------------------------------------------------
// RDATA rendering, one type per row.

#[test]
fn rdata_table() {
    let name = |n: &str| name_wire(n);
    let cat = |parts: &[&[u8]]| parts.concat();
    let soa = cat(&[
        &name("ns.loupe.test"),
        &name("admin.loupe.test"),
        &[
            0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x02, 0x58, 0, 0x09, 0x3a, 0x80, 0, 0, 0, 0x3c,
        ],
    ]);
    let table: &[(u16, Vec<u8>, &str, &str)] = &[
        (1, vec![10, 1, 2, 3], "A", "10.1.2.3"),
        (
            28,
            vec![0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
            "AAAA",
            "fd00::7",
        ),
        (5, name("host.loupe.test"), "CNAME", "host.loupe.test"),
        (2, name("ns.loupe.test"), "NS", "ns.loupe.test"),
        (12, name("ptr.loupe.test"), "PTR", "ptr.loupe.test"),
        (
            15,
            cat(&[&[0, 10], &name("mail.loupe.test")]),
            "MX",
            "10 mail.loupe.test",
        ),
        (
            33,
            cat(&[&[0, 10, 0, 20, 0x13, 0xc4], &name("host.loupe.test")]),
            "SRV",
            "10 20 5060 host.loupe.test",
        ),
        (
            16,
            b"\x08v=loupe1\x03a\"b\x02\x01\x7f".to_vec(),
            "TXT",
            r#""v=loupe1" "a\"b" "\001\127""#,
        ),
        (16, b"\x00".to_vec(), "TXT", r#""""#),
        (
            6,
            soa,
            "SOA",
            "ns.loupe.test admin.loupe.test 1 3600 600 604800 60",
        ),
        // Not decoded: RFC 3597 form, named by mnemonic or number.
        (65, vec![0, 1, 0], "HTTPS", "\\# 3 000100"),
        (4242, vec![], "TYPE4242", "\\# 0"),
        // RDATA that does not fit its type falls back to opaque bytes.
        (1, vec![10, 1, 2], "A", "\\# 3 0a0102"),
        (5, b"\x04host".to_vec(), "CNAME", "\\# 5 04686f7374"),
        (15, vec![0], "MX", "\\# 1 00"),
        (16, b"\x05ab".to_vec(), "TXT", "\\# 3 056162"),
        (16, vec![], "TXT", "\\# 0"),
        (
            6,
            name("ns.loupe.test"),
            "SOA",
            "\\# 15 026e73056c6f757065047465737400",
        ),
    ];
    for (rtype, rdata, type_name, want) in table {
        let m = response(1, "q.test", *rtype, 0, &[rr("q.test", *rtype, rdata)]);
        let mut r = Run::new();
        r.udp(Q, 1, &query(1, "q.test", *rtype)).udp(R, 2, &m);
        let rec = &r.out[0];
        assert_eq!(rec.query_type, *type_name, "type {rtype}");
        let mut want_json = String::new();
        crate::dns::render::json_str(&mut want_json, want);
        assert_eq!(rec.answers, format!("[{want_json}]"), "type {rtype}");
    }
}

#[test]
fn json_columns_as_pixie_renders_them() {
    let mut r = Run::new();
    r.udp(Q, 100, &query(0x1234, "www.loupe.test", A));
    let resp = response(
        0x1234,
        "www.loupe.test",
        A,
        0,
        &[
            rr("www.loupe.test", CNAME, &name_wire("host.loupe.test")),
            rr("host.loupe.test", A, &[10, 0, 0, 7]),
            rr(
                "host.loupe.test",
                AAAA,
                &[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
            ),
            rr("_s._udp.loupe.test", 33, &[0, 1, 0, 2, 0, 3, 1, b'h', 0]),
        ],
    );
    r.udp(R, 250, &resp);
    let rec = &r.out[0];
    assert_eq!(
        rec.req_header,
        r#"{"txid":4660,"qr":0,"opcode":0,"aa":0,"tc":0,"rd":1,"ra":0,"ad":0,"cd":0,"rcode":0,"num_queries":1,"num_answers":0,"num_auth":0,"num_addl":0}"#
    );
    assert_eq!(
        rec.resp_header,
        r#"{"txid":4660,"qr":1,"opcode":0,"aa":0,"tc":0,"rd":1,"ra":1,"ad":0,"cd":0,"rcode":0,"num_queries":1,"num_answers":4,"num_auth":0,"num_addl":0}"#
    );
    assert_eq!(
        rec.req_body,
        r#"{"queries":[{"name":"www.loupe.test","type":"A"}]}"#
    );
    assert_eq!(
        rec.resp_body,
        r#"{"answers":[{"name":"www.loupe.test","type":"CNAME","cname":"host.loupe.test"},{"name":"host.loupe.test","type":"A","addr":"10.0.0.7"},{"name":"host.loupe.test","type":"AAAA","addr":"fd00::7"},{"name":"_s._udp.loupe.test","type":"SRV","data":"1 2 3 h"}]}"#
    );
    assert_eq!(
        rec.answers,
        r#"["host.loupe.test","10.0.0.7","fd00::7","1 2 3 h"]"#
    );
    assert_eq!(
        (
            rec.query_name.as_str(),
            rec.query_type.as_str(),
            rec.resp_code
        ),
        ("www.loupe.test", "A", 0)
    );
    assert_eq!(
        (rec.transport.as_str(), rec.txid, rec.latency_ns()),
        ("udp", 0x1234, 150)
    );
    assert!(!rec.truncated && !rec.timed_out);
    // All header bits land where Pixie puts them: QR opcode=2 AA TC RD RA Z=0 AD CD rcode=5.
    #[expect(clippy::unusual_byte_groupings, reason = "grouped by header field")]
    let flags = 0b1_0010_1_1_1_1_0_1_1_0101;
    let h = message::Header::parse(&header(1, flags, [0; 4])).unwrap();
    assert_eq!(
        crate::dns::render::header(&h),
        r#"{"txid":1,"qr":1,"opcode":2,"aa":1,"tc":1,"rd":1,"ra":1,"ad":1,"cd":1,"rcode":5,"num_queries":0,"num_answers":0,"num_auth":0,"num_addl":0}"#
    );
}

// ---------------------------------------------------------------------------------------
// Pairing.

#[test]
fn pairs_by_id_and_question_out_of_order() {
    let mut r = Run::new();
    r.tcp(Q, 1, &tcp(&query(1, "a.test", A)))
        .tcp(Q, 2, &tcp(&query(2, "b.test", A)))
        .tcp(R, 3, &tcp(&response(2, "b.test", A, 3, &[])))
        .tcp(
            R,
            4,
            &tcp(&response(
                1,
                "a.test",
                A,
                0,
                &[rr("a.test", A, &[1, 1, 1, 1])],
            )),
        );
    assert_eq!(
        r.rows(),
        [("b.test", 3, "[]"), ("a.test", 0, r#"["1.1.1.1"]"#)]
    );
    assert_eq!(r.out[0].transport, Transport::Tcp);
    // Same id, other question: not its answer.
    let mut r = Run::new();
    r.udp(Q, 1, &query(7, "a.test", A))
        .udp(R, 2, &response(7, "a.test", AAAA, 0, &[]))
        .udp(R, 3, &response(7, "b.test", A, 0, &[]));
    assert!(r.out.is_empty());
    assert_eq!(r.stats().unmatched_responses, 2);
    // 0x20 case randomisation: the name matches case-insensitively.
    r.udp(R, 4, &response(7, "A.TeSt", A, 0, &[]));
    assert_eq!(r.rows(), [("a.test", 0, "[]")]);
    // A response that started before the query cannot answer it.
    let mut r = Run::new();
    r.udp(Q, 10, &query(1, "a.test", A))
        .udp(R, 5, &response(1, "a.test", A, 0, &[]));
    assert_eq!((r.out.len(), r.stats().unmatched_responses), (0, 1));
    // An error response without a question pairs by id.
    let mut r = Run::new();
    r.udp(Q, 1, &query(3, "a.test", A))
        .udp(R, 2, &header(3, 0x8181, [0, 0, 0, 0]));
    assert_eq!(r.rows(), [("a.test", 1, "[]")]);
    // Wrong direction is a parse error.
    let mut r = Run::new();
    r.udp(Q, 1, &response(1, "a.test", A, 0, &[]));
    assert_eq!(r.stats().parse_errors, 1);
    assert_eq!(r.last_error(Q), Some(DnsParseError::WrongDirection));
}

#[test]
fn retries_and_timeouts_are_rows() {
    const S: u64 = 1_000_000_000;
    // A retry (same id and question): both pending, the answer pairs with the first copy,
    // the second times out.
    let mut r = Run::new();
    r.udp(Q, 0, &query(5, "a.test", A))
        .udp(Q, S, &query(5, "a.test", A))
        .udp(
            R,
            S + 10,
            &response(5, "a.test", A, 0, &[rr("a.test", A, &[1, 2, 3, 4])]),
        );
    assert_eq!(r.stats().retries, 1);
    assert_eq!(r.out.len(), 1);
    assert_eq!((r.out[0].req_ts_ns, r.out[0].latency_ns()), (0, S + 10));
    r.expire(6 * S - 1);
    assert_eq!(r.out.len(), 1);
    r.expire(6 * S);
    assert_eq!(r.out.len(), 2);
    let t = &r.out[1];
    assert!(t.timed_out);
    assert_eq!(
        (t.resp_code, t.req_ts_ns, t.resp_ts_ns, t.latency_ns()),
        (-1, S, 0, 0)
    );
    assert_eq!(
        (
            t.resp_header.as_str(),
            t.resp_body.as_str(),
            t.answers.as_str()
        ),
        ("", "", "[]")
    );
    assert_eq!(t.query_name, "a.test");
    assert_eq!((r.stats().timeouts, r.stats().records), (1, 2));
    // Both answers arrive: two answered rows.
    let mut r = Run::new();
    r.udp(Q, 0, &query(5, "a.test", A))
        .udp(Q, 1, &query(5, "a.test", A))
        .udp(R, 2, &response(5, "a.test", A, 0, &[]))
        .udp(R, 3, &response(5, "a.test", A, 0, &[]));
    assert_eq!(
        r.out
            .iter()
            .map(|x| (x.req_ts_ns, x.timed_out))
            .collect::<Vec<_>>(),
        [(0, false), (1, false)]
    );
    // Expiry uses the configured timeout; close turns the rest into timeouts.
    let mut r = Run::with(DnsConfig {
        timeout_ns: 100,
        ..DnsConfig::default()
    });
    r.udp(Q, 0, &query(1, "a.test", A))
        .udp(Q, 50, &query(2, "b.test", A));
    r.expire(120);
    assert_eq!(r.rows(), [("a.test", -1, "[]")]);
    r.close(130);
    assert_eq!(r.rows(), [("a.test", -1, "[]"), ("b.test", -1, "[]")]);
    assert_eq!((r.stats().timeouts, r.conn.pending()), (2, 0));
    // Overflow: the oldest becomes a timeout row at once.
    let mut r = Run::with(DnsConfig {
        max_pending: 2,
        ..DnsConfig::default()
    });
    for (i, n) in ["a.test", "b.test", "c.test"].iter().enumerate() {
        r.udp(Q, i as u64, &query(i as u16, n, A));
    }
    assert_eq!(r.rows(), [("a.test", -1, "[]")]);
    assert_eq!(
        (
            r.stats().pending_overflow,
            r.stats().timeouts,
            r.conn.pending()
        ),
        (1, 1, 2)
    );
}

// ---------------------------------------------------------------------------------------
// TCP framing: prefixes, gaps, resync, close.

fn exchange_stream() -> (Vec<u8>, Vec<u8>) {
    let mut q = Vec::new();
    let mut a = Vec::new();
    for (i, n) in ["a.test", "b.test", "c.test"].iter().enumerate() {
        q.extend(tcp(&query(i as u16, n, A)));
        a.extend(tcp(&response(
            i as u16,
            n,
            A,
            0,
            &[rr(n, A, &[10, 0, 0, i as u8])],
        )));
    }
    (q, a)
}

#[test]
fn every_tcp_prefix_is_need_more() {
    let (q, a) = exchange_stream();
    for n in 0..=q.len() {
        let mut r = Run::new();
        r.tcp(Q, 1, &q[..n]);
        assert!(r.out.is_empty());
        assert_eq!(
            r.stats().parse_errors + r.stats().resyncs,
            0,
            "query prefix {n}"
        );
        r.tcp(Q, 1, &q[n..]);
        assert_eq!(r.conn.pending(), 3);
    }
    for n in 0..=a.len() {
        let mut r = Run::new();
        r.tcp(Q, 1, &q).tcp(R, 2, &a[..n]);
        let done = r.out.len();
        assert_eq!(
            r.stats().parse_errors + r.stats().resyncs,
            0,
            "response prefix {n}"
        );
        assert!(done < 3 || n == a.len());
        r.tcp(R, 3, &a[n..]).close(4);
        assert_eq!(r.out.len(), 3, "prefix {n}");
        assert_eq!(r.stats().timeouts, 0);
    }
    // Cut by close: counted, and the query becomes a timeout row.
    let mut r = Run::new();
    r.tcp(Q, 1, &q).tcp(R, 2, &a[..a.len() - 1]).close(3);
    assert_eq!(r.stats().incomplete_at_close, 1);
    assert_eq!(r.out.iter().filter(|x| x.timed_out).count(), 1);
}

#[test]
fn tcp_gaps_and_resync() {
    let (q, a) = exchange_stream();
    let first = usize::from(u16::from_be_bytes([a[0], a[1]])) + 2;
    // A gap inside the first response frame: that frame is skipped, framing kept.
    let mut r = Run::new();
    r.tcp(Q, 1, &q)
        .tcp(R, 2, &a[..5])
        .gap(R, 3, (first - 5 - 3) as u64)
        .tcp(R, 4, &a[first - 3..]);
    assert_eq!(r.stats().messages_lost_to_gaps, 1);
    assert_eq!(r.stats().resyncs, 0);
    assert_eq!(
        r.out
            .iter()
            .map(|x| x.query_name.as_str())
            .collect::<Vec<_>>(),
        ["b.test", "c.test"]
    );
    // A gap ending exactly at the frame end: framing kept too.
    let mut r = Run::new();
    r.tcp(Q, 1, &q)
        .tcp(R, 2, &a[..5])
        .gap(R, 3, (first - 5) as u64)
        .tcp(R, 4, &a[first..]);
    assert_eq!((r.out.len(), r.stats().resyncs), (2, 0));
    // A gap reaching into the next frame: framing lost, the scan finds the third frame.
    let mut r = Run::new();
    r.tcp(Q, 1, &q)
        .tcp(R, 2, &a[..5])
        .gap(R, 3, (first - 5 + 4) as u64);
    assert!(r.conn.resp.in_resync());
    r.tcp(R, 4, &a[first + 4..]);
    assert_eq!(r.stats().resyncs, 1);
    assert_eq!(
        r.out
            .iter()
            .map(|x| x.query_name.as_str())
            .collect::<Vec<_>>(),
        ["c.test"]
    );
    r.close(5);
    assert_eq!(r.stats().timeouts, 2);
    // A gap between frames: the scan locks on the next frame start.
    let mut r = Run::new();
    r.tcp(Q, 1, &q).gap(R, 2, 100).tcp(R, 3, &a);
    assert_eq!((r.out.len(), r.stats().resyncs), (3, 1));
    // A length prefix below the header size: counted, then resync.
    let mut r = Run::new();
    r.tcp(Q, 1, &q).tcp(R, 2, b"\x00\x03abc").tcp(R, 3, &a);
    assert_eq!(r.last_error(R), Some(DnsParseError::FrameLength { len: 3 }));
    assert_eq!(
        (r.out.len(), r.stats().parse_errors, r.stats().resyncs),
        (3, 1, 1)
    );
    // A frame whose content is not DNS is skipped whole (its length is known).
    let mut r = Run::new();
    let mut junk = tcp(&[0xffu8; 20]);
    junk.extend_from_slice(&q);
    r.tcp(Q, 1, &junk);
    assert_eq!(
        (r.conn.pending(), r.stats().parse_errors, r.stats().resyncs),
        (3, 1, 0)
    );
    // Gaps of 0 change nothing; gaps on the request side lose queries, not framing.
    let mut r = Run::new();
    r.gap(Q, 0, 0)
        .tcp(Q, 1, &q[..3])
        .gap(Q, 2, 0)
        .tcp(Q, 3, &q[3..]);
    assert_eq!(r.conn.pending(), 3);
}

#[test]
fn garbage_and_truncated_datagrams_are_counted() {
    let resp = response(
        1,
        "host.loupe.test",
        A,
        0,
        &[rr("host.loupe.test", A, &[1, 2, 3, 4])],
    );
    let qlen = 12 + name_wire("host.loupe.test").len() + 4;
    for n in 0..resp.len() {
        let mut r = Run::new();
        r.udp(Q, 1, &query(1, "host.loupe.test", A))
            .udp(R, 2, &resp[..n]);
        if n < qlen {
            assert_eq!(r.stats().parse_errors, 1, "prefix {n}");
            assert!(r.out.is_empty());
        } else {
            // Header and question intact: paired, the cut answer counted as malformed.
            assert_eq!(r.out.len(), 1, "prefix {n}");
            assert_eq!(r.stats().malformed_answers, u64::from(n < resp.len()));
        }
    }
    let mut r = Run::new();
    for (i, g) in [
        &b""[..],
        b"\xff",
        &[0u8; 11],
        &[0xff; 600],
        b"GET / HTTP/1.1\r\n\r\n",
    ]
    .iter()
    .enumerate()
    {
        r.udp(Q, i as u64, g).udp(R, i as u64, g);
    }
    assert_eq!(r.stats().parse_errors, 10);
    assert!(r.out.is_empty());
}

#[test]
fn truncated_flag_and_limits() {
    // TC: answers announced but not carried are not an error.
    let mut tc = response(
        1,
        "big.test",
        TXT_TYPE,
        0,
        &[rr("big.test", TXT_TYPE, b"\x02hi")],
    );
    tc[2] |= 0x02; // TC
    tc[7] = 5; // claims 5 answers, carries 1
    let mut r = Run::new();
    r.udp(Q, 1, &query(1, "big.test", TXT_TYPE)).udp(R, 2, &tc);
    assert!(r.out[0].truncated);
    assert_eq!(r.out[0].answers, r#"["\"hi\""]"#);
    assert_eq!(
        (r.stats().truncated_responses, r.stats().malformed_answers),
        (1, 0)
    );
    // max_answers: further records are not decoded.
    let answers: Vec<Vec<u8>> = (0..5).map(|i| rr("m.test", A, &[i, i, i, i])).collect();
    let mut r = Run::with(DnsConfig {
        max_answers: 2,
        ..DnsConfig::default()
    });
    r.udp(Q, 1, &query(1, "m.test", A))
        .udp(R, 2, &response(1, "m.test", A, 0, &answers));
    assert_eq!(r.out[0].answers, r#"["0.0.0.0","1.1.1.1"]"#);
    assert!(r.out[0].resp_header.contains(r#""num_answers":5"#));
    // max_questions and max_message_bytes.
    let mut r = Run::with(DnsConfig {
        max_questions: 1,
        max_message_bytes: 40,
        ..DnsConfig::default()
    });
    let mut two = header(1, 0x0100, [2, 0, 0, 0]);
    two.extend(name_wire("a.t"));
    two.extend_from_slice(&[0, 1, 0, 1]);
    r.udp(Q, 1, &two);
    assert_eq!(
        r.last_error(Q),
        Some(DnsParseError::TooManyQuestions { limit: 1 })
    );
    r.udp(Q, 2, &query(1, "a-rather-long-name.loupe.test", A));
    assert_eq!(r.last_error(Q), Some(DnsParseError::TooLong { limit: 40 }));
    r.tcp(Q, 3, &tcp(&query(1, "a-rather-long-name.loupe.test", A)));
    assert_eq!(
        r.last_error(Q),
        Some(DnsParseError::FrameLength { len: 47 })
    );
    assert_eq!(r.stats().parse_errors, 3);
}

const TXT_TYPE: u16 = 16;
