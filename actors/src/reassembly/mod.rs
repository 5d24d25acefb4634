//! Reassembly: per connection and direction, orders chunks by stream offset,
//! turns holes into gaps of known length, infers the protocol from the first
//! bytes, drives the parser, and emits rows in batches to the TableStore.
//! Idle connections are evicted (LRU); every loss is counted per connection
//! and per node.
//!
//! Parsing runs inside this actor, on the batch it received: handing every
//! ordered piece to a separate parse actor would copy each payload once more
//! for no gain. The parsers themselves stay pure (`protocol-parsers`).

pub mod stream;

use actix::prelude::*;
use loupe_bpf::{ConnEvent, DataEventHeader, Direction, Role};
use loupe_k8s::{HostMetadata, ProcessHint};
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::http::{self, HttpConfig, HttpConnection, HttpRecord, Inference};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::capture::{EventBatch, Record};
use crate::clock::MonoToWall;
use crate::counters::{Counter, Counters};
use crate::table_store::{ConnMeta, HttpBatchBuilder, HttpRow, TableBatch};
use loupe_k8s::ProcessInfo;
use stream::{Piece, StreamReassembler, StreamStats};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ConnKey {
    tgid: u32,
    fd: u32,
    generation: u32,
}

enum Proto {
    /// Not decided yet: the first bytes of each direction (up to
    /// INFER_BYTES) and the timestamp of the first of them.
    Unknown {
        first: [(u64, Vec<u8>); 2],
    },
    Http(Box<HttpConnection>),
    /// Not a traced protocol: bytes are counted and dropped.
    Ignored,
}

const INFER_BYTES: usize = 16;

struct Conn {
    tgid: u32,
    /// Limits for this connection's parser once its protocol is known.
    http_cfg: HttpConfig,
    /// The process as the kernel saw it at connection open.
    hint: Option<ProcessHint>,
    role: Role,
    addrs: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
    udp: bool,
    streams: [StreamReassembler; 2],
    proto: Proto,
    meta: Option<Arc<ConnMeta>>,
    last_mono: u64,
    /// Counters already folded into the node totals.
    reported: StreamStats,
    reported_http: http::HttpStats,
}

impl Conn {
    fn new(tgid: u32, role: Role, http_cfg: HttpConfig) -> Self {
        Conn {
            tgid,
            http_cfg,
            hint: None,
            role,
            addrs: None,
            udp: false,
            // No waiting for holes: the kernel hands each socket's records to
            // the ring in offset order (the offset is reserved and the record
            // written in the same syscall exit), so a hole is a lost record,
            // and holding later bytes back would let the other direction run
            // ahead and break request/response pairing. Late bytes are counted.
            streams: [StreamReassembler::new(0), StreamReassembler::new(0)],
            proto: Proto::Unknown {
                first: [(0, Vec::new()), (0, Vec::new())],
            },
            meta: None,
            last_mono: 0,
            reported: StreamStats::default(),
            reported_http: http::HttpStats::default(),
        }
    }
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Egress => 0,
        Direction::Ingress => 1,
    }
}

/// Which HTTP stream a direction carries, given the role.
fn kind_of(role: Role, d: Direction) -> Option<MessageKind> {
    match (role, d) {
        (Role::Client, Direction::Egress) | (Role::Server, Direction::Ingress) => {
            Some(MessageKind::Request)
        }
        (Role::Client, Direction::Ingress) | (Role::Server, Direction::Egress) => {
            Some(MessageKind::Response)
        }
        (Role::Unknown, _) => None,
    }
}

/// Settings of the reassembly actor.
#[derive(Clone, Debug)]
pub struct ReassemblyConfig {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub http: HttpConfig,
    /// Rows per batch sent to the store; a batch also goes after `seal_every`.
    pub batch_rows: usize,
    pub seal_every: Duration,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_connections: 65_536,
            idle_timeout: Duration::from_secs(300),
            http: HttpConfig::default(),
            batch_rows: 8192,
            seal_every: Duration::from_millis(200),
        }
    }
}

