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
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::capture::{EventBatch, Record};
use crate::clock::MonoToWall;
use crate::counters::{Counter, Counters, ParserCounter, ParserCounts};
use crate::protocols::{
    self, ConnParser, Inferred, PROTOCOLS, ParserConfig, TableRows, Transport, kind_of,
};
use crate::table_store::{ConnMeta, TableBatch};
use crate::tables::conn_stats::{ConnId, ConnStats, Totals};
use crate::tap::{Frame, Lines, Stage, Taps};
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
    /// INFER_BYTES) and the timestamp of the first of them, and how many
    /// times the bytes matched no protocol.
    Unknown {
        first: [(u64, Vec<u8>); 2],
        misses: u8,
    },
    /// Protocol `index` of the registry, its parser, and the counters
    /// already folded into the node totals.
    Known {
        index: usize,
        parser: Box<dyn ConnParser>,
        reported: ParserCounts,
    },
    /// Not a traced protocol: bytes are counted and dropped (and the kernel
    /// told to stop copying them).
    Ignored,
}

/// Bytes of one direction looked at to infer the protocol (the largest
/// window any protocol's `infer` reads).
const INFER_BYTES: usize = 32;
/// Times a connection's first bytes may match no protocol (each time at a
/// new syscall's bytes: a connection seen mid-message gets a few chances to
/// reach a message start) before it is ignored.
const MAX_INFER_MISSES: u8 = 6;
/// Largest datagram reassembled from records (UDP payloads are < 64 KiB).
const MAX_DATAGRAM: usize = 65_535;

/// One direction of a UDP socket: the datagram being put together from its
/// records (one per 4 KiB), and where the next record should start.
#[derive(Default)]
struct Datagram {
    bytes: Vec<u8>,
    next_offset: u64,
    /// Part of it was not captured (cap or lost record): dropped at its end.
    cut: bool,
    ts: u64,
}

struct Conn {
    key: ConnKey,
    /// The process as the kernel saw it at connection open.
    hint: Option<ProcessHint>,
    role: Role,
    addrs: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
    udp: bool,
    streams: [StreamReassembler; 2],
    datagrams: [Datagram; 2],
    proto: Proto,
    meta: Option<Arc<ConnMeta>>,
    last_mono: u64,
    /// Counters already folded into the node totals.
    reported: StreamStats,
}

impl Conn {
    fn new(key: ConnKey, role: Role) -> Self {
        Conn {
            key,
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
            datagrams: Default::default(),
            proto: Proto::Unknown {
                first: [(0, Vec::new()), (0, Vec::new())],
                misses: 0,
            },
            meta: None,
            last_mono: 0,
            reported: StreamStats::default(),
        }
    }
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Egress => 0,
        Direction::Ingress => 1,
    }
}

fn other(d: Direction) -> Direction {
    match d {
        Direction::Egress => Direction::Ingress,
        Direction::Ingress => Direction::Egress,
    }
}

/// The role that sending (egress) or receiving `kind` implies.
fn role_of(kind: MessageKind, d: Direction) -> Role {
    match (kind, d) {
        (MessageKind::Request, Direction::Egress) | (MessageKind::Response, Direction::Ingress) => {
            Role::Client
        }
        _ => Role::Server,
    }
}

/// Settings of the reassembly actor.
#[derive(Clone, Debug)]
pub struct ReassemblyConfig {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub parsers: ParserConfig,
    /// Rows per batch sent to the store; a batch also goes after `seal_every`.
    pub batch_rows: usize,
    pub seal_every: Duration,
    /// How often `conn_stats` is sampled (`None`: off).
    pub conn_stats: Option<Duration>,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_connections: 65_536,
            idle_timeout: Duration::from_secs(300),
            parsers: ParserConfig::default(),
            batch_rows: 8192,
            seal_every: Duration::from_millis(200),
            conn_stats: Some(crate::tables::DEFAULT_PERIOD),
        }
    }
}

/// Tells the kernel that generation `generation` of (tgid, fd) carries no
/// traced protocol (`loupe_bpf::Untrace::mark` in the agent).
pub type UntraceFn = Box<dyn FnMut(u32, u32, u32) -> Result<(), String> + Send>;

