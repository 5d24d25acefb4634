//! Properties: splitting bytes differently across pushes never changes records or counters,
//! and no input panics.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;
use crate::resplit::{resplit, split_at};

fn outcome(events: &[Event]) -> (Vec<HttpRecord>, HttpStats) {
    let mut out = Vec::new();
    let stats = capture::replay(events, HttpConfig::default(), &mut out);
    (out, stats)
}

#[test]
fn captures_byte_by_byte_equal_chunk_by_chunk() {
    for name in case_names().iter().filter(|n| *n != "large_body_1mb") {
        let events = load_case(name);
        let bytes: Vec<Event> = events
            .iter()
            .flat_map(|e| match e {
                Event::Data { kind, ts, bytes } => bytes
                    .iter()
                    .map(|&b| Event::Data {
                        kind: *kind,
                        ts: *ts,
                        bytes: vec![b],
                    })
                    .collect(),
                Event::Close { .. } => vec![e.clone()],
            })
            .collect();
        assert_eq!(outcome(&events), outcome(&bytes), "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn captures_split_anywhere(case in any::<Index>(), cuts in prop::collection::vec(prop::collection::vec(any::<Index>(), 0..8), 0..40)) {
        let names = case_names();
        let name = case.get(&names);
        let events = load_case(name);
        prop_assert_eq!(outcome(&events), outcome(&resplit(&events, &cuts)), "{}", name);
    }
}

// ---------------------------------------------------------------------------------------
// Generated exchanges.

#[derive(Clone, Debug)]
enum ReqBody {
    None,
    Length(usize),
    Chunked(Vec<usize>),
}

#[derive(Clone, Debug)]
enum RespBody {
    Length(usize),
    Chunked(Vec<usize>),
}

#[derive(Clone, Debug)]
struct Exchange {
    method: &'static str,
    req_body: ReqBody,
    expect_continue: bool,
    status: u16,
    resp_body: RespBody,
}

fn exchange() -> impl Strategy<Value = Exchange> {
    let sizes = prop::collection::vec(1usize..300, 0..4);
    let req_body = prop_oneof![
        Just(ReqBody::None),
        (0usize..2000).prop_map(ReqBody::Length),
        sizes.clone().prop_map(ReqBody::Chunked),
    ];
    let resp_body = prop_oneof![
        (0usize..5000).prop_map(RespBody::Length),
        sizes.prop_map(RespBody::Chunked)
    ];
    (
        prop::sample::select(&["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"][..]),
        req_body,
        any::<bool>(),
        prop::sample::select(&[200u16, 201, 204, 301, 304, 404, 500][..]),
        resp_body,
    )
        .prop_map(
            |(method, req_body, expect_continue, status, resp_body)| Exchange {
                method,
                req_body,
                expect_continue,
                status,
                resp_body,
            },
        )
}

fn chunked(sizes: &[usize], fill: u8, out: &mut Vec<u8>) {
    for (i, &n) in sizes.iter().enumerate() {
        out.extend_from_slice(
            format!("{n:x}{}\r\n", if i % 2 == 1 { ";ext=1" } else { "" }).as_bytes(),
        );
        out.extend(std::iter::repeat_n(fill, n));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nTrailer-Field: x\r\n\r\n");
}

/// The wire bytes of each exchange, with the offsets where each request ends and each
/// response begins, and the expected (method, path, status, request body, response body).
struct Wire {
    req: Vec<u8>,
    resp: Vec<u8>,
    req_end: Vec<usize>,
    resp_start: Vec<usize>,
    expected: Vec<(String, String, u16, u64, u64)>,
}

fn wire(exchanges: &[Exchange]) -> Wire {
    let mut w = Wire {
        req: Vec::new(),
        resp: Vec::new(),
        req_end: Vec::new(),
        resp_start: Vec::new(),
        expected: Vec::new(),
    };
    for (i, x) in exchanges.iter().enumerate() {
        let path = format!("/item/{i}?q=x");
        w.req.extend_from_slice(
            format!("{} {path} HTTP/1.1\r\nHost: example\r\n", x.method).as_bytes(),
        );
        if x.expect_continue {
            w.req.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        let req_size = match &x.req_body {
            ReqBody::None => {
                w.req.extend_from_slice(b"\r\n");
                0
            }
            ReqBody::Length(n) => {
                w.req
                    .extend_from_slice(format!("Content-Length: {n}\r\n\r\n").as_bytes());
                w.req.extend(std::iter::repeat_n(b'q', *n));
                *n
            }
            ReqBody::Chunked(sizes) => {
                w.req
                    .extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                chunked(sizes, b'c', &mut w.req);
                sizes.iter().sum()
            }
        };
        w.req_end.push(w.req.len());
        w.resp_start.push(w.resp.len());
        if x.expect_continue {
            w.resp.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        w.resp.extend_from_slice(
            format!("HTTP/1.1 {} Whatever\r\nServer: gen\r\n", x.status).as_bytes(),
        );
        let bodiless = x.method == "HEAD" || x.status == 204 || x.status == 304;
        let resp_size = match &x.resp_body {
            RespBody::Length(n) => {
                w.resp
                    .extend_from_slice(format!("Content-Length: {n}\r\n\r\n").as_bytes());
                if !bodiless {
                    w.resp.extend(std::iter::repeat_n(b'r', *n));
                }
                *n
            }
            RespBody::Chunked(sizes) => {
                w.resp
                    .extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                if !bodiless {
                    chunked(sizes, b'R', &mut w.resp);
                }
                sizes.iter().sum()
            }
        };
        let resp_size = if bodiless { 0 } else { resp_size };
        w.expected.push((
            x.method.to_string(),
            path,
            x.status,
            req_size as u64,
            resp_size as u64,
        ));
    }
    w
}

/// Pushes request and response pieces interleaved as `order` says, but never a response byte
/// before the whole request it answers (as in any capture).
fn run_interleaved(w: &Wire, req_pieces: &[&[u8]], resp_pieces: &[&[u8]], order: &[bool]) -> Run {
    let mut r = Run::new();
    let (mut qi, mut pi, mut q_off, mut p_off) = (0, 0, 0, 0);
    let mut order = order.iter().copied().cycle();
    while qi < req_pieces.len() || pi < resp_pieces.len() {
        let resp_allowed = resp_pieces.get(pi).is_some_and(|p| {
            let end = p_off + p.len();
            let answered = w.resp_start.iter().filter(|&&s| s < end).count();
            answered == 0 || w.req_end.get(answered - 1).is_some_and(|&e| e <= q_off)
        });
        let take_resp = resp_allowed && (qi >= req_pieces.len() || order.next().unwrap_or(true));
        if take_resp {
            r.resp(20, resp_pieces[pi]);
            p_off += resp_pieces[pi].len();
            pi += 1;
        } else {
            r.req(10, req_pieces[qi]);
            q_off += req_pieces[qi].len();
            qi += 1;
        }
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_exchanges_split_and_interleaved(
        exchanges in prop::collection::vec(exchange(), 1..8),
        req_cuts in prop::collection::vec(any::<Index>(), 0..30),
        resp_cuts in prop::collection::vec(any::<Index>(), 0..30),
        order in prop::collection::vec(any::<bool>(), 1..16),
    ) {
        let w = wire(&exchanges);
        let mut one = Run::new();
        one.req(10, &w.req).resp(20, &w.resp);
        let got: Vec<_> = one
            .out
            .iter()
            .map(|r| (r.req.method.clone(), r.req.path.clone(), r.resp.status, r.req.body_size, r.resp.body_size))
            .collect();
        prop_assert_eq!(&got, &w.expected);
        let interim = exchanges.iter().filter(|x| x.expect_continue).count() as u64;
        let n = exchanges.len() as u64;
        let want = HttpStats { requests: n, responses: n, records: n, interim_responses: interim, ..HttpStats::default() };
        prop_assert_eq!(one.stats(), &want);

        let req_pieces = split_at(&w.req, &req_cuts);
        let resp_pieces = split_at(&w.resp, &resp_cuts);
        let split = run_interleaved(&w, &req_pieces, &resp_pieces, &order);
        prop_assert_eq!(&one.out, &split.out);
        prop_assert_eq!(one.stats(), split.stats());
    }
}

// ---------------------------------------------------------------------------------------
// Arbitrary and HTTP-like bytes.

/// Fragments that steer random streams into every parser state.
const FRAGMENTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n",
    b"HEAD /h HTTP/1.0\r\n",
    b"POST /p HTTP/1.1\r\n",
    b"CONNECT h:1 HTTP/1.1\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.0 204 No\r\n",
    b"HTTP/1.1 100 Continue\r\n",
    b"HTTP/1.1 101 Up\r\n",
    b"HTTP/1.1 304 NM\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 18446744073709551615\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Host: x\r\n",
    b"\r\n",
    b"\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffff\r\n",
    b"3;e=1\r\n",
    b"abc",
    b"GE",
    b"T /",
    b"HTT",
    b"P/1.1 ",
    b"\x00",
    b"\xff",
    b" ",
    b":",
];

fn http_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

#[derive(Clone, Debug)]
enum Op {
    Push(MessageKind, Vec<u8>),
    Gap(MessageKind, u64),
    Close,
}

fn kind() -> impl Strategy<Value = MessageKind> {
    prop_oneof![Just(Q), Just(R)]
}

fn op() -> impl Strategy<Value = Op> {
    let len = prop_oneof![0u64..10, 0u64..100_000, Just(u64::MAX), Just(u64::MAX - 1)];
    prop_oneof![
        8 => (kind(), http_like()).prop_map(|(k, b)| Op::Push(k, b)),
        4 => (kind(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(k, b)| Op::Push(k, b)),
        2 => (kind(), len).prop_map(|(k, l)| Op::Gap(k, l)),
        1 => Just(Op::Close),
    ]
}

fn configs() -> [HttpConfig; 2] {
    [
        HttpConfig {
            keep_body_prefix: 4,
            ..HttpConfig::default()
        },
        HttpConfig {
            max_headers: 2,
            max_header_bytes: 40,
            max_pending: 2,
            keep_body_prefix: 1,
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_input_panics(ops in prop::collection::vec(op(), 0..24), ts in prop::collection::vec(any::<u64>(), 1..8)) {
        for cfg in configs() {
            let mut r = Run::with(cfg);
            for (i, op) in ops.iter().enumerate() {
                let t = ts[i % ts.len()];
                match op {
                    Op::Push(k, b) => { r.push(*k, t, b); }
                    Op::Gap(k, l) => { r.gap(*k, t, *l); }
                    Op::Close => { r.close(t); }
                }
            }
            let s = r.stats();
            prop_assert_eq!(s.records, r.out.len() as u64);
            prop_assert!(s.records <= s.responses);
        }
    }

    /// Split invariance holds for any bytes, not only valid HTTP: resync, errors and limits
    /// depend on the byte sequence alone.
    #[test]
    fn any_bytes_split_anywhere(
        req in http_like(),
        resp in http_like(),
        req_cuts in prop::collection::vec(any::<Index>(), 0..20),
        resp_cuts in prop::collection::vec(any::<Index>(), 0..20),
        gap_at in any::<Index>(),
        gap_len in prop_oneof![1u64..20, Just(u64::MAX)],
    ) {
        for cfg in configs() {
            let run = |req_pieces: &[&[u8]], resp_pieces: &[&[u8]]| {
                let mut r = Run::with(cfg.clone());
                let (head, tail) = req_pieces.split_at(gap_at.index(req_pieces.len() + 1));
                for p in head {
                    r.req(10, p);
                }
                r.gap(Q, 10, gap_len);
                for p in tail {
                    r.req(10, p);
                }
                for p in resp_pieces {
                    r.resp(20, p);
                }
                r.close(30);
                (r.out, r.conn.stats().clone())
            };
            // The gap sits at a piece boundary; the reference cuts the stream there too.
            let req_pieces = split_at(&req, &req_cuts);
            let resp_pieces = split_at(&resp, &resp_cuts);
            let at = gap_at.index(req_pieces.len() + 1);
            let before: Vec<u8> = req_pieces[..at].concat();
            let after: Vec<u8> = req_pieces[at..].concat();
            let mut reference_pieces: Vec<&[u8]> = Vec::new();
            if !before.is_empty() { reference_pieces.push(&before); }
            let ref_at = reference_pieces.len();
            if !after.is_empty() { reference_pieces.push(&after); }
            let mut r = Run::with(cfg.clone());
            for p in &reference_pieces[..ref_at] { r.req(10, p); }
            r.gap(Q, 10, gap_len);
            for p in &reference_pieces[ref_at..] { r.req(10, p); }
            r.resp(20, &resp);
            r.close(30);
            let reference = (r.out, r.conn.stats().clone());
            prop_assert_eq!(reference, run(&req_pieces, &resp_pieces));
        }
    }
}