pub struct Reassembly {
    cfg: ReassemblyConfig,
    conns: LruCache<ConnKey, Conn, ahash::RandomState>,
    metadata: HostMetadata,
    store: Recipient<TableBatch>,
    counters: Arc<Counters>,
    clock: MonoToWall,
    /// Rows are made columnar here, on the thread that parsed them (their
    /// strings are freed where they were allocated); the store gets sealed batches.
    builder: HttpBatchBuilder,
    batch_procs: Vec<Arc<ProcessInfo>>,
    batch_started: std::time::Instant,
    records: Vec<HttpRecord>,
    newest_mono: u64,
}

impl Reassembly {
    pub fn new(
        cfg: ReassemblyConfig,
        node: &str,
        store: Recipient<TableBatch>,
        counters: Arc<Counters>,
    ) -> Self {
        let cap = NonZeroUsize::new(cfg.max_connections.max(1)).unwrap_or(NonZeroUsize::MIN);
        Reassembly {
            cfg,
            // Keys come from the kernel (pid, fd, generation), not from the
            // network, so a fast keyed hash with fixed seeds is safe here.
            conns: LruCache::with_hasher(cap, ahash::RandomState::with_seeds(1, 2, 3, 4)),
            metadata: HostMetadata::new(node),
            store,
            counters,
            clock: MonoToWall::now(),
            builder: HttpBatchBuilder::default(),
            batch_procs: Vec::new(),
            batch_started: std::time::Instant::now(),
            records: Vec::with_capacity(64),
            newest_mono: 0,
        }
    }

    fn conn_entry(&mut self, key: ConnKey) -> &mut Conn {
        if !self.conns.contains(&key) {
            self.counters.add(Counter::ReassemblyConnsOpened, 1);
            if let Some((old_key, mut old)) = self.conns.push(
                key,
                Conn::new(key.tgid, Role::Unknown, self.cfg.http.clone()),
            ) && old_key != key
            {
                self.counters.add(Counter::ReassemblyConnsEvicted, 1);
                Self::finish_conn(&mut old, self.newest_mono, &mut self.records);
                self.report(&mut old);
                self.emit_records(&mut old);
            }
        }
        self.conns.get_mut(&key).expect("entry inserted above")
    }

    fn on_open(&mut self, c: &ConnEvent) {
        let key = ConnKey {
            tgid: c.h.tgid,
            fd: c.h.fd,
            generation: c.h.generation,
        };
        let role = Role::from_raw(c.role);
        let conn = self.conn_entry(key);
        if role != Role::Unknown {
            conn.role = role;
        }
        conn.udp = c.protocol == libc::IPPROTO_UDP as u16;
        conn.addrs = Some(c.addrs());
        conn.last_mono = c.h.ts_ns;
        conn.hint = Some(ProcessHint {
            start_ticks: c.start_ticks(),
            comm: c.comm(),
        });
        // Read /proc now, while the process is most likely alive: short-lived
        // clients (curl) may be gone by the time their first record is parsed.
        let mut conn = self.conns.pop(&key).expect("entry inserted above");
        conn.meta = Some(Arc::new(self.conn_meta(&conn)));
        self.conns.put(key, conn);
    }

    fn on_close(&mut self, c: &ConnEvent) {
        let key = ConnKey {
            tgid: c.h.tgid,
            fd: c.h.fd,
            generation: c.h.generation,
        };
        if let Some(mut conn) = self.conns.pop(&key) {
            Self::finish_conn(&mut conn, c.h.ts_ns, &mut self.records);
            self.report(&mut conn);
            self.emit_records(&mut conn);
            let lost = conn.reported;
            if lost.gap_bytes + lost.late_bytes > 0 {
                tracing::debug!(
                    pid = key.tgid,
                    fd = key.fd,
                    gap_bytes = lost.gap_bytes,
                    late_bytes = lost.late_bytes,
                    capped_bytes = lost.capped_bytes,
                    "connection closed with bytes the agent did not see"
                );
            }
        }
    }

