//! The registry: names, tables, inference precedence, and every glue
//! module's rows against its table's schema.

use super::*;
use crate::clock::MonoToWall;
use loupe_k8s::ProcessInfo;
use loupe_protocol_parsers::MessageKind::{Request, Response};

fn meta() -> ConnMeta {
    ConnMeta {
        local_addr: "127.0.0.1".into(),
        local_port: 5432,
        remote_addr: "127.0.0.1".into(),
        remote_port: 40000,
        trace_role: 2,
        process: std::sync::Arc::new(ProcessInfo {
            upid: "n:1:2".into(),
            node: "n".into(),
            pid: 1,
            ..Default::default()
        }),
    }
}

#[test]
fn registry_names_tables_and_counters() {
    assert!(PROTOCOLS.len() <= MAX_PROTOCOLS);
    let mut names: Vec<_> = PROTOCOLS.iter().map(|p| p.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), PROTOCOLS.len(), "names are unique");
    for p in PROTOCOLS {
        assert!(
            loupe_topology::schema::table(p.table()).is_some(),
            "{} writes to {}, which the schema does not know",
            p.name(),
            p.table()
        );
        assert_eq!(
            index_of(p.name()).map(|i| PROTOCOLS[i].name()),
            Some(p.name())
        );
    }
    let snap = crate::counters::Counters::default().snapshot();
    assert!(
        snap.iter()
            .any(|(n, _)| n == "loupe_parser_records_total{protocol=\"pgsql\"}")
    );
    assert!(
        snap.iter()
            .any(|(n, _)| n == "loupe_parser_messages_lost_total{protocol=\"http\"}")
    );
}

