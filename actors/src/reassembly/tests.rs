//! The Reassembly actor on synthetic kernel records (same wiring as the
//! agent, without the kernel): ordering, gaps, role inference, caps.

use super::*;
use loupe_bpf::events::{EV_CLOSE, EV_DATA, EV_OPEN, EventHeader};
use std::sync::Mutex;

/// A row as the store receives it, read back from the batch.
#[derive(Debug)]
struct Row {
    method: String,
    path: String,
    status: i64,
    trace_role: i64,
    latency: i64,
    resp_body_size: i64,
    upid: String,
}

struct Collector(Arc<Mutex<Vec<Row>>>);
impl Actor for Collector {
    type Context = Context<Self>;
}
impl Handler<TableBatch> for Collector {
    type Result = ();
    fn handle(&mut self, m: TableBatch, _: &mut Self::Context) {
        use arrow::array::AsArray;
        use arrow::datatypes::{DataType, Int64Type};
        let b = &m.batch;
        let text =
            |c: &str| arrow::compute::cast(b.column_by_name(c).unwrap(), &DataType::Utf8).unwrap();
        let int = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let (method, path, upid) = (text("req_method"), text("req_path"), text("upid"));
        let (status, role, lat, size) = (
            int("resp_status"),
            int("trace_role"),
            int("resp_latency"),
            int("resp_body_size"),
        );
        let mut rows = self.0.lock().unwrap();
        for i in 0..b.num_rows() {
            rows.push(Row {
                method: method.as_string::<i32>().value(i).into(),
                path: path.as_string::<i32>().value(i).into(),
                status: status.value(i),
                trace_role: role.value(i),
                latency: lat.value(i),
                resp_body_size: size.value(i),
                upid: upid.as_string::<i32>().value(i).into(),
            });
        }
        assert!(
            m.processes
                .iter()
                .all(|p| rows.iter().any(|r| r.upid == p.upid))
        );
    }
}

fn conn_ev(kind: u32, fd: u32, role: u32, proto: u16) -> Record {
    let c = ConnEvent {
        h: EventHeader {
            kind,
            tgid: std::process::id(),
            fd,
            generation: fd,
            ts_ns: 1,
        },
        role,
        family: libc::AF_INET as u16,
        protocol: proto,
        local_port: 8080,
        remote_port: 40000,
        local_addr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        remote_addr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ..Default::default()
    };
    if kind == EV_OPEN {
        Record::Open(c)
    } else {
        Record::Close(c)
    }
}

/// Appends a data record to `b`.
fn data(
    b: &mut EventBatch,
    fd: u32,
    dir: Direction,
    offset: u64,
    ts: u64,
    bytes: &[u8],
    gap_after: u32,
) {
    let hdr = DataEventHeader {
        h: EventHeader {
            kind: EV_DATA,
            tgid: std::process::id(),
            fd,
            generation: fd,
            ts_ns: ts,
        },
        offset,
        len: bytes.len() as u32,
        gap_after,
        direction: if dir == Direction::Egress { 0 } else { 1 },
        source: 1,
        flags: loupe_bpf::events::FLAG_MSG_END,
    };
    let start = b.payload.len() as u32;
    b.payload.extend_from_slice(bytes);
    b.records.push(Record::Data { hdr, start });
}

fn run_batches(batches: Vec<EventBatch>) -> (Vec<Row>, Arc<Counters>) {
    let rows = Arc::new(Mutex::new(Vec::new()));
    let counters = Arc::new(Counters::default());
    let sys = actix::System::new();
    let (r2, c2) = (rows.clone(), counters.clone());
    sys.block_on(async move {
        let sink = Collector(r2).start();
        let re = Reassembly::new(ReassemblyConfig::default(), "t", sink.recipient(), c2).start();
        for b in batches {
            re.send(b).await.unwrap();
        }
        // Rows are sealed into a batch after `seal_every` (200 ms).
        tokio::time::sleep(Duration::from_millis(450)).await;
    });
    let out = std::mem::take(&mut *rows.lock().unwrap());
    (out, counters)
}

const REQ: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn server_request_one_byte_per_record() {
    let mut b = EventBatch::default();
    b.records
        .push(conn_ev(EV_OPEN, 5, 2, libc::IPPROTO_TCP as u16));
    for (i, byte) in REQ.iter().enumerate() {
        data(
            &mut b,
            5,
            Direction::Ingress,
            i as u64,
            1000 + i as u64,
            &[*byte],
            0,
        );
    }
    data(&mut b, 5, Direction::Egress, 0, 5000, RESP, 0);
    b.records
        .push(conn_ev(EV_CLOSE, 5, 2, libc::IPPROTO_TCP as u16));
    let (rows, _) = run_batches(vec![b]);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.status),
        ("GET", "/a", 200)
    );
    assert_eq!(r.trace_role, 2);
    assert_eq!(
        r.latency,
        5000 - 1000,
        "last response byte minus first request byte"
    );
    assert_eq!(
        r.upid.split(':').nth(1),
        Some(std::process::id().to_string().as_str())
    );
}

#[test]
fn role_inferred_when_open_was_not_seen() {
    let mut b = EventBatch::default();
    data(&mut b, 6, Direction::Egress, 0, 10, REQ, 0);
    data(&mut b, 6, Direction::Ingress, 0, 30, RESP, 0);
    let (rows, _) = run_batches(vec![b]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].trace_role, 1, "sent a request: client side");
}

