//! The protocol registry: every traced protocol, in one list.
//!
//! Adding a protocol is its parser folder in `protocol-parsers/`, a glue
//! module here (how its records become rows of its table), its table in
//! `topology::schema::TABLE_DEFS`, and one line in [`PROTOCOLS`]. Its
//! counters (`loupe_<name>_records_total`, ...) come with the line.
//!
//! The Reassembly actor asks the registry, per connection and direction,
//! which protocol the first bytes start ([`infer`]); the first protocol in
//! list order that says yes wins, so the list order is the precedence for
//! the rare bytes two protocols could both start with (stricter tests first).

mod columns;
mod dns;
mod http;
pub use http::HttpKeep;
mod mysql;
mod pgsql;
mod redis;

pub use columns::Columns;

use crate::clock::MonoToWall;
use crate::counters::ParserCounts;
use crate::table_store::{ConnMeta, HttpBatchBuilder};
use arrow::record_batch::RecordBatch;
use loupe_protocol_parsers::MessageKind;

/// Every traced protocol. The order is the inference precedence: MySQL
/// before PostgreSQL, because a MariaDB greeting (`d 00 00 00 0a 5.5.5-…`)
/// also reads as a PostgreSQL CopyData of length 10, while MySQL's test
/// (sequence 0, protocol 10, a version digit) matches no PostgreSQL start.
pub static PROTOCOLS: &[&dyn Protocol] = &[
    &http::Http,
    &mysql::Mysql,
    &pgsql::Pgsql,
    &redis::Redis,
    &dns::Dns,
];

/// Room reserved for counters (a test keeps `PROTOCOLS` within it).
pub const MAX_PROTOCOLS: usize = 8;

/// The registry index of protocol `name`.
pub fn index_of(name: &str) -> Option<usize> {
    PROTOCOLS.iter().position(|p| p.name() == name)
}

/// The transport a connection runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    /// Each message is one datagram.
    Udp,
}

/// What a protocol makes of the first bytes of one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// They start a message of the kind asked about.
    Yes,
    /// They cannot.
    No,
    /// Not enough bytes to tell.
    NeedMore,
}

/// Settings for every protocol's parser (the agent's configuration).
#[derive(Clone, Debug, Default)]
pub struct ParserConfig {
    pub http: loupe_protocol_parsers::http::HttpConfig,
    pub pgsql: loupe_protocol_parsers::pgsql::PgsqlConfig,
    pub mysql: loupe_protocol_parsers::mysql::MysqlConfig,
    pub redis: loupe_protocol_parsers::redis::RedisConfig,
    pub dns: loupe_protocol_parsers::dns::DnsConfig,
    /// What `http_events` keeps beyond the default redaction.
    pub http_keep: HttpKeep,
}

/// One registry entry: a protocol, its table and how to start its parser.
pub trait Protocol: Sync {
    /// Lower-case name, used in counter names and logs.
    fn name(&self) -> &'static str;
    /// The table its records go to (`topology::schema::TABLES`).
    fn table(&self) -> &'static str;
    /// Its number in Pixie's `traffic_protocol_t` (`conn_stats.protocol`:
    /// 1 HTTP, 3 MySQL, 5 PostgreSQL, 6 DNS, 7 Redis; 0 unknown).
    fn pixie_protocol(&self) -> i64;
    /// Whether it runs over this transport at all.
    fn runs_over(&self, t: Transport) -> bool {
        t == Transport::Tcp
    }
    /// Do `first` (the first bytes of one direction) start a message of
    /// `kind` of this protocol? Bounded and allocation-free. `retry` is set
    /// when earlier bytes of the connection matched nothing: weak evidence
    /// (a bare word) should then not be enough.
    fn infer(&self, first: &[u8], kind: MessageKind, t: Transport, retry: bool) -> Verdict;
    /// A parser for one new connection.
    fn open(&self, cfg: &ParserConfig, t: Transport) -> Box<dyn ConnParser>;
    /// An empty row builder for its table.
    fn rows(&self) -> TableRows;
}