    /// Gives up on held data and closes the parser: for close and eviction.
    fn finish_conn(conn: &mut Conn, ts: u64, records: &mut Vec<HttpRecord>) {
        for d in [Direction::Egress, Direction::Ingress] {
            let i = dir_index(d);
            let mut pieces = OwnedPieces::default();
            conn.streams[i].flush(&mut pieces.sink());
            pieces.feed(conn, d, records);
        }
        if let Proto::Http(h) = &mut conn.proto {
            h.close(ts, records);
        }
    }

    fn on_data(&mut self, hdr: &DataEventHeader, payload: &[u8]) {
        let key = ConnKey {
            tgid: hdr.h.tgid,
            fd: hdr.h.fd,
            generation: hdr.h.generation,
        };
        self.newest_mono = self.newest_mono.max(hdr.h.ts_ns);
        let mut records = std::mem::take(&mut self.records);
        let conn = self.conn_entry(key);
        conn.last_mono = hdr.h.ts_ns;
        let d = Direction::from_raw(hdr.direction);
        if matches!(conn.proto, Proto::Ignored) || conn.udp {
            conn.proto = Proto::Ignored;
            self.counters.add(
                Counter::ReassemblyIgnoredBytes,
                payload.len() as u64 + hdr.gap_after as u64,
            );
            self.records = records;
            return;
        }
        let stream = &mut conn.streams[dir_index(d)];
        // Split borrows: the stream yields pieces into a closure that needs the
        // rest of the connection, so collect them first when out of order.
        if stream.in_order(hdr.offset) {
            // The common case: feed straight from the batch buffer, no copy.
            stream.advance(payload.len() as u64, hdr.gap_after as u64);
            if !payload.is_empty() {
                Self::feed(conn, d, hdr.h.ts_ns, Piece::Data(payload), &mut records);
            }
            if hdr.gap_after > 0 {
                Self::feed(
                    conn,
                    d,
                    hdr.h.ts_ns,
                    Piece::Gap(hdr.gap_after as u64),
                    &mut records,
                );
            }
        } else {
            let mut pieces = OwnedPieces::default();
            stream.push(
                hdr.offset,
                hdr.h.ts_ns,
                payload,
                hdr.gap_after as u64,
                &mut pieces.sink(),
            );
            pieces.feed(conn, d, &mut records);
        }
        self.records = records;
        if !self.records.is_empty() {
            let mut conn = self.conns.pop(&key).expect("connection present");
            self.emit_records(&mut conn);
            self.report(&mut conn);
            self.conns.put(key, conn);
        }
    }

    /// One ordered piece of one direction into the protocol state.
    fn feed(
        conn: &mut Conn,
        d: Direction,
        ts: u64,
        piece: Piece<'_>,
        records: &mut Vec<HttpRecord>,
    ) {
        match &mut conn.proto {
            Proto::Ignored => {}
            Proto::Http(h) if h.is_upgraded() => conn.proto = Proto::Ignored,
            Proto::Http(h) => {
                if let Some(kind) = kind_of(conn.role, d) {
                    match piece {
                        Piece::Data(b) => h.push(kind, ts, b, records),
                        Piece::Gap(g) => h.push_gap(kind, ts, g, records),
                    }
                }
            }
            Proto::Unknown { first } => {
                let Piece::Data(b) = piece else {
                    // A gap before the protocol is known: start over on this side.
                    first[dir_index(d)].1.clear();
                    return;
                };
                let (first_ts, buf) = &mut first[dir_index(d)];
                if buf.is_empty() {
                    *first_ts = ts;
                }
                let held_ts = *first_ts;
                let take = b.len().min(INFER_BYTES.saturating_sub(buf.len()));
                let probe_owned;
                let probe: &[u8] = if buf.is_empty() && take == b.len() {
                    b
                } else {
                    buf.extend_from_slice(&b[..take]);
                    probe_owned = buf.clone();
                    &probe_owned
                };
                let verdict = http::infer(probe);
                match verdict {
                    Inference::NeedMore if probe.len() < INFER_BYTES => {
                        if buf.is_empty() {
                            buf.extend_from_slice(b);
                        }
                    }
                    Inference::Request | Inference::Response => {
                        let is_req = verdict == Inference::Request;
                        if conn.role == Role::Unknown {
                            conn.role = match (is_req, d) {
                                (true, Direction::Egress) | (false, Direction::Ingress) => {
                                    Role::Client
                                }
                                _ => Role::Server,
                            };
                        }
                        // Replay what was held for inference, then this piece's rest.
                        let held = std::mem::take(buf);
                        let rest_start = if held.is_empty() { 0 } else { take };
                        let mut h = Box::new(HttpConnection::new(conn.http_cfg.clone()));
                        // Bytes the other direction held for inference came earlier: first.
                        let other = if d == Direction::Egress {
                            Direction::Ingress
                        } else {
                            Direction::Egress
                        };
                        let (other_ts, other_held) = std::mem::take(&mut first[dir_index(other)]);
                        if let (Some(kind), false) =
                            (kind_of(conn.role, other), other_held.is_empty())
                        {
                            h.push(kind, other_ts, &other_held, records);
                        }
                        if let Some(kind) = kind_of(conn.role, d) {
                            if !held.is_empty() {
                                h.push(kind, held_ts, &held, records);
                            }
                            if rest_start < b.len() {
                                h.push(kind, ts, &b[rest_start..], records);
                            }
                        }
                        conn.proto = Proto::Http(h);
                    }
                    _ => conn.proto = Proto::Ignored,
                }
            }
        }
    }