/// Reads the kernel's connection counters (`loupe_bpf::ConnTable` in the
/// agent): calls its argument once per live connection.
pub type ConnSampleFn =
    Box<dyn FnMut(&mut dyn FnMut(ConnId, Totals)) -> Result<usize, String> + Send>;

/// One table's rows being built, and the processes they name.
struct TableSink {
    table: &'static str,
    rows: TableRows,
    procs: Vec<Arc<ProcessInfo>>,
    started: std::time::Instant,
}

/// What emitting rows needs besides the connection (split borrows).
struct Out<'a> {
    tables: &'a mut [TableSink],
    clock: &'a MonoToWall,
    /// The records tap's lines, when it is held.
    tap: Option<&'a mut Vec<String>>,
}

pub struct Reassembly {
    conns: LruCache<ConnKey, Conn, ahash::RandomState>,
    core: Core,
}

/// Everything but the connection table, so that a connection borrowed from
/// the table can be worked on in place (no pop and re-insert per record,
/// which would allocate an LRU node each time).
struct Core {
    cfg: ReassemblyConfig,
    metadata: HostMetadata,
    store: Recipient<TableBatch>,
    counters: Arc<Counters>,
    clock: MonoToWall,
    /// Rows are made columnar here, on the thread that parsed them (their
    /// strings are freed where they were allocated); the store gets sealed
    /// batches. One per protocol of the registry, same order.
    tables: Vec<TableSink>,
    untrace: Option<UntraceFn>,
    newest_mono: u64,
    taps: Option<Arc<Taps>>,
    /// The tap lines of the batch being handled (nothing when none is held).
    lines: Lines,
    /// `conn_stats`, when sampled; its kernel reader and last sample.
    conn_stats: Option<ConnStats>,
    sample_conns: Option<ConnSampleFn>,
    conn_stats_at: std::time::Instant,
}

impl Reassembly {
    pub fn new(
        cfg: ReassemblyConfig,
        node: &str,
        store: Recipient<TableBatch>,
        counters: Arc<Counters>,
    ) -> Self {
        let cap = NonZeroUsize::new(cfg.max_connections.max(1)).unwrap_or(NonZeroUsize::MIN);
        let conn_stats = cfg
            .conn_stats
            .map(|_| ConnStats::new(counters.clone()).started_at(crate::clock::wall_now_ns()));
        Reassembly {
            // Keys come from the kernel (pid, fd, generation), not from the
            // network, so a fast keyed hash with fixed seeds is safe here.
            conns: LruCache::with_hasher(cap, ahash::RandomState::with_seeds(1, 2, 3, 4)),
            core: Core {
                cfg,
                metadata: HostMetadata::new(node),
                store,
                counters,
                clock: MonoToWall::now(),
                tables: PROTOCOLS
                    .iter()
                    .map(|p| TableSink {
                        table: p.table(),
                        rows: p.rows(),
                        procs: Vec::new(),
                        started: std::time::Instant::now(),
                    })
                    .collect(),
                untrace: None,
                newest_mono: 0,
                taps: None,
                lines: Lines::default(),
                conn_stats,
                sample_conns: None,
                conn_stats_at: std::time::Instant::now(),
            },
        }
    }

    /// Where `conn_stats` reads the kernel's per-connection counters; without
    /// it only open and close records count (bytes at close).
    pub fn with_conn_sampler(mut self, f: ConnSampleFn) -> Self {
        self.core.sample_conns = Some(f);
        self
    }

    /// Connections found to carry no traced protocol are reported to `f`,
    /// so the kernel stops copying their bytes.
    pub fn with_untrace(mut self, f: UntraceFn) -> Self {
        self.core.untrace = Some(f);
        self
    }

    /// Publishes its stages (capture, reassembly, records, rows) on `taps`
    /// while they are held.
    pub fn with_taps(mut self, taps: Arc<Taps>) -> Self {
        self.core.taps = Some(taps);
        self
    }

    /// The connection of `key`, created if new (evicting the least recently
    /// used one when the table is full).
    fn conn_entry(&mut self, key: ConnKey) -> &mut Conn {
        if !self.conns.contains(&key) {
            self.core.counters.add(Counter::ReassemblyConnsOpened, 1);
            if let Some((old_key, mut old)) = self.conns.push(key, Conn::new(key, Role::Unknown))
                && old_key != key
            {
                self.core.counters.add(Counter::ReassemblyConnsEvicted, 1);
                let now = self.core.newest_mono;
                self.core.finish_conn(&mut old, now);
            }
        }
        self.conns
            .get_or_insert_mut(key, || Conn::new(key, Role::Unknown))
    }

