//! Hand-written byte strings, one rule each.

use super::*;

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
const OK5: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

// ---------------------------------------------------------------------------------------
// infer
//
// request start  = known-method SP %x21-7E
// response start = "HTTP/1." ("0" / "1") SP 3DIGIT

#[test]
fn infer_table() {
    use Inference::*;
    let table: &[(&[u8], Inference)] = &[
        (b"GET / HTTP/1.1\r\n", Request),
        (b"POST /x", Request),
        (b"OPTIONS * HTTP/1.1", Request),
        (b"M-SEARCH * HTTP/1.1", Request),
        (b"UNSUBSCRIBE /x", Request),
        (b"CONNECT example.com:443 HTTP/1.1", Request),
        (b"HTTP/1.1 200 OK\r\n", Response),
        (b"HTTP/1.0 404", Response),
        (b"", NeedMore),
        (b"G", NeedMore),
        (b"GET", NeedMore),
        (b"GET ", NeedMore),
        (b"H", NeedMore),
        (b"HTTP/1.1 20", NeedMore),
        (b"GET  /", NotHttp),
        (b"get / HTTP/1.1", NotHttp),
        (b"FOO / HTTP/1.1", NotHttp),
        (b"HTTP/2 200", NotHttp),
        (b"HTTP/1.2 200 OK", NotHttp),
        (b"HTTP/1.1 2x0", NotHttp),
        (b"\x16\x03\x01\x00\xa5\x01", NotHttp),
        (b"PRI * HTTP/2.0\r\n", NotHttp),
        (b"\r\nGET / HTTP/1.1", NotHttp),
    ];
    for (bytes, want) in table {
        assert_eq!(infer(bytes), *want, "{:?}", String::from_utf8_lossy(bytes));
    }
    // Every prefix of a start is NeedMore, in both directions.
    for msg in [GET, OK5] {
        let full = infer(msg);
        for n in 0..13 {
            let got = infer(&msg[..n]);
            assert!(
                got == Inference::NeedMore || got == full,
                "prefix {n}: {got:?}"
            );
        }
    }
    // Bounded: infer looks at 13 bytes at most.
    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 1 << 20));
    assert_eq!(infer(&long), Request);
}

// ---------------------------------------------------------------------------------------
// One exchange, fields and timestamps.