    /// Folds this connection's new losses into the node counters.
    fn report(&self, conn: &mut Conn) {
        let mut s = StreamStats::default();
        for st in &conn.streams {
            s.gap_bytes += st.stats.gap_bytes;
            s.capped_bytes += st.stats.capped_bytes;
            s.late_bytes += st.stats.late_bytes;
        }
        let c = &self.counters;
        c.add(
            Counter::ReassemblyGapBytes,
            s.gap_bytes - conn.reported.gap_bytes,
        );
        c.add(
            Counter::ReassemblyCappedBytes,
            s.capped_bytes - conn.reported.capped_bytes,
        );
        c.add(
            Counter::ReassemblyLateBytes,
            s.late_bytes - conn.reported.late_bytes,
        );
        conn.reported = s;
        if let Proto::Http(h) = &conn.proto {
            let n = h.stats();
            let o = &conn.reported_http;
            c.add(Counter::HttpRecords, n.records - o.records);
            c.add(Counter::HttpParseErrors, n.parse_errors - o.parse_errors);
            c.add(
                Counter::HttpMessagesLost,
                n.messages_lost_to_gaps - o.messages_lost_to_gaps,
            );
            c.add(
                Counter::HttpUnansweredRequests,
                n.unanswered_requests - o.unanswered_requests,
            );
            c.add(
                Counter::HttpUnmatchedResponses,
                n.unmatched_responses - o.unmatched_responses,
            );
            conn.reported_http = n.clone();
        }
    }

    /// Turns the records of `conn` collected in `self.records` into rows.
    fn emit_records(&mut self, conn: &mut Conn) {
        if self.records.is_empty() {
            return;
        }
        let role = trace_role(conn.role);
        let meta = match &conn.meta {
            Some(m) if m.trace_role == role => m.clone(),
            _ => {
                let m = Arc::new(self.conn_meta(conn));
                conn.meta = Some(m.clone());
                m
            }
        };
        for mut record in self.records.drain(..) {
            http::redact_headers(&mut record.req.headers);
            http::redact_headers(&mut record.resp.headers);
            let time_ns = self
                .clock
                .wall(record.resp.ts_end_ns.max(record.req.ts_start_ns));
            let row = HttpRow {
                conn: meta.clone(),
                time_ns,
                record,
            };
            if self.builder.is_empty() {
                self.batch_started = std::time::Instant::now();
            }
            self.builder.append(&row);
            // Its strings' capacity serves the connection's next messages.
            if let Proto::Http(h) = &mut conn.proto {
                h.recycle(row.record);
            }
        }
        if !self
            .batch_procs
            .last()
            .is_some_and(|p| Arc::ptr_eq(p, &meta.process))
        {
            self.batch_procs.push(meta.process.clone());
        }
        if self.builder.len() >= self.cfg.batch_rows {
            self.seal();
        }
    }