#[test]
fn lost_record_is_a_counted_gap_and_parsing_resumes() {
    let mut b = EventBatch::default();
    b.records
        .push(conn_ev(EV_OPEN, 7, 2, libc::IPPROTO_TCP as u16));
    // First exchange.
    data(&mut b, 7, Direction::Ingress, 0, 10, REQ, 0);
    data(&mut b, 7, Direction::Egress, 0, 20, RESP, 0);
    // Second request's first 10 bytes are lost (record dropped in the kernel).
    let off = REQ.len() as u64;
    data(&mut b, 7, Direction::Ingress, off + 10, 30, &REQ[10..], 0);
    data(&mut b, 7, Direction::Egress, RESP.len() as u64, 40, RESP, 0);
    // Third exchange is whole.
    data(&mut b, 7, Direction::Ingress, 2 * off, 50, REQ, 0);
    data(
        &mut b,
        7,
        Direction::Egress,
        2 * RESP.len() as u64,
        60,
        RESP,
        0,
    );
    b.records
        .push(conn_ev(EV_CLOSE, 7, 2, libc::IPPROTO_TCP as u16));
    let (rows, counters) = run_batches(vec![b]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(counters.get(Counter::ReassemblyGapBytes), 10);
}

#[test]
fn capped_body_keeps_the_stream_in_sync() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    let mut b = EventBatch::default();
    b.records
        .push(conn_ev(EV_OPEN, 8, 2, libc::IPPROTO_TCP as u16));
    data(&mut b, 8, Direction::Ingress, 0, 10, REQ, 0);
    // The kernel copied the head and 1000 body bytes, then announced the rest.
    let mut first = head.to_vec();
    first.extend(std::iter::repeat_n(b'x', 1000));
    data(&mut b, 8, Direction::Egress, 0, 20, &first, 99_000);
    data(&mut b, 8, Direction::Ingress, REQ.len() as u64, 30, REQ, 0);
    data(
        &mut b,
        8,
        Direction::Egress,
        (head.len() + 100_000) as u64,
        40,
        RESP,
        0,
    );
    let (rows, counters) = run_batches(vec![b]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].resp_body_size, 100_000);
    assert_eq!(rows[1].resp_body_size, 5);
    assert_eq!(counters.get(Counter::ReassemblyGapBytes), 0);
}

#[test]
fn bytes_of_no_protocol_get_bounded_retries_then_are_ignored() {
    let tls = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-tls-ish";
    let mut b = EventBatch::default();
    // One garbage write, then a request: the retry finds HTTP.
    b.records
        .push(conn_ev(EV_OPEN, 10, 2, libc::IPPROTO_TCP as u16));
    data(&mut b, 10, Direction::Ingress, 0, 10, tls, 0);
    let off = tls.len() as u64;
    data(&mut b, 10, Direction::Ingress, off, 20, REQ, 0);
    data(&mut b, 10, Direction::Egress, 0, 30, RESP, 0);
    // Garbage past the retry bound: the request after it is not parsed.
    b.records
        .push(conn_ev(EV_OPEN, 11, 2, libc::IPPROTO_TCP as u16));
    let mut off = 0;
    for i in 0..MAX_INFER_MISSES as u64 {
        data(&mut b, 11, Direction::Ingress, off, 10 + i, tls, 0);
        off += tls.len() as u64;
    }
    data(&mut b, 11, Direction::Ingress, off, 100, REQ, 0);
    data(&mut b, 11, Direction::Egress, 0, 110, RESP, 0);
    let (rows, counters) = run_batches(vec![b]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(counters.get(Counter::ReassemblyConnsIgnored), 1);
    assert_eq!(counters.get(Counter::ReassemblyConnsInferred), 1);
    assert!(counters.get(Counter::ReassemblyIgnoredBytes) >= REQ.len() as u64);
}

#[test]
fn udp_datagrams_are_parsed_whole_and_their_losses_counted() {
    // A DNS query and its answer on an unconnected UDP socket (role from the
    // QR bit), the answer split over two records; then a datagram cut by
    // the capture cap, which is dropped and counted.
    let q: &[u8] = &[
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1,
    ];
    let a: &[u8] = &[
        0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0,
        1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1,
    ];
    let mut b = EventBatch::default();
    b.records
        .push(conn_ev(EV_OPEN, 12, 0, libc::IPPROTO_UDP as u16));
    data(&mut b, 12, Direction::Ingress, 0, 10, q, 0);
    let split = 7;
    data(&mut b, 12, Direction::Egress, 0, 20, &a[..split], 0);
    if let Some(Record::Data { hdr, .. }) = b.records.last_mut() {
        hdr.flags = 0;
    }
    data(
        &mut b,
        12,
        Direction::Egress,
        split as u64,
        20,
        &a[split..],
        0,
    );
    let qlen = q.len() as u64;
    data(&mut b, 12, Direction::Ingress, qlen, 30, &q[..5], 100);
    let rows = Arc::new(Mutex::new(0usize));
    let counters = Arc::new(Counters::default());
    let sys = actix::System::new();
    let (r2, c2) = (rows.clone(), counters.clone());
    sys.block_on(async move {
        let sink = CountRows(r2).start();
        let re = Reassembly::new(ReassemblyConfig::default(), "t", sink.recipient(), c2).start();
        re.send(b).await.unwrap();
        tokio::time::sleep(Duration::from_millis(450)).await;
    });
    assert_eq!(*rows.lock().unwrap(), 1);
    assert_eq!(counters.parser("dns", ParserCounter::Records), 1);
    assert_eq!(counters.get(Counter::ReassemblyDatagramsLost), 1);
}

/// Counts rows of any table.
struct CountRows(Arc<Mutex<usize>>);
impl Actor for CountRows {
    type Context = Context<Self>;
}
impl Handler<TableBatch> for CountRows {
    type Result = ();
    fn handle(&mut self, m: TableBatch, _: &mut Self::Context) {
        assert_eq!(m.table, loupe_topology::schema::DNS_EVENTS);
        *self.0.lock().unwrap() += m.batch.num_rows();
    }
}