/// One connection's parser and the records it completed but not yet emitted.
pub trait ConnParser: Send {
    /// Bytes of one direction of a stream, in capture order.
    fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8]);
    /// One whole datagram (UDP). Stream protocols never get one.
    fn datagram(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8]) {
        self.push(kind, ts_ns, data);
    }
    /// `len` bytes of that direction were not captured.
    fn gap(&mut self, kind: MessageKind, ts_ns: u64, len: u64);
    /// The connection closed (or was evicted).
    fn close(&mut self, ts_ns: u64);
    /// Periodic: requests waiting since before `now_ns` minus the protocol's
    /// timeout become rows (DNS); others ignore it.
    fn expire(&mut self, now_ns: u64) {
        let _ = now_ns;
    }
    /// True once the rest of the connection carries nothing to parse (an
    /// HTTP upgrade, an encrypted session): its bytes can stop.
    fn finished(&self) -> bool {
        false
    }
    /// Completed records not yet emitted.
    fn pending(&self) -> usize;
    /// Appends the completed records to `rows` (this protocol's builder) and
    /// forgets them.
    fn emit(&mut self, conn: &ConnMeta, clock: &MonoToWall, rows: &mut TableRows);
    /// Cumulative counters, in [`crate::counters::ParserCounter`] order.
    fn counts(&self) -> ParserCounts;
}

/// A table's row builder: HTTP's own (its hot path, measured), or the
/// schema-driven [`Columns`] every other table uses.
pub enum TableRows {
    Http(Box<HttpBatchBuilder>),
    Columns(Columns),
}

impl TableRows {
    pub fn len(&self) -> usize {
        match self {
            TableRows::Http(b) => b.len(),
            TableRows::Columns(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows built so far as one batch, with its time range.
    pub fn finish(&mut self) -> Option<(RecordBatch, i64, i64)> {
        match self {
            TableRows::Http(b) => b.finish(),
            TableRows::Columns(c) => c.finish(),
        }
    }

    /// The generic builder (every table but HTTP's).
    fn columns(&mut self) -> Option<&mut Columns> {
        match self {
            TableRows::Columns(c) => Some(c),
            TableRows::Http(_) => None,
        }
    }
}

/// The message kind a direction carries for a role.
pub fn kind_of(role: loupe_bpf::Role, d: loupe_bpf::Direction) -> Option<MessageKind> {
    use loupe_bpf::{Direction, Role};
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

/// What the registry makes of the first bytes of one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inferred {
    /// Protocol `index` of [`PROTOCOLS`], the bytes being of `kind`.
    Proto { index: usize, kind: MessageKind },
    /// No protocol can start with these bytes.
    Nothing,
    /// Some protocol needs more bytes to tell.
    NeedMore,
}

/// Asks every protocol, in registry order, about `first` on a direction
/// that carries `kind` (or either kind when the role is not known yet).
/// A protocol that needs more bytes holds back a later protocol's yes, so
/// precedence does not depend on how the bytes were split; once no more
/// bytes will be looked at (`last`), "need more" counts as no.
pub fn infer(
    first: &[u8],
    kind: Option<MessageKind>,
    t: Transport,
    last: bool,
    retry: bool,
) -> Inferred {
    let kinds: &[MessageKind] = match kind {
        Some(MessageKind::Request) => &[MessageKind::Request],
        Some(MessageKind::Response) => &[MessageKind::Response],
        None => &[MessageKind::Request, MessageKind::Response],
    };
    let mut need_more = false;
    for (index, p) in PROTOCOLS.iter().enumerate() {
        if !p.runs_over(t) {
            continue;
        }
        for &k in kinds {
            match p.infer(first, k, t, retry) {
                Verdict::Yes if !need_more => return Inferred::Proto { index, kind: k },
                Verdict::Yes | Verdict::NeedMore if !last => need_more = true,
                _ => {}
            }
        }
    }
    if need_more {
        Inferred::NeedMore
    } else {
        Inferred::Nothing
    }
}

/// A connection of `protocol-parsers`, as the glue drives it: every parser
/// there has the same `push` / `push_gap` / `close` shape ([`wire!`]).
pub(crate) trait Wire: Send + 'static {
    type Record: Send;
    fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8], out: &mut Vec<Self::Record>);
    fn push_gap(&mut self, kind: MessageKind, ts_ns: u64, len: u64, out: &mut Vec<Self::Record>);
    fn close(&mut self, ts_ns: u64, out: &mut Vec<Self::Record>);
    fn datagram(
        &mut self,
        kind: MessageKind,
        ts_ns: u64,
        data: &[u8],
        out: &mut Vec<Self::Record>,
    ) {
        self.push(kind, ts_ns, data, out);
    }
    fn expire(&mut self, now_ns: u64, out: &mut Vec<Self::Record>) {
        let _ = (now_ns, out);
    }
    fn finished(&self) -> bool {
        false
    }
    /// Cumulative counters, in [`crate::counters::ParserCounter`] order.
    fn counts(&self) -> ParserCounts;
    /// One record as a row of the protocol's table.
    fn row(r: &Self::Record, conn: &ConnMeta, clock: &MonoToWall, cols: &mut Columns);
}