    /// Addresses, role and process of a connection (looked up once).
    fn conn_meta(&mut self, conn: &Conn) -> ConnMeta {
        let unknown = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let (local, remote) = conn.addrs.unwrap_or((unknown, unknown));
        ConnMeta {
            local_addr: local.ip().to_canonical().to_string(),
            local_port: local.port(),
            remote_addr: remote.ip().to_canonical().to_string(),
            remote_port: remote.port(),
            trace_role: trace_role(conn.role),
            process: self.metadata.lookup_hinted(conn.tgid, conn.hint.as_ref()),
        }
    }

    /// Sends the rows built so far to the store as one batch.
    fn seal(&mut self) {
        let Some((batch, min_time, max_time)) = self.builder.finish() else {
            return;
        };
        let n = batch.num_rows() as u64;
        let processes = std::mem::take(&mut self.batch_procs);
        if self
            .store
            .try_send(TableBatch {
                table: loupe_topology::schema::HTTP_EVENTS,
                batch,
                min_time,
                max_time,
                processes,
            })
            .is_err()
        {
            self.counters.add(Counter::StoreRowsDroppedMailboxFull, n);
            tracing::error!(rows = n, "table store is behind: dropped a batch of rows");
        }
    }

    /// Evicts connections idle for longer than the timeout.
    fn evict_idle(&mut self) {
        let limit = self.cfg.idle_timeout.as_nanos() as u64;
        let now = self.newest_mono;
        while let Some((_, c)) = self.conns.peek_lru() {
            if now.saturating_sub(c.last_mono) <= limit {
                break;
            }
            let Some((_, mut conn)) = self.conns.pop_lru() else {
                break;
            };
            self.counters.add(Counter::ReassemblyConnsEvicted, 1);
            Self::finish_conn(&mut conn, now, &mut self.records);
            self.report(&mut conn);
            self.emit_records(&mut conn);
        }
    }
}

impl Actor for Reassembly {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(64);
        ctx.run_interval(Duration::from_secs(5), |this, _| this.evict_idle());
        // Rows become visible to queries within `seal_every`.
        ctx.run_interval(self.cfg.seal_every, |this, _| {
            if !this.builder.is_empty() && this.batch_started.elapsed() >= this.cfg.seal_every {
                this.seal();
            }
        });
    }
}

impl Handler<EventBatch> for Reassembly {
    type Result = ();

    fn handle(&mut self, batch: EventBatch, _: &mut Self::Context) {
        for rec in &batch.records {
            match rec {
                Record::Data { hdr, start } => {
                    self.on_data(hdr, batch.payload_of(hdr, *start));
                }
                Record::Open(c) => self.on_open(c),
                Record::Close(c) => self.on_close(c),
            }
        }
        if !self.builder.is_empty() && self.batch_started.elapsed() >= self.cfg.seal_every {
            self.seal();
        }
    }
}

/// Pieces copied out of a stream, to be fed to the protocol once the
/// stream (which is part of the connection) is no longer borrowed. Only the
/// rare paths use it (close/eviction, late or out-of-order records); in-order
/// data is fed in place.
#[derive(Default)]
struct OwnedPieces(Vec<(u64, Option<Vec<u8>>, u64)>);

impl OwnedPieces {
    fn sink(&mut self) -> impl FnMut(u64, Piece<'_>) + '_ {
        |ts, p| match p {
            Piece::Data(b) => self.0.push((ts, Some(b.to_vec()), 0)),
            Piece::Gap(g) => self.0.push((ts, None, g)),
        }
    }

    fn feed(self, conn: &mut Conn, d: Direction, records: &mut Vec<HttpRecord>) {
        for (ts, data, gap) in self.0 {
            let piece = data.as_deref().map(Piece::Data).unwrap_or(Piece::Gap(gap));
            Reassembly::feed(conn, d, ts, piece, records);
        }
    }
}

/// Pixie's `trace_role`: 1 client side, 2 server side, 0 unknown.
fn trace_role(r: Role) -> i64 {
    match r {
        Role::Client => 1,
        Role::Server => 2,
        Role::Unknown => 0,
    }
}

#[cfg(test)]
mod tests;