/// One exchange per protocol, as the real client and server sent it.
fn exchange(name: &str) -> (&'static [u8], &'static [u8]) {
    match name {
        "http" => (
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        ),
        "pgsql" => (
            b"Q\x00\x00\x00\x22SELECT * FROM t WHERE id = 42\x00",
            b"C\x00\x00\x00\x0dSELECT 1\x00Z\x00\x00\x00\x05I",
        ),
        "mysql" => (
            b"\x09\x00\x00\x00\x03SELECT 1",
            b"\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00",
        ),
        "redis" => (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", b"+OK\r\n"),
        "dns" => (
            &[
                0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1,
            ],
            &[
                0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1, 0xc0, 12,
                0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1,
            ],
        ),
        other => panic!("no exchange for {other}: add one"),
    }
}

#[test]
fn every_protocol_infers_itself_first_and_builds_rows_of_its_schema() {
    let clock = MonoToWall::now();
    for (i, p) in PROTOCOLS.iter().enumerate() {
        let (req, resp) = exchange(p.name());
        let t = if p.name() == "dns" {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        assert_eq!(
            infer(req, None, t, false, false),
            Inferred::Proto {
                index: i,
                kind: Request
            },
            "{}: request",
            p.name()
        );
        assert_eq!(
            infer(req, Some(Request), t, false, false),
            Inferred::Proto {
                index: i,
                kind: Request
            },
            "{}: request, role known",
            p.name()
        );
        let mut parser = p.open(&ParserConfig::default(), t);
        if t == Transport::Udp {
            parser.datagram(Request, 1_000, req);
            parser.datagram(Response, 5_000, resp);
        } else {
            parser.push(Request, 1_000, req);
            parser.push(Response, 5_000, resp);
        }
        assert_eq!(parser.pending(), 1, "{}: one record", p.name());
        let mut rows = p.rows();
        parser.emit(&meta(), &clock, &mut rows);
        assert_eq!(parser.pending(), 0);
        let (batch, lo, hi) = rows.finish().expect("a batch");
        assert_eq!(batch.num_rows(), 1);
        assert!(lo <= hi);
        assert_eq!(
            batch.schema(),
            loupe_topology::schema::stored_table(p.table()).unwrap(),
            "{}",
            p.name()
        );
        let lat = batch.column_by_name("resp_latency").unwrap();
        let lat = arrow::array::as_primitive_array::<arrow::datatypes::Int64Type>(lat);
        assert_eq!(lat.value(0), 4_000, "{}", p.name());
        assert_eq!(parser.counts()[0], 1, "{}: records counted", p.name());
    }
}

#[test]
fn redaction_happens_before_rows() {
    let clock = MonoToWall::now();
    for name in ["pgsql", "redis"] {
        let i = index_of(name).unwrap();
        let p = PROTOCOLS[i];
        let (req, resp) = exchange(name);
        let mut parser = p.open(&ParserConfig::default(), Transport::Tcp);
        parser.push(Request, 1, req);
        parser.push(Response, 2, resp);
        let mut rows = p.rows();
        parser.emit(&meta(), &clock, &mut rows);
        let (batch, ..) = rows.finish().unwrap();
        let text = format!("{:?}", batch);
        assert!(!text.contains("42"), "{name}: SQL literal stored: {text}");
        assert!(
            !text.contains("hello"),
            "{name}: Redis value stored: {text}"
        );
    }
}

#[test]
fn http_keeps_only_what_the_operator_widened() {
    let clock = MonoToWall::now();
    let p = PROTOCOLS[index_of("http").unwrap()];
    let req = b"POST /login?user=bob HTTP/1.1\r\nHost: a\r\nX-Session-Id: s1\r\nAuthorization: Bearer t1\r\nContent-Length: 11\r\n\r\nhello world";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let text = |cfg: &ParserConfig| {
        let mut parser = p.open(cfg, Transport::Tcp);
        parser.push(Request, 1, req);
        parser.push(Response, 2, resp);
        let mut rows = p.rows();
        parser.emit(&meta(), &clock, &mut rows);
        format!("{:?}", rows.finish().unwrap().0)
    };
    let default = text(&ParserConfig::default());
    for secret in ["bob", "s1", "t1", "hello"] {
        assert!(!default.contains(secret), "{secret}: {default}");
    }
    let mut widened = ParserConfig::default();
    widened.http_keep.query_values = true;
    widened.http_keep.headers = vec!["x-session-id".into()];
    widened.http.keep_body_prefix = 5;
    let kept = text(&widened);
    for shown in ["/login?user=bob", "s1", "\"hello\""] {
        assert!(kept.contains(shown), "{shown}: {kept}");
    }
    assert!(!kept.contains("t1") && !kept.contains("world"), "{kept}");
}

#[test]
fn connection_starts_go_to_the_right_protocol() {
    let (mysql, pgsql) = (index_of("mysql").unwrap(), index_of("pgsql").unwrap());
    // MariaDB 10.11's greeting, as it sent it (also a valid PostgreSQL CopyData).
    let greeting = b"d\x00\x00\x00\x0a5.5.5-10.11.19-MariaDB\x00";
    assert_eq!(
        infer(greeting, Some(Response), Transport::Tcp, false, false),
        Inferred::Proto {
            index: mysql,
            kind: Response
        }
    );
    // psql's SSLRequest and StartupMessage, and the server's auth request.
    for (bytes, kind) in [
        (&b"\x00\x00\x00\x08\x04\xd2\x16\x2f"[..], Request),
        (
            &b"\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00"[..],
            Request,
        ),
        (&b"R\x00\x00\x00\x08\x00\x00\x00\x00"[..], Response),
    ] {
        assert_eq!(
            infer(bytes, Some(kind), Transport::Tcp, true, false),
            Inferred::Proto { index: pgsql, kind },
            "{bytes:?}"
        );
    }
}

#[test]
fn garbage_matches_nothing_and_short_input_waits() {
    assert_eq!(
        infer(
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            None,
            Transport::Tcp,
            true,
            false
        ),
        Inferred::Nothing
    );
    assert_eq!(
        infer(b"G", None, Transport::Tcp, false, false),
        Inferred::NeedMore
    );
    assert_eq!(
        infer(b"", None, Transport::Tcp, false, false),
        Inferred::NeedMore
    );
    // A bare inline command starts Redis only at the start of a connection.
    let redis = index_of("redis").unwrap();
    assert_eq!(
        infer(b"PING\r\n", Some(Request), Transport::Tcp, true, false),
        Inferred::Proto {
            index: redis,
            kind: Request
        }
    );
    assert_eq!(
        infer(b"PING\r\n", Some(Request), Transport::Tcp, true, true),
        Inferred::Nothing
    );
}