    fn on_open(&mut self, c: &ConnEvent) {
        let key = ConnKey {
            tgid: c.h.tgid,
            fd: c.h.fd,
            generation: c.h.generation,
        };
        let role = Role::from_raw(c.role);
        self.conn_entry(key);
        let (conns, core) = (&mut self.conns, &mut self.core);
        let Some(conn) = conns.get_mut(&key) else {
            return;
        };
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
        let meta = Arc::new(conn_meta(&mut core.metadata, conn));
        if let (Some(cs), Some((_, remote))) = (&mut core.conn_stats, conn.addrs) {
            cs.open(
                (key.tgid, key.fd, key.generation),
                &meta.process,
                remote,
                trace_role(conn.role),
            );
        }
        conn.meta = Some(meta);
    }

    fn on_close(&mut self, c: &ConnEvent) {
        let key = ConnKey {
            tgid: c.h.tgid,
            fd: c.h.fd,
            generation: c.h.generation,
        };
        if let Some(cs) = &mut self.core.conn_stats {
            cs.close(
                (key.tgid, key.fd, key.generation),
                Totals {
                    bytes_sent: c.bytes_sent,
                    bytes_recv: c.bytes_recv,
                    retransmits: c.retransmits,
                    resets_sent: c.resets_sent as u64,
                    resets_received: c.resets_received as u64,
                },
            );
        }
        if let Some(mut conn) = self.conns.pop(&key) {
            self.core.finish_conn(&mut conn, c.h.ts_ns);
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

    fn on_data(&mut self, hdr: &DataEventHeader, payload: &[u8]) {
        let key = ConnKey {
            tgid: hdr.h.tgid,
            fd: hdr.h.fd,
            generation: hdr.h.generation,
        };
        self.core.newest_mono = self.core.newest_mono.max(hdr.h.ts_ns);
        self.conn_entry(key);
        let (conns, core) = (&mut self.conns, &mut self.core);
        let Some(conn) = conns.get_mut(&key) else {
            return;
        };
        conn.last_mono = hdr.h.ts_ns;
        if matches!(conn.proto, Proto::Ignored) {
            core.counters.add(
                Counter::ReassemblyIgnoredBytes,
                payload.len() as u64 + hdr.gap_after as u64,
            );
            return;
        }
        let d = Direction::from_raw(hdr.direction);
        if conn.udp {
            core.on_datagram_record(conn, d, hdr, payload);
        } else {
            let stream = &mut conn.streams[dir_index(d)];
            if stream.in_order(hdr.offset) {
                // The common case: feed straight from the batch buffer, no copy.
                stream.advance(payload.len() as u64, hdr.gap_after as u64);
                if !payload.is_empty() {
                    core.feed(conn, d, hdr.h.ts_ns, Piece::Data(payload));
                }
                if hdr.gap_after > 0 {
                    core.feed(conn, d, hdr.h.ts_ns, Piece::Gap(hdr.gap_after as u64));
                }
            } else {
                // Split borrows: the stream yields pieces into a closure that
                // needs the rest of the connection, so collect them first.
                let mut pieces = OwnedPieces::default();
                stream.push(
                    hdr.offset,
                    hdr.h.ts_ns,
                    payload,
                    hdr.gap_after as u64,
                    &mut pieces.sink(),
                );
                pieces.feed(core, conn, d);
            }
        }
        core.settle(conn, false);
    }

    /// Evicts connections idle for longer than the timeout, and lets parsers
    /// turn requests that waited too long into rows (DNS timeouts).
    fn tick(&mut self) {
        self.sample_conn_stats();
        let limit = self.core.cfg.idle_timeout.as_nanos() as u64;
        let now = self.core.newest_mono;
        while let Some((_, c)) = self.conns.peek_lru() {
            if now.saturating_sub(c.last_mono) <= limit {
                break;
            }
            let Some((_, mut conn)) = self.conns.pop_lru() else {
                break;
            };
            self.core.counters.add(Counter::ReassemblyConnsEvicted, 1);
            self.core.finish_conn(&mut conn, now);
        }
        let records_held = self.core.lines.on(Stage::Records);
        let Core {
            tables,
            clock,
            lines,
            metadata,
            counters,
            conn_stats,
            ..
        } = &mut self.core;
        let mut out = Out {
            tables,
            clock,
            tap: records_held.then_some(&mut lines.by_stage[Stage::Records as usize]),
        };
        for (_, conn) in self.conns.iter_mut() {
            if let Proto::Known { parser, .. } = &mut conn.proto {
                parser.expire(now);
                if parser.pending() > 0 {
                    emit(conn, metadata, &mut out);
                    let lost = report(conn, counters);
                    if let Some(cs) = conn_stats.as_mut() {
                        let k = conn.key;
                        cs.lost((k.tgid, k.fd, k.generation), lost);
                    }
                }
            }
        }
    }
}

impl Reassembly {
    /// A `conn_stats` sample when its period is due: the kernel's counters
    /// of every live connection, then one row per active or changed group.
    fn sample_conn_stats(&mut self) {
        let core = &mut self.core;
        let (Some(period), Some(cs)) = (core.cfg.conn_stats, core.conn_stats.as_mut()) else {
            return;
        };
        // A tick a little early still counts (ticks are a second apart).
        if core.conn_stats_at.elapsed() + Duration::from_millis(100) < period {
            return;
        }
        core.conn_stats_at = std::time::Instant::now();
        if let Some(read) = &mut core.sample_conns {
            let mut failed = None;
            cs.sample_kernel(
                |f| {
                    if let Err(e) = read(f) {
                        failed = Some(e);
                    }
                },
                |pid| std::path::Path::new(&format!("/proc/{pid}")).exists(),
            );
            if let Some(e) = failed {
                tracing::warn!(error = %e, "could not read the kernel's connection counters");
            }
        }
        if let Some((batch, min_time, max_time, processes)) =
            cs.finish_sample(crate::clock::wall_now_ns())
        {
            let n = batch.num_rows() as u64;
            let msg = TableBatch {
                table: loupe_topology::schema::CONN_STATS,
                batch,
                min_time,
                max_time,
                processes,
            };
            if core.store.try_send(msg).is_err() {
                core.counters.add(Counter::StoreRowsDroppedMailboxFull, n);
            }
        }
    }

    fn on_tcp(&mut self, t: &loupe_bpf::TcpEvent) {
        if let Some(cs) = &mut self.core.conn_stats {
            cs.late((t.h.tgid, t.h.fd, t.h.generation), t.what, t.count);
        }
    }
}

impl Core {
    /// Gives up on held data, closes the parser and emits what it completed:
    /// for close and eviction.
    fn finish_conn(&mut self, conn: &mut Conn, ts: u64) {
        for d in [Direction::Egress, Direction::Ingress] {
            let i = dir_index(d);
            let mut pieces = OwnedPieces::default();
            conn.streams[i].flush(&mut pieces.sink());
            pieces.feed(self, conn, d);
        }
        if let Proto::Known { parser, .. } = &mut conn.proto {
            parser.close(ts);
        }
        self.settle(conn, true);
    }

    /// Rows, counters and the kernel flag after the connection's state moved.
    /// On the data path (`always` false) only a parser that completed
    /// records or finished costs anything; close and eviction fold every
    /// counter.
    fn settle(&mut self, conn: &mut Conn, always: bool) {
        let (index, pending, finished) = match &conn.proto {
            Proto::Known { index, parser, .. } => (*index, parser.pending() > 0, parser.finished()),
            _ => (usize::MAX, false, false),
        };
        if pending {
            let records_held = self.lines.on(Stage::Records);
            let mut out = Out {
                tables: &mut self.tables,
                clock: &self.clock,
                tap: records_held.then_some(&mut self.lines.by_stage[Stage::Records as usize]),
            };
            emit(conn, &mut self.metadata, &mut out);
        }
        if pending || finished || always {
            let lost = report(conn, &self.counters);
            if let Some(cs) = &mut self.conn_stats {
                let k = conn.key;
                cs.lost((k.tgid, k.fd, k.generation), lost);
            }
        }
        if finished {
            conn.proto = Proto::Ignored;
            self.ignore(conn);
        }
        if pending
            && self
                .tables
                .get(index)
                .is_some_and(|t| t.rows.len() >= self.cfg.batch_rows)
        {
            self.seal(index);
        }
    }

    /// The connection's protocol is known: `conn_stats` shows it.
    fn inferred(&mut self, conn: &Conn, index: usize) {
        if let Some(cs) = &mut self.conn_stats {
            let k = conn.key;
            cs.protocol(
                (k.tgid, k.fd, k.generation),
                PROTOCOLS[index].pixie_protocol(),
                false,
            );
        }
    }

    /// The connection carries nothing traced: tell the kernel.
    fn ignore(&mut self, conn: &Conn) {
        self.counters.add(Counter::ReassemblyConnsIgnored, 1);
        if let Some(f) = &mut self.untrace {
            let k = conn.key;
            if let Err(e) = f(k.tgid, k.fd, k.generation) {
                tracing::debug!(pid = k.tgid, fd = k.fd, error = %e, "could not untrace a connection");
            }
        }
    }

    /// One record of a UDP socket: datagrams are put together from their
    /// records (the kernel marks each one's last) and parsed whole.
    fn on_datagram_record(
        &mut self,
        conn: &mut Conn,
        d: Direction,
        hdr: &DataEventHeader,
        payload: &[u8],
    ) {
        let dg = &mut conn.datagrams[dir_index(d)];
        if hdr.offset != dg.next_offset {
            // Records were lost in the kernel: the datagram in progress (if
            // any) is incomplete, and datagrams may have been lost whole.
            if hdr.offset > dg.next_offset {
                self.counters
                    .add(Counter::ReassemblyGapBytes, hdr.offset - dg.next_offset);
            }
            if !dg.bytes.is_empty() {
                dg.cut = true;
            }
        }
        if dg.bytes.is_empty() && !dg.cut {
            dg.ts = hdr.h.ts_ns;
        }
        dg.next_offset = hdr.offset + payload.len() as u64 + hdr.gap_after as u64;
        if hdr.gap_after > 0 || dg.bytes.len() + payload.len() > MAX_DATAGRAM {
            dg.cut = true;
            self.counters
                .add(Counter::ReassemblyCappedBytes, hdr.gap_after as u64);
        }
        if !dg.cut {
            dg.bytes.extend_from_slice(payload);
        }
        if !hdr.msg_end() {
            return;
        }
        let (cut, ts) = (dg.cut, dg.ts);
        let bytes = std::mem::take(&mut dg.bytes);
        dg.cut = false;
        if cut {
            self.counters.add(Counter::ReassemblyDatagramsLost, 1);
        } else if !bytes.is_empty() {
            self.on_datagram(conn, d, ts, &bytes);
        }
        // Keep the buffer's capacity for the next datagram.
        let dg = &mut conn.datagrams[dir_index(d)];
        if dg.bytes.capacity() == 0 {
            dg.bytes = bytes;
            dg.bytes.clear();
        }
    }

    /// One whole datagram into the protocol state.
    fn on_datagram(&mut self, conn: &mut Conn, d: Direction, ts: u64, bytes: &[u8]) {
        match &mut conn.proto {
            Proto::Ignored => {
                self.counters
                    .add(Counter::ReassemblyIgnoredBytes, bytes.len() as u64);
            }
            Proto::Known { parser, .. } => {
                if let Some(kind) = kind_of(conn.role, d) {
                    parser.datagram(kind, ts, bytes);
                }
            }
            Proto::Unknown { misses, .. } => {
                match protocols::infer(
                    bytes,
                    kind_of(conn.role, d),
                    Transport::Udp,
                    true,
                    *misses > 0,
                ) {
                    Inferred::Proto { index, kind } => {
                        if conn.role == Role::Unknown {
                            conn.role = role_of(kind, d);
                        }
                        let mut parser = PROTOCOLS[index].open(&self.cfg.parsers, Transport::Udp);
                        parser.datagram(kind, ts, bytes);
                        conn.proto = Proto::Known {
                            index,
                            parser,
                            reported: [0; ParserCounter::ALL.len()],
                        };
                        self.counters.add(Counter::ReassemblyConnsInferred, 1);
                        self.inferred(conn, index);
                        tracing::debug!(pid = conn.key.tgid, fd = conn.key.fd, protocol = PROTOCOLS[index].name(), role = ?conn.role, "protocol inferred");
                    }
                    _ => {
                        *misses += 1;
                        self.counters
                            .add(Counter::ReassemblyIgnoredBytes, bytes.len() as u64);
                        if *misses >= MAX_INFER_MISSES {
                            conn.proto = Proto::Ignored;
                            self.ignore(conn);
                        }
                    }
                }
            }
        }
    }

    /// One ordered piece of one direction of a stream into the protocol state.
    fn feed(&mut self, conn: &mut Conn, d: Direction, ts: u64, piece: Piece<'_>) {
        if self.lines.on(Stage::Reassembly) {
            let (what, n) = match piece {
                Piece::Data(b) => ("data", b.len() as u64),
                Piece::Gap(g) => ("gap", g),
            };
            let proto = match &conn.proto {
                Proto::Known { index, .. } => PROTOCOLS[*index].name(),
                Proto::Unknown { .. } => "undecided",
                Proto::Ignored => "ignored",
            };
            self.lines.push(
                Stage::Reassembly,
                format!(
                    r#"{{"pid":{},"fd":{},"generation":{},"direction":"{}","ts":{ts},"{what}":{n},"protocol":"{proto}"}}"#,
                    conn.key.tgid,
                    conn.key.fd,
                    conn.key.generation,
                    if d == Direction::Egress { "egress" } else { "ingress" },
                ),
            );
        }
        let Proto::Unknown { first, misses } = &mut conn.proto else {
            if let Proto::Known { parser, .. } = &mut conn.proto
                && let Some(kind) = kind_of(conn.role, d)
            {
                match piece {
                    Piece::Data(b) => parser.push(kind, ts, b),
                    Piece::Gap(g) => parser.gap(kind, ts, g),
                }
            }
            return;
        };
        let Piece::Data(b) = piece else {
            // A gap before the protocol is known: start over on this side.
            first[dir_index(d)].1.clear();
            return;
        };
        let (first_ts, buf) = &mut first[dir_index(d)];
        if buf.is_empty() {
            *first_ts = ts;
        }
        let take = b.len().min(INFER_BYTES.saturating_sub(buf.len()));
        let held_before = !buf.is_empty();
        if held_before {
            buf.extend_from_slice(&b[..take]);
        }
        let probe: &[u8] = if held_before { buf } else { &b[..take] };
        let last = probe.len() >= INFER_BYTES;
        match protocols::infer(
            probe,
            kind_of(conn.role, d),
            Transport::Tcp,
            last,
            *misses > 0,
        ) {
            Inferred::NeedMore => {
                if !held_before {
                    buf.extend_from_slice(b);
                }
            }
            Inferred::Nothing => {
                // Not a message start we know: try again at the next
                // syscall's bytes, a bounded number of times.
                let dropped = if held_before {
                    buf.len() - take + b.len()
                } else {
                    b.len()
                };
                buf.clear();
                *misses += 1;
                self.counters
                    .add(Counter::ReassemblyIgnoredBytes, dropped as u64);
                if *misses >= MAX_INFER_MISSES {
                    conn.proto = Proto::Ignored;
                    self.ignore(conn);
                }
            }
            Inferred::Proto { index, kind } => {
                if conn.role == Role::Unknown {
                    conn.role = role_of(kind, d);
                }
                let held_ts = *first_ts;
                let held = std::mem::take(buf);
                let (other_ts, other_held) = std::mem::take(&mut first[dir_index(other(d))]);
                let mut parser = PROTOCOLS[index].open(&self.cfg.parsers, Transport::Tcp);
                // Bytes the other direction held for inference came earlier: first.
                if let (Some(k), false) = (kind_of(conn.role, other(d)), other_held.is_empty()) {
                    parser.push(k, other_ts, &other_held);
                }
                if let Some(k) = kind_of(conn.role, d) {
                    // Replay what was held for inference, then this piece's rest.
                    if held_before {
                        parser.push(k, held_ts, &held);
                        if take < b.len() {
                            parser.push(k, ts, &b[take..]);
                        }
                    } else {
                        parser.push(k, ts, b);
                    }
                }
                conn.proto = Proto::Known {
                    index,
                    parser,
                    reported: [0; ParserCounter::ALL.len()],
                };
                self.counters.add(Counter::ReassemblyConnsInferred, 1);
                self.inferred(conn, index);
                tracing::debug!(pid = conn.key.tgid, fd = conn.key.fd, protocol = PROTOCOLS[index].name(), role = ?conn.role, "protocol inferred");
            }
        }
    }

    /// Sends table `i`'s rows built so far to the store as one batch.
    fn seal(&mut self, i: usize) {
        let Some(t) = self.tables.get_mut(i) else {
            return;
        };
        let Some((batch, min_time, max_time)) = t.rows.finish() else {
            t.procs.clear();
            return;
        };
        let n = batch.num_rows() as u64;
        if self.lines.on(Stage::Rows)
            && let Some(taps) = &self.taps
        {
            match crate::service::encode_chunks(std::slice::from_ref(&batch), 512 << 10) {
                Ok(pieces) => {
                    for ipc in pieces {
                        taps.send(Frame {
                            stage: Stage::Rows,
                            lines: Vec::new(),
                            ipc: Some((t.table.to_string(), ipc)),
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not encode rows for a tap"),
            }
        }
        let processes = std::mem::take(&mut t.procs);
        if self
            .store
            .try_send(TableBatch {
                table: t.table,
                batch,
                min_time,
                max_time,
                processes,
            })
            .is_err()
        {
            self.counters.add(Counter::StoreRowsDroppedMailboxFull, n);
            tracing::error!(
                table = t.table,
                rows = n,
                "table store is behind: dropped a batch of rows"
            );
        }
    }

    /// Sends the tap lines collected since the last flush.
    fn flush_taps(&mut self) {
        if self.lines.held.any()
            && let Some(t) = &self.taps
        {
            self.lines.flush(t);
        }
    }

    /// Seals every table whose oldest unsent row waited `seal_every`.
    fn seal_due(&mut self) {
        for i in 0..self.tables.len() {
            let t = &self.tables[i];
            if !t.rows.is_empty() && t.started.elapsed() >= self.cfg.seal_every {
                self.seal(i);
            }
        }
    }
}

/// Moves the records `conn`'s parser completed into its table's rows.
fn emit(conn: &mut Conn, metadata: &mut HostMetadata, out: &mut Out<'_>) {
    let Proto::Known { index, parser, .. } = &mut conn.proto else {
        return;
    };
    if parser.pending() == 0 {
        return;
    }
    let index = *index;
    let role = trace_role(conn.role);
    let meta = match &conn.meta {
        Some(m) if m.trace_role == role => m.clone(),
        _ => {
            let unknown = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
            let (local, remote) = conn.addrs.unwrap_or((unknown, unknown));
            let m = Arc::new(ConnMeta {
                local_addr: local.ip().to_canonical().to_string(),
                local_port: local.port(),
                remote_addr: remote.ip().to_canonical().to_string(),
                remote_port: remote.port(),
                trace_role: role,
                process: metadata.lookup_hinted(conn.key.tgid, conn.hint.as_ref()),
            });
            conn.meta = Some(m.clone());
            m
        }
    };
    let Some(t) = out.tables.get_mut(index) else {
        return;
    };
    if t.rows.is_empty() {
        t.started = std::time::Instant::now();
    }
    let before = t.rows.len();
    parser.emit(&meta, out.clock, &mut t.rows);
    if let Some(lines) = out.tap.as_mut() {
        lines.push(format!(
            r#"{{"table":"{}","records":{},"pid":{},"fd":{},"role":{},"local":"{}:{}","remote":"{}:{}","upid":"{}"}}"#,
            t.table,
            t.rows.len().saturating_sub(before),
            conn.key.tgid,
            conn.key.fd,
            role,
            meta.local_addr,
            meta.local_port,
            meta.remote_addr,
            meta.remote_port,
            meta.process.upid,
        ));
    }
    if !t
        .procs
        .last()
        .is_some_and(|p| Arc::ptr_eq(p, &meta.process))
    {
        t.procs.push(meta.process.clone());
    }
}

/// Folds this connection's new losses and parser counts into the node
/// counters; returns the bytes newly lost (gaps and late bytes).
fn report(conn: &mut Conn, c: &Counters) -> u64 {
    let mut s = StreamStats::default();
    for st in &conn.streams {
        s.gap_bytes += st.stats.gap_bytes;
        s.capped_bytes += st.stats.capped_bytes;
        s.late_bytes += st.stats.late_bytes;
    }
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
    let lost = (s.gap_bytes - conn.reported.gap_bytes) + (s.late_bytes - conn.reported.late_bytes);
    conn.reported = s;
    if let Proto::Known {
        index,
        parser,
        reported,
    } = &mut conn.proto
    {
        let now = parser.counts();
        for (k, pc) in ParserCounter::ALL.iter().enumerate() {
            c.add_parser(*index, *pc, now[k].saturating_sub(reported[k]));
        }
        *reported = now;
    }
    lost
}

/// Addresses, role and process of a connection (looked up once).
fn conn_meta(metadata: &mut HostMetadata, conn: &Conn) -> ConnMeta {
    let unknown = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let (local, remote) = conn.addrs.unwrap_or((unknown, unknown));
    ConnMeta {
        local_addr: local.ip().to_canonical().to_string(),
        local_port: local.port(),
        remote_addr: remote.ip().to_canonical().to_string(),
        remote_port: remote.port(),
        trace_role: trace_role(conn.role),
        process: metadata.lookup_hinted(conn.key.tgid, conn.hint.as_ref()),
    }
}

impl Actor for Reassembly {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(64);
        ctx.run_interval(Duration::from_secs(1), |this, _| {
            this.tick();
            this.core.flush_taps();
        });
        // Rows become visible to queries within `seal_every`.
        ctx.run_interval(self.core.cfg.seal_every, |this, _| {
            if let Some(t) = &this.core.taps {
                this.core.lines.held = t.held();
            }
            this.core.seal_due();
            this.core.flush_taps();
        });
    }
}

impl Handler<EventBatch> for Reassembly {
    type Result = ();

    fn handle(&mut self, batch: EventBatch, _: &mut Self::Context) {
        if let Some(t) = &self.core.taps {
            self.core.lines.held = t.held();
        }
        if self.core.lines.on(Stage::Capture) {
            capture_lines(&batch, &mut self.core.lines);
        }
        for rec in &batch.records {
            match rec {
                Record::Data { hdr, start } => {
                    self.on_data(hdr, batch.payload_of(hdr, *start));
                }
                Record::Open(c) => self.on_open(c),
                Record::Close(c) => self.on_close(c),
                Record::Tcp(t) => self.on_tcp(t),
            }
        }
        self.core.seal_due();
        self.core.flush_taps();
    }
}

/// The capture tap's lines: one per kernel record, payloads left out.
fn capture_lines(batch: &EventBatch, lines: &mut Lines) {
    for rec in &batch.records {
        let line = match rec {
            Record::Data { hdr, .. } => format!(
                r#"{{"kind":"data","pid":{},"fd":{},"generation":{},"ts":{},"direction":"{}","offset":{},"len":{},"gap_after":{},"source":{},"flags":{}}}"#,
                hdr.h.tgid,
                hdr.h.fd,
                hdr.h.generation,
                hdr.h.ts_ns,
                if Direction::from_raw(hdr.direction) == Direction::Egress {
                    "egress"
                } else {
                    "ingress"
                },
                hdr.offset,
                hdr.len,
                hdr.gap_after,
                hdr.source,
                hdr.flags,
            ),
            Record::Open(c) | Record::Close(c) => format!(
                r#"{{"kind":"{}","pid":{},"fd":{},"generation":{},"ts":{},"role":{},"local_port":{},"remote_port":{},"bytes_sent":{},"bytes_recv":{}}}"#,
                if matches!(rec, Record::Open(_)) {
                    "open"
                } else {
                    "close"
                },
                c.h.tgid,
                c.h.fd,
                c.h.generation,
                c.h.ts_ns,
                c.role,
                c.local_port,
                c.remote_port,
                c.bytes_sent,
                c.bytes_recv,
            ),
            Record::Tcp(t) => format!(
                r#"{{"kind":"tcp","pid":{},"fd":{},"generation":{},"ts":{},"what":{},"count":{}}}"#,
                t.h.tgid, t.h.fd, t.h.generation, t.h.ts_ns, t.what, t.count,
            ),
        };
        lines.push(Stage::Capture, line);
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

    fn feed(self, re: &mut Core, conn: &mut Conn, d: Direction) {
        for (ts, data, gap) in self.0 {
            let piece = data.as_deref().map(Piece::Data).unwrap_or(Piece::Gap(gap));
            re.feed(conn, d, ts, piece);
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