#[test]
fn simple_exchange_fields_and_timestamps() {
    let mut r = Run::new();
    r.req(100, b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n");
    r.req(150, b"Accept: */*\r\n\r\n");
    r.resp(
        300,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhel",
    );
    assert!(r.out.is_empty());
    r.resp(400, b"lo");
    assert_eq!(r.out.len(), 1);
    let rec = &r.out[0];
    assert_eq!(rec.req.method, "GET");
    assert_eq!(rec.req.path, "/a?b=1");
    assert_eq!(rec.req.minor_version, 1);
    assert_eq!(
        rec.req.headers,
        vec![
            ("Host".to_string(), "x".to_string()),
            ("Accept".into(), "*/*".into())
        ]
    );
    assert_eq!((rec.req.ts_start_ns, rec.req.ts_end_ns), (100, 150));
    assert_eq!((rec.resp.status, rec.resp.reason.as_str()), (200, "OK"));
    assert_eq!(rec.resp.content_type, "text/plain");
    assert_eq!(rec.resp.body_size, 5);
    assert!(rec.resp.body_prefix.is_empty());
    assert!(!rec.resp.body_gap);
    assert_eq!((rec.resp.ts_start_ns, rec.resp.ts_end_ns), (300, 400));
    assert_eq!(rec.latency_ns(), 300);
    let want = HttpStats {
        requests: 1,
        responses: 1,
        records: 1,
        ..HttpStats::default()
    };
    assert_eq!(r.stats(), &want);
}

#[test]
fn latency_saturates() {
    let rec = HttpRecord {
        req: HttpMessage {
            ts_start_ns: 10,
            ..HttpMessage::default()
        },
        resp: HttpMessage {
            ts_end_ns: 5,
            ..HttpMessage::default()
        },
    };
    assert_eq!(rec.latency_ns(), 0);
}

/// Every prefix of a message gives no record and no error; the rest then completes it.
#[test]
fn every_prefix_is_need_more() {
    let chunked: &[u8] =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
    let post: &[u8] = b"POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
    for (req, resp) in [(GET, OK5), (GET, chunked), (post, OK5)] {
        for n in 0..req.len() {
            let mut r = Run::new();
            r.req(1, &req[..n]);
            r.resp(2, resp);
            assert!(r.out.is_empty(), "request prefix {n}");
            assert_eq!(r.stats().parse_errors, 0);
        }
        for n in 0..resp.len() {
            let mut r = Run::new();
            r.req(1, req).resp(2, &resp[..n]);
            assert!(r.out.is_empty(), "response prefix {n}");
            assert_eq!(r.stats().parse_errors, 0);
            r.resp(3, &resp[n..]);
            assert_eq!(r.out.len(), 1, "response prefix {n} then rest");
            assert_eq!(r.stats().parse_errors, 0);
        }
    }
}

#[test]
fn byte_by_byte_equals_one_shot() {
    let req: &[u8] = b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\nGET /b HTTP/1.0\r\n\r\n";
    let resp: &[u8] =
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nokHTTP/1.0 200 OK\r\n\r\nuntil close";
    let mut one = Run::new();
    one.req(1, req).resp(2, resp).close(3);
    let mut split = Run::new();
    for b in req.chunks(1) {
        split.req(1, b);
    }
    for b in resp.chunks(1) {
        split.resp(2, b);
    }
    split.close(3);
    assert_eq!(one.out, split.out);
    assert_eq!(one.stats(), split.stats());
    assert_eq!(one.paths(), [("POST", "/p", 201), ("GET", "/b", 200)]);
    assert_eq!(one.out[0].req.body_size, 4);
    assert_eq!(one.out[1].resp.body_size, 11);
}

// ---------------------------------------------------------------------------------------
// Keep-alive, pipelining, bodies.

#[test]
fn keep_alive_sequential() {
    let mut r = Run::new();
    for i in 0..3u64 {
        r.req(10 * i, GET).resp(10 * i + 5, OK5);
    }
    assert_eq!(r.out.len(), 3);
    assert!(r.out.iter().all(|rec| rec.latency_ns() == 5));
}

#[test]
fn pipelined_requests_pair_in_order() {
    let mut r = Run::new();
    r.req(1, b"GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /4 HTTP/1.1\r\n\r\n");
    assert_eq!(r.stats().requests, 4);
    r.resp(
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA\
          HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
          HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nC\
          HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        r.paths(),
        [
            ("GET", "/1", 200),
            ("HEAD", "/2", 200),
            ("POST", "/3", 201),
            ("GET", "/4", 404)
        ]
    );
    assert_eq!(
        r.out.iter().map(|x| x.resp.body_size).collect::<Vec<_>>(),
        [1, 0, 1, 0]
    );
    assert_eq!(r.out[2].req.body_size, 2);
}

#[test]
fn request_without_length_has_no_body() {
    let mut r = Run::new();
    r.req(1, b"DELETE /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n");
    assert_eq!(r.stats().requests, 2);
    r.resp(
        2,
        b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.paths(), [("DELETE", "/x", 204), ("GET", "/y", 200)]);
}

#[test]
fn leading_empty_lines_are_skipped() {
    let mut r = Run::new();
    r.req(1, b"POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n");
    r.req(5, b"\r\nGET /b HTTP/1.1\r\n\r\n");
    r.resp(9, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.paths(), [("POST", "/a", 200), ("GET", "/b", 200)]);
    assert_eq!(r.out[1].req.ts_start_ns, 5);
    assert_eq!(r.stats().parse_errors, 0);
}

#[test]
fn http10_messages() {
    let mut r = Run::new();
    r.req(1, b"GET /old HTTP/1.0\r\n\r\n")
        .resp(2, b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(r.out.len(), 1);
    assert_eq!(
        (r.out[0].req.minor_version, r.out[0].resp.minor_version),
        (0, 0)
    );
    // Bare LF line endings, as httparse accepts them.
    r.req(3, b"GET /lf HTTP/1.0\nHost: y\n\n")
        .resp(4, b"HTTP/1.0 200 OK\nContent-Length: 0\n\n");
    assert_eq!(r.out.len(), 2);
    assert_eq!(r.out[1].req.headers.len(), 1);
}

/// ```text
/// chunked-body = *chunk last-chunk trailer-section CRLF
/// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// ```
#[test]
fn chunked_with_extensions_and_trailers() {
    let cfg = HttpConfig {
        keep_body_prefix: 8,
        ..HttpConfig::default()
    };
    let mut r = Run::with(cfg);
    r.req(1, GET);
    r.resp(
        2,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
          5;name=value;other\r\nhello\r\n\
          A ; quoted=\"a b\"\r\n0123456789\r\n\
          000\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n",
    );
    assert_eq!(r.out.len(), 1);
    assert_eq!(r.out[0].resp.body_size, 15);
    assert_eq!(r.out[0].resp.body_prefix, b"hello012");
    assert_eq!(r.stats().parse_errors, 0);
}

#[test]
fn chunked_request_body() {
    let mut r = Run::new();
    r.req(
        1,
        b"PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    r.resp(2, OK5);
    assert_eq!(r.out.len(), 1);
    assert_eq!(r.out[0].req.body_size, 3);
}

#[test]
fn content_length_beats_nothing_and_chunked_beats_content_length() {
    let mut r = Run::new();
    r.req(1, GET).resp(2, b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n");
    assert_eq!(r.out[0].resp.body_size, 2);
    // Repeated identical Content-Length values are fine.
    r.req(3, GET).resp(
        4,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nab",
    );
    assert_eq!(r.out[1].resp.body_size, 2);
}

#[test]
fn response_without_length_ends_at_close() {
    let mut r = Run::new();
    r.req(1, GET).resp(
        2,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>",
    );
    r.resp(3, b"</html>");
    assert!(r.out.is_empty());
    r.close(9);
    assert_eq!(r.out.len(), 1);
    assert_eq!(r.out[0].resp.body_size, 13);
    assert_eq!(
        r.out[0].resp.ts_end_ns, 3,
        "ends at the last byte, not at the close"
    );
    // A transfer coding without chunked also reads until the close.
    let mut r = Run::new();
    r.req(1, GET)
        .resp(2, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz")
        .close(3);
    assert_eq!(r.out[0].resp.body_size, 3);
}

// ---------------------------------------------------------------------------------------
// Bodiless responses.

#[test]
fn head_response_has_no_body() {
    let mut r = Run::new();
    r.req(1, b"HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    r.resp(2, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
    assert_eq!(r.out.len(), 1, "HEAD response completes at its head");
    r.resp(
        3,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    );
    assert_eq!(r.paths(), [("HEAD", "/a", 200), ("GET", "/b", 200)]);
    assert_eq!((r.out[0].resp.body_size, r.out[1].resp.body_size), (0, 1));
}

#[test]
fn status_204_and_304_have_no_body() {
    for status in [&b"204 No Content"[..], b"304 Not Modified"] {
        let mut r = Run::new();
        r.req(1, GET).req(1, GET);
        let mut resp = b"HTTP/1.1 ".to_vec();
        resp.extend_from_slice(status);
        resp.extend_from_slice(b"\r\nContent-Length: 50\r\n\r\n");
        resp.extend_from_slice(OK5);
        r.resp(2, &resp);
        assert_eq!(r.out.len(), 2);
        assert_eq!(r.out[0].resp.body_size, 0);
        assert_eq!(r.out[1].resp.status, 200);
    }
}

#[test]
fn expect_100_continue() {
    let mut r = Run::new();
    r.req(
        1,
        b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    );
    r.resp(2, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(r.out.is_empty());
    r.req(3, b"data");
    r.resp(4, b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.paths(), [("POST", "/up", 201)]);
    assert_eq!(r.stats().interim_responses, 2);
    assert_eq!(r.stats().responses, 1);
    assert_eq!(r.out[0].req.body_size, 4);
    assert_eq!(r.out[0].latency_ns(), 3);
}

#[test]
fn early_final_response_waits_for_request_body() {
    let mut r = Run::new();
    r.req(1, b"POST /big HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345");
    r.resp(
        2,
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(r.out.is_empty());
    r.req(3, b"67890");
    assert_eq!(r.paths(), [("POST", "/big", 413)]);
    assert_eq!(r.out[0].req.body_size, 10);
    // The same, closed before the request body is done: the record is still emitted.
    let mut r = Run::new();
    r.req(1, b"POST /big HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345");
    r.resp(
        2,
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n",
    )
    .close(3);
    assert_eq!(r.paths(), [("POST", "/big", 413)]);
    assert_eq!(r.stats().unanswered_requests, 0);
}

#[test]
fn switching_protocols_ends_http() {
    let mut r = Run::new();
    r.req(
        1,
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    r.resp(
        2,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
    );
    assert_eq!(r.paths(), [("GET", "/ws", 101)]);
    assert!(r.conn.is_upgraded());
    r.req(3, b"\x81\x85garbage that is not http")
        .resp(4, b"\x81\x02hi")
        .gap(R, 5, 10);
    r.close(6);
    assert_eq!(r.out.len(), 1);
    let s = r.stats();
    assert_eq!(
        (
            s.parse_errors,
            s.resyncs,
            s.unmatched_responses,
            s.unanswered_requests
        ),
        (0, 0, 0, 0)
    );
}

#[test]
fn connect_tunnel() {
    let mut r = Run::new();
    r.req(
        1,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    r.resp(
        2,
        b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x03",
    );
    assert_eq!(r.paths(), [("CONNECT", "example.com:443", 200)]);
    assert!(r.conn.is_upgraded());
    r.req(3, b"\x16\x03\x01\x02\x00");
    assert_eq!(r.stats().parse_errors, 0);
    // A refused CONNECT stays HTTP, and its response has a body.
    let mut r = Run::new();
    r.req(1, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n");
    r.resp(
        2,
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\nno!",
    );
    assert!(!r.conn.is_upgraded());
    assert_eq!(r.out[0].resp.body_size, 3);
    r.req(3, GET).resp(4, OK5);
    assert_eq!(r.out.len(), 2);
}

// ---------------------------------------------------------------------------------------
// Stitching edge cases.

#[test]
fn response_without_request_is_unmatched() {
    let mut r = Run::new();
    r.resp(1, OK5);
    assert!(r.out.is_empty());
    assert_eq!(r.stats().unmatched_responses, 1);
    assert_eq!(r.stats().responses, 1);
}

#[test]
fn response_older_than_request_cannot_answer_it() {
    let mut r = Run::new();
    r.req(50, GET).resp(40, OK5);
    assert!(r.out.is_empty());
    assert_eq!(r.stats().unmatched_responses, 1);
    r.resp(60, OK5);
    assert_eq!(r.out.len(), 1);
}

#[test]
fn unanswered_requests_counted_at_close() {
    let mut r = Run::new();
    r.req(1, GET).req(2, GET).resp(3, OK5).close(4);
    assert_eq!(r.out.len(), 1);
    assert_eq!(r.stats().unanswered_requests, 1);
    // The connection is usable again after close.
    r.req(5, GET).resp(6, OK5);
    assert_eq!(r.out.len(), 2);
}

#[test]
fn pending_overflow_keeps_pairs_aligned() {
    let mut r = Run::with(HttpConfig {
        max_pending: 2,
        ..HttpConfig::default()
    });
    r.req(
        1,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
    );
    assert_eq!(r.stats().pending_overflow, 1);
    assert_eq!(r.conn.stitch.pending_len(), 2);
    r.resp(2, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    r.resp(3, b"HTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n");
    r.resp(4, b"HTTP/1.1 203 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.paths(), [("GET", "/2", 202), ("GET", "/3", 203)]);
    assert_eq!(r.stats().unmatched_responses, 0);
}

#[test]
fn redact_headers_masks_credentials() {
    let mut h: Vec<(String, String)> = [
        ("Authorization", "Basic dXNlcjpwYXNz"),
        ("COOKIE", "a=b"),
        ("set-cookie", "id=1; HttpOnly"),
        ("Proxy-Authorization", "Bearer t"),
        ("Host", "example.com"),
        ("X-Cookie-Note", "kept"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    redact_headers(&mut h);
    let values: Vec<&str> = h.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        values,
        [
            "<redacted>",
            "<redacted>",
            "<redacted>",
            "<redacted>",
            "example.com",
            "kept"
        ]
    );
    assert_eq!(h[1].0, "COOKIE", "names are kept as sent");
}

#[test]
fn redact_headers_masks_every_secret_bearing_name() {
    for name in [
        "X-Api-Key",
        "x-auth-token",
        "X-CSRF-Token",
        "X-Client-Secret",
        "X-Password",
        "X-Session-Id",
        "My-Api-Key-2",
        "x_apikey",
    ] {
        let mut h = vec![(name.to_string(), "s3cr3t".to_string())];
        redact_headers(&mut h);
        assert_eq!(h[0].1, "<redacted>", "{name}");
    }
    for name in [
        "Accept",
        "Content-Type",
        "X-Request-Id",
        "Host",
        "User-Agent",
    ] {
        let mut h = vec![(name.to_string(), "kept".to_string())];
        redact_headers(&mut h);
        assert_eq!(h[0].1, "kept", "{name}");
    }
}

#[test]
fn redact_query_keeps_keys_not_values() {
    let mut scratch = String::new();
    for (path, want) in [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/login?user=bob", "/login?user=<redacted>"),
        ("/s?q=a%20b&page=2", "/s?q=<redacted>&page=<redacted>"),
        ("/s?flag&x=1", "/s?flag&x=<redacted>"),
        ("/s?", "/s?"),
        ("/s?a=1#frag", "/s?a=<redacted>"),
        ("/s#frag", "/s"),
        ("/s?a==b&&c=", "/s?a=<redacted>&&c=<redacted>"),
    ] {
        let mut p = path.to_string();
        redact_query(&mut p, &mut scratch);
        assert_eq!(p, want, "{path}");
    }
}

// ---------------------------------------------------------------------------------------
// Gaps.

#[test]
fn gap_inside_content_length_body_stays_in_sync() {
    let cfg = HttpConfig {
        keep_body_prefix: 16,
        ..HttpConfig::default()
    };
    let mut r = Run::with(cfg);
    r.req(1, GET)
        .resp(2, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc");
    r.gap(R, 3, 990);
    r.resp(4, b"1234567");
    assert_eq!(r.out.len(), 1);
    let resp = &r.out[0].resp;
    assert_eq!(
        (resp.body_size, resp.body_gap, resp.ts_end_ns),
        (1000, true, 4)
    );
    assert_eq!(resp.body_prefix, b"abc", "the prefix stops at the gap");
    assert_eq!(r.stats().gap_bytes_skipped, 990);
    r.req(5, GET).resp(6, OK5);
    assert_eq!(r.out.len(), 2);
    assert_eq!(r.stats().messages_lost_to_gaps, 0);
}

#[test]
fn gap_inside_request_body_stays_in_sync() {
    let mut r = Run::new();
    r.req(1, b"POST /p HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
        .gap(Q, 2, 100)
        .req(3, GET);
    r.resp(4, OK5).resp(5, OK5);
    assert_eq!(r.paths(), [("POST", "/p", 200), ("GET", "/a", 200)]);
    assert!(r.out[0].req.body_gap);
    assert_eq!(r.out[0].req.ts_end_ns, 2);
}

#[test]
fn gap_inside_chunk_data_stays_in_sync() {
    let mut r = Run::new();
    r.req(1, GET).resp(
        2,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nab",
    );
    r.gap(R, 3, 14);
    r.resp(4, b"\r\n3\r\nxyz\r\n0\r\n\r\n");
    assert_eq!(r.out.len(), 1);
    assert_eq!(
        (r.out[0].resp.body_size, r.out[0].resp.body_gap),
        (19, true)
    );
    assert_eq!(r.stats().gap_bytes_skipped, 14);
}

#[test]
fn gap_inside_close_delimited_body_is_skipped() {
    let mut r = Run::new();
    r.req(1, GET)
        .resp(2, b"HTTP/1.0 200 OK\r\n\r\nab")
        .gap(R, 3, 50)
        .resp(4, b"cd")
        .close(5);
    assert_eq!(
        (r.out[0].resp.body_size, r.out[0].resp.body_gap),
        (54, true)
    );
}

#[test]
fn gap_over_chunk_framing_loses_the_message() {
    let mut r = Run::new();
    r.req(1, GET).resp(
        2,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab",
    );
    r.gap(R, 3, 10);
    r.resp(4, b"garbage\r\n0\r\n\r\n");
    assert!(r.out.is_empty());
    let s = r.stats().clone();
    assert_eq!((s.messages_lost_to_gaps, s.unanswered_requests), (1, 1));
    r.req(5, GET).resp(6, OK5);
    assert_eq!(r.out.len(), 1);
    assert_eq!(r.stats().resyncs, 1);
}

#[test]
fn gap_past_the_end_of_a_body_completes_it_then_resyncs() {
    let mut r = Run::new();
    r.req(1, GET)
        .req(1, GET)
        .resp(2, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
    r.gap(R, 3, 30); // 8 body bytes, then 22 bytes of whatever followed
    assert_eq!(r.out.len(), 1);
    assert_eq!(
        (
            r.out[0].resp.body_size,
            r.out[0].resp.body_gap,
            r.out[0].resp.ts_end_ns
        ),
        (10, true, 3)
    );
    assert_eq!(r.stats().gap_bytes_skipped, 8);
    // The second request's answer may have been in the gap: it is dropped.
    assert_eq!(r.stats().unanswered_requests, 1);
    r.resp(4, b"ntent-Length: 0\r\n\r\n");
    r.req(5, GET).resp(6, OK5);
    assert_eq!(r.out.len(), 2);
}

#[test]
fn gap_inside_request_head_resyncs() {
    let mut r = Run::new();
    r.req(1, b"GET /lost HTTP/1.1\r\nHo")
        .gap(Q, 2, 40)
        .req(3, b"ding: x\r\n\r\nGET /found HTTP/1.1\r\n\r\n");
    let s = r.stats().clone();
    assert_eq!(
        (
            s.messages_lost_to_gaps,
            s.resyncs,
            s.requests,
            s.parse_errors
        ),
        (1, 1, 1, 0)
    );
    r.resp(4, OK5);
    assert_eq!(r.paths(), [("GET", "/found", 200)]);
}

#[test]
fn gap_inside_response_head_drops_pending_requests() {
    let mut r = Run::new();
    r.req(1, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    r.resp(2, b"HTTP/1.1 200 OK\r\nContent-Le").gap(R, 3, 100);
    let s = r.stats().clone();
    assert_eq!((s.messages_lost_to_gaps, s.unanswered_requests), (1, 2));
    // What follows the gap: the end of some response, then a new exchange.
    r.resp(4, b"tail of a body");
    r.req(5, b"GET /3 HTTP/1.1\r\n\r\n").resp(6, OK5);
    assert_eq!(r.paths(), [("GET", "/3", 200)]);
    assert_eq!(r.stats().resyncs, 1);
}

#[test]
fn gap_between_messages_resyncs() {
    let mut r = Run::new();
    r.req(1, GET)
        .gap(Q, 2, 77)
        .req(3, b"ignored bytes GET /next HTTP/1.1\r\n\r\n");
    r.resp(4, OK5).resp(5, OK5);
    assert_eq!(r.paths(), [("GET", "/a", 200), ("GET", "/next", 200)]);
    assert_eq!(
        r.stats().messages_lost_to_gaps,
        0,
        "nothing was in progress"
    );
}

/// The message start found by the resync scan spans pushes; its timestamp is that of the
/// push that carried its first byte.
#[test]
fn resync_start_split_across_pushes() {
    for split in 1..12 {
        let tail: &[u8] = b"junk PROPFIND /dav HTTP/1.1\r\nDepth: 1\r\n\r\n";
        let at = 5 + split;
        let mut r = Run::new();
        r.req(1, b"GET /x HTTP/1.1\r\nA")
            .gap(Q, 2, 5)
            .req(3, &tail[..at.min(tail.len())]);
        r.req(4, &tail[at.min(tail.len())..]);
        r.resp(5, OK5);
        assert_eq!(r.paths(), [("PROPFIND", "/dav", 200)], "split {split}");
        assert_eq!(r.out[0].req.ts_start_ns, 3, "split {split}");
        assert_eq!(r.out[0].req.ts_end_ns, 4, "split {split}");
    }
    // Split inside the carried bytes themselves: "P" in one push, "ROPFIND /" in the next.
    let mut r = Run::new();
    r.gap(Q, 1, 3)
        .req(2, b"xxP")
        .req(3, b"ROPF")
        .req(4, b"IND /dav HTTP/1.1\r\n\r\n")
        .resp(5, OK5);
    assert_eq!(r.out[0].req.ts_start_ns, 2);
    assert_eq!((r.out[0].req.ts_end_ns, r.stats().resyncs), (4, 1));
}

// ---------------------------------------------------------------------------------------
// Malformed input and limits.

#[test]
fn garbage_on_the_request_stream_then_a_request() {
    let mut r = Run::new();
    r.req(
        1,
        b"\x00\x01\x02 not http at all\r\n\r\nPOST /ok HTTP/1.1\r\nContent-Length: 1\r\n\r\nz",
    );
    r.resp(2, OK5);
    assert_eq!(r.paths(), [("POST", "/ok", 200)]);
    let s = r.stats();
    assert_eq!((s.parse_errors, s.resyncs), (1, 1));
    assert!(matches!(
        r.last_error(Q),
        Some(HttpParseError::InvalidHead { offset: 0 })
    ));
}

#[test]
fn garbage_on_the_response_stream_drops_pending() {
    let mut r = Run::new();
    r.req(1, GET).resp(2, b"HTTX/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert!(r.out.is_empty());
    let s = r.stats().clone();
    assert_eq!(
        (
            s.parse_errors,
            s.resyncs,
            s.unanswered_requests,
            s.unmatched_responses
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn a_false_start_inside_a_bad_start_line_is_rescanned() {
    // "POST " looks like a request start, but the real one begins inside its target.
    let mut r = Run::new();
    r.gap(Q, 1, 10)
        .req(2, b"xx POST GET /real HTTP/1.1\r\n\r\n")
        .resp(3, OK5);
    assert_eq!(r.paths(), [("GET", "/real", 200)]);
    assert_eq!(r.stats().parse_errors, 1);
    assert_eq!(r.stats().resyncs, 2);
}

#[test]
fn bad_header_line_resumes_at_that_line() {
    // A status line inside a body fools the resync; the real response starts on a later line.
    let mut r = Run::new();
    r.req(1, GET).gap(R, 2, 5);
    r.resp(
        3,
        b"HTTP/1.1 200 fake\r\nnot a header\r\nHTTP/1.1 204 No Content\r\n\r\n",
    );
    assert_eq!(r.stats().parse_errors, 1);
    assert_eq!(r.stats().resyncs, 2);
    assert_eq!(r.stats().responses, 1);
    assert!(matches!(
        r.last_error(R),
        Some(HttpParseError::InvalidHead { .. })
    ));
}

#[test]
fn invalid_content_length_is_an_error() {
    for cl in ["abc", "-1", "18446744073709551616", "1, 2", ""] {
        let mut r = Run::new();
        r.req(
            1,
            format!("POST / HTTP/1.1\r\nContent-Length: {cl}\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.stats().parse_errors, 1, "{cl:?}");
        assert_eq!(r.last_error(Q), Some(HttpParseError::ContentLength));
    }
}

#[test]
fn huge_content_length_does_not_overflow() {
    let mut r = Run::new();
    r.req(
        1,
        b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nabc",
    );
    r.gap(Q, 2, u64::MAX).gap(Q, 3, u64::MAX).req(4, b"more");
    r.resp(
        5,
        b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nxyz",
    );
    r.gap(R, 6, u64::MAX - 3)
        .resp(7, b"HTTP/1.1 200 OK\r\n\r\n")
        .close(8);
    assert_eq!(r.out.len(), 1);
    assert_eq!(r.out[0].resp.body_size, u64::MAX);
    assert_eq!(r.out[0].req.body_size, u64::MAX, "saturates");
}

#[test]
fn request_transfer_encoding_without_chunked_is_an_error() {
    let mut r = Run::new();
    r.req(
        1,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
    )
    .resp(2, OK5);
    assert_eq!(r.last_error(Q), Some(HttpParseError::TransferEncoding));
    assert_eq!(r.paths(), [("GET", "/b", 200)]);
}

#[test]
fn too_many_headers() {
    let cfg = HttpConfig {
        max_headers: 3,
        ..HttpConfig::default()
    };
    let mut r = Run::with(cfg.clone());
    r.req(1, b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
        .resp(2, OK5);
    assert_eq!(r.out.len(), 1);
    let mut r = Run::with(cfg);
    r.req(1, b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
    assert_eq!(
        r.last_error(Q),
        Some(HttpParseError::TooManyHeaders { limit: 3 })
    );
    assert_eq!(r.stats().requests, 0);
}

#[test]
fn head_too_long() {
    let cfg = HttpConfig {
        max_header_bytes: 64,
        ..HttpConfig::default()
    };
    let mut r = Run::with(cfg);
    let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
    head.extend(std::iter::repeat_n(b'v', 100));
    for piece in head.chunks(7) {
        r.req(1, piece);
    }
    assert_eq!(
        r.last_error(Q),
        Some(HttpParseError::HeadTooLong { limit: 64 })
    );
    assert_eq!(r.stats().parse_errors, 1);
    r.req(2, b"\r\n\r\nGET /ok HTTP/1.1\r\n\r\n").resp(3, OK5);
    assert_eq!(r.paths(), [("GET", "/ok", 200)]);
}

#[test]
fn start_line_too_long() {
    let mut r = Run::new();
    let mut line = b"GET /".to_vec();
    line.extend(std::iter::repeat_n(b'a', head::MAX_START_LINE));
    r.req(1, &line);
    assert_eq!(
        r.last_error(Q),
        Some(HttpParseError::StartLineTooLong {
            limit: head::MAX_START_LINE
        })
    );
}

#[test]
fn chunk_framing_errors() {
    let bad: &[&[u8]] = &[
        b"x\r\n",                            // not hex
        b"\r\n",                             // no digits
        b"11111111111111111\r\n",            // 17 digits
        b"3\r\nabcX\r\n",                    // data not followed by CRLF
        b"3\r\nabc\r\n0\r\nbad\x01\r\n\r\n", // control byte in trailer
        b"3\rX",                             // CR without LF
    ];
    for body in bad {
        let mut r = Run::new();
        r.req(1, GET)
            .resp(2, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .resp(3, body);
        assert_eq!(
            r.last_error(R),
            Some(HttpParseError::Chunked),
            "{:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(r.stats().unanswered_requests, 1);
        assert!(r.out.is_empty());
    }
    // A chunk-size line at its limit is fine, one byte more is not.
    for (ext, ok) in [
        (usize::from(parse::MAX_CHUNK_LINE) - 4, true),
        (usize::from(parse::MAX_CHUNK_LINE) - 3, false),
    ] {
        let mut body = b"1;".to_vec();
        body.extend(std::iter::repeat_n(b'e', ext));
        body.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        let mut r = Run::new();
        r.req(1, GET)
            .resp(2, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .resp(3, &body);
        assert_eq!(r.out.len() == 1, ok, "extension of {ext} bytes");
    }
    // Trailers are bounded by max_header_bytes.
    let mut r = Run::with(HttpConfig {
        max_header_bytes: 100,
        ..HttpConfig::default()
    });
    r.req(1, GET).resp(
        2,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
    );
    for _ in 0..20 {
        r.resp(3, b"T: 12345678\r\n");
    }
    assert_eq!(
        r.last_error(R),
        Some(HttpParseError::HeadTooLong { limit: 100 })
    );
}

#[test]
fn header_grammar_table() {
    // (request, accepted)
    let table: &[(&[u8], bool)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\n\r\n", true),
        (b"GET / HTTP/1.2\r\n\r\n", false),
        (b"GET / HTTP/2.0\r\n\r\n", false),
        (b"GET /\r\n\r\n", false),
        (b"GET  / HTTP/1.1\r\n\r\n", false),
        (b"G(T / HTTP/1.1\r\n\r\n", false),
        (b"X-CUSTOM / HTTP/1.1\r\n\r\n", true),
        (b"GET / HTTP/1.1\r\nName : v\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\n Folded: v\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\nN: v\x7f\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\nN: caf\xc3\xa9\r\n\r\n", true),
        (b"GET / HTTP/1.1\r\nN:\r\n\r\n", true),
        (b"GET / HTTP/1.1\rX\n\r\n", false),
        (b"GET /\xff HTTP/1.1\r\n\r\n", false), // not UTF-8: httparse rejects the target
    ];
    for (req, ok) in table {
        let mut r = Run::new();
        r.req(1, req).resp(2, OK5);
        assert_eq!(r.out.len() == 1, *ok, "{:?}", String::from_utf8_lossy(req));
        assert_eq!(
            r.stats().parse_errors == 0,
            *ok,
            "{:?}",
            String::from_utf8_lossy(req)
        );
    }
    let table: &[(&[u8], bool)] = &[
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
        (b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", true),
        (b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", true),
        (b"HTTP/1.1 200 Caf\xe9\r\nContent-Length: 0\r\n\r\n", true),
        (b"HTTP/1.1 20 OK\r\n\r\n", false),
        (b"HTTP/1.1 2000 OK\r\n\r\n", false),
        (b"HTTP/1.1 200 O\x00K\r\n\r\n", false),
        (b"http/1.1 200 OK\r\n\r\n", false),
    ];
    for (resp, ok) in table {
        let mut r = Run::new();
        r.req(1, GET).resp(2, resp);
        assert_eq!(r.out.len() == 1, *ok, "{:?}", String::from_utf8_lossy(resp));
    }
}

#[test]
fn body_prefix_is_bounded() {
    let mut r = Run::with(HttpConfig {
        keep_body_prefix: 3,
        ..HttpConfig::default()
    });
    r.req(1, b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
        .req(2, b"cde")
        .resp(3, OK5);
    assert_eq!(r.out[0].req.body_prefix, b"abc");
    assert_eq!(r.out[0].resp.body_prefix, b"hel");
}

#[test]
fn zero_limits_do_not_panic() {
    let cfg = HttpConfig {
        max_headers: 0,
        max_header_bytes: 0,
        max_pending: 0,
        keep_body_prefix: 0,
    };
    let mut r = Run::with(cfg);
    r.req(1, b"GET / HTTP/1.1\r\n\r\n")
        .resp(2, b"HTTP/1.1 200 OK\r\n\r\n")
        .close(3);
    assert_eq!(
        r.stats().parse_errors,
        2,
        "a 1-byte head limit rejects both"
    );
    let cfg = HttpConfig {
        max_headers: 100,
        max_header_bytes: 1 << 20,
        max_pending: 1,
        keep_body_prefix: 1,
    };
    let mut r = Run::with(cfg);
    r.req(1, GET).resp(2, OK5);
    assert_eq!(r.out.len(), 1);
}

#[test]
fn long_bogus_start_line_resumes_at_the_failing_byte() {
    let mut req = b"POST /".to_vec();
    req.extend(std::iter::repeat_n(b'a', head::RESCAN_WINDOW + 100));
    req.extend_from_slice(b"\x01GET /ok HTTP/1.1\r\n\r\n");
    let mut r = Run::new();
    r.req(1, &req).resp(2, OK5);
    assert_eq!(r.paths(), [("GET", "/ok", 200)]);
    assert_eq!((r.stats().parse_errors, r.stats().resyncs), (1, 1));
}

/// Streams where every few bytes look like a message start: recovery stays linear.
#[test]
fn adversarial_resync_is_linear() {
    let patterns: [(&[u8], MessageKind); 4] = [
        (b"HTTP/1.1 200 ", R),
        (b"GET GET /", Q),
        (b"X: HTTP/1.1 200 \r\n", R),
        (b"GET / HTTP/1.1\r\nA: GET / HTTP/1.1\r\n", Q),
    ];
    for (pattern, kind) in patterns {
        let mut stream = Vec::new();
        while stream.len() < 256 * 1024 {
            stream.extend_from_slice(pattern);
            if stream.len() % 4096 < pattern.len() {
                stream.push(0); // an invalid byte now and then
            }
        }
        let start = std::time::Instant::now();
        let mut r = Run::new();
        for piece in stream.chunks(1000) {
            r.push(kind, 1, piece);
        }
        let took = start.elapsed();
        let work = match kind {
            Q => r.conn.req.work,
            R => r.conn.resp.work,
        };
        let ratio = work as f64 / stream.len() as f64;
        eprintln!(
            "{:?}: {took:?}, {ratio:.2} bytes scanned per input byte",
            String::from_utf8_lossy(pattern)
        );
        assert!(
            ratio < 4.0,
            "{:?}: rescanned {ratio:.1}x",
            String::from_utf8_lossy(pattern)
        );
        assert!(r.stats().parse_errors > 0);
    }
}