/// `push`, `push_gap` and `close` of a `protocol-parsers` connection.
macro_rules! wire {
    ($record:ty) => {
        type Record = $record;
        fn push(&mut self, k: MessageKind, ts: u64, data: &[u8], out: &mut Vec<$record>) {
            Self::push(self, k, ts, data, out)
        }
        fn push_gap(&mut self, k: MessageKind, ts: u64, len: u64, out: &mut Vec<$record>) {
            Self::push_gap(self, k, ts, len, out)
        }
        fn close(&mut self, ts: u64, out: &mut Vec<$record>) {
            Self::close(self, ts, out)
        }
    };
}
pub(crate) use wire;

/// A [`Wire`] connection and the records it completed, as a [`ConnParser`]
/// writing [`Columns`] rows.
pub(crate) struct Glue<W: Wire> {
    pub conn: W,
    pub records: Vec<W::Record>,
}

impl<W: Wire> Glue<W> {
    pub fn boxed(conn: W) -> Box<dyn ConnParser> {
        Box::new(Glue {
            conn,
            records: Vec::new(),
        })
    }
}

impl<W: Wire> ConnParser for Glue<W> {
    fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8]) {
        self.conn.push(kind, ts_ns, data, &mut self.records);
    }
    fn datagram(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8]) {
        self.conn.datagram(kind, ts_ns, data, &mut self.records);
    }
    fn gap(&mut self, kind: MessageKind, ts_ns: u64, len: u64) {
        self.conn.push_gap(kind, ts_ns, len, &mut self.records);
    }
    fn close(&mut self, ts_ns: u64) {
        self.conn.close(ts_ns, &mut self.records);
    }
    fn expire(&mut self, now_ns: u64) {
        self.conn.expire(now_ns, &mut self.records);
    }
    fn finished(&self) -> bool {
        self.conn.finished()
    }
    fn pending(&self) -> usize {
        self.records.len()
    }
    fn emit(&mut self, conn: &ConnMeta, clock: &MonoToWall, rows: &mut TableRows) {
        let Some(cols) = columns_of(rows) else {
            self.records.clear();
            return;
        };
        for r in self.records.drain(..) {
            W::row(&r, conn, clock, cols);
        }
    }
    fn counts(&self) -> ParserCounts {
        self.conn.counts()
    }
}

/// A protocol's `Inference` as a [`Verdict`]: `yes` are its two yes values.
pub(crate) fn verdict<I: PartialEq>(got: I, yes: [I; 2], need_more: I) -> Verdict {
    if got == need_more {
        Verdict::NeedMore
    } else if yes.contains(&got) {
        Verdict::Yes
    } else {
        Verdict::No
    }
}

/// `rows` as the generic builder, for glue code that knows its table uses it.
/// A mismatch is a registry bug; the rows are then dropped, never misfiled.
pub(crate) fn columns_of(rows: &mut TableRows) -> Option<&mut Columns> {
    let c = rows.columns();
    debug_assert!(
        c.is_some(),
        "table builder kind does not match the protocol"
    );
    c
}

/// Shared by the glue modules: the ns timestamp clamp every latency uses.
pub(crate) fn ns(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

#[cfg(test)]
mod tests;
