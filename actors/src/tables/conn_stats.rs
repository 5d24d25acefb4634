//! `conn_stats`: per (process, remote endpoint, role), how many connections
//! opened and closed, the bytes they moved, their TCP retransmits and
//! resets, and the bytes the agent could not see; cumulative since tracing
//! began, one row per group per sample (Pixie's table, plus four columns).
//! As in Pixie, a server's group is per client address (`remote_port` 0):
//! clients' ephemeral ports would make a group per connection.
//!
//! Where the numbers come from:
//! - opens and closes: the kernel's open and close records (every TCP and
//!   UDP socket a traced process uses, traced protocol or not);
//! - bytes, retransmits and resets: the kernel's `conns` map, read whole
//!   every sample (the kernel counts bytes of every connection, copied or
//!   not, and TCP's retransmit and reset tracepoints add to the owning
//!   connection), then the close record's final values; a reset that
//!   close() itself sends (SO_LINGER 0) arrives as a late record;
//! - lost bytes: the reassembly's gaps (records the ring buffer dropped).
//!
//! The reassembly actor drives it: it sees the records in ring order and
//! reads the map on its tick. Cost: one hash lookup per connection per
//! sample, one row per active or changed group.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use loupe_k8s::ProcessInfo;

use crate::counters::{Counter, Counters};
use crate::protocols::Columns;

/// A connection as the kernel names it.
pub type ConnId = (u32, u32, u32);

/// Pixie's `addr_family`: 1 IPv4, 2 IPv6 (0 unspecified).
pub fn addr_family(addr: &SocketAddr) -> i64 {
    match addr {
        SocketAddr::V4(_) => 1,
        SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some() => 1,
        SocketAddr::V6(_) => 2,
    }
}

/// What the kernel counts for one connection (absolute, cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    pub retransmits: u64,
    pub resets_sent: u64,
    pub resets_received: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GroupKey {
    upid: String,
    remote_addr: String,
    remote_port: u16,
    role: i64,
}

struct Group {
    key: GroupKey,
    process: Arc<ProcessInfo>,
    addr_family: i64,
    /// Pixie's traffic protocol number (0 until a protocol is inferred).
    protocol: i64,
    ssl: bool,
    open: u64,
    close: u64,
    totals: Totals,
    lost_bytes: u64,
    /// The counters its last row showed, and the sample it was in.
    shown: Shown,
    shown_at: Option<u64>,
    /// Changed since its last row.
    dirty: bool,
    /// Sample number of its last change (idle groups are forgotten first).
    touched: u64,
}

/// A group's counters as one row shows them.
#[derive(Clone, Copy, Default)]
struct Shown {
    open: u64,
    close: u64,
    totals: Totals,
    lost_bytes: u64,
}

struct Tracked {
    group: usize,
    seen: Totals,
    /// Closed at this sample number (kept a while for late resets).
    closed_at: Option<u64>,
}

/// Groups kept (open connections' groups always are).
const MAX_GROUPS: usize = 65_536;
/// Samples a closed connection is kept for late retransmits and resets.
const LATE_SAMPLES: u64 = 30;

pub struct ConnStats {
    conns: HashMap<ConnId, Tracked, ahash::RandomState>,
    groups: Vec<Group>,
    by_key: HashMap<GroupKey, usize, ahash::RandomState>,
    free: Vec<usize>,
    closed: VecDeque<(u64, ConnId)>,
    /// Samples taken.
    samples: u64,
    counters: Arc<Counters>,
    rows: Columns,
    procs: Vec<Arc<ProcessInfo>>,
    /// Connections found in the kernel's map this sample (scratch).
    present: Vec<ConnId>,
    /// Wall time of the last sample.
    last_ns: Option<i64>,
}

impl ConnStats {
    pub fn new(counters: Arc<Counters>) -> Self {
        // Keys come from the kernel (pid, fd, generation) and from our own
        // process names: a fixed-seed hash is fine.
        let h = || ahash::RandomState::with_seeds(5, 6, 7, 8);
        ConnStats {
            conns: HashMap::with_hasher(h()),
            groups: Vec::new(),
            by_key: HashMap::with_hasher(h()),
            free: Vec::new(),
            closed: VecDeque::new(),
            samples: 0,
            counters,
            rows: Columns::new(loupe_topology::schema::CONN_STATS),
            procs: Vec::new(),
            present: Vec::new(),
            last_ns: None,
        }
    }

    /// Tracing began at wall time `now_ns`: a group that appears before
    /// the first sample gets its zeros there.
    pub fn started_at(mut self, now_ns: i64) -> Self {
        self.last_ns = Some(now_ns);
        self
    }

    /// Connections tracked (open, or closed within the late window).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// A connection opened (its open record). A second open record of the
    /// same connection (its role became known) changes nothing.
    pub fn open(&mut self, id: ConnId, process: &Arc<ProcessInfo>, remote: SocketAddr, role: i64) {
        if self.conns.contains_key(&id) {
            return;
        }
        let key = GroupKey {
            upid: process.upid.clone(),
            remote_addr: remote.ip().to_canonical().to_string(),
            // As Pixie: a server's peers are one group per address, not
            // one per ephemeral client port.
            remote_port: if role == 2 { 0 } else { remote.port() },
            role,
        };
        let g = match self.by_key.get(&key) {
            Some(&g) => g,
            None => self.new_group(key, process, addr_family(&remote)),
        };
        let touched = self.samples;
        let group = &mut self.groups[g];
        group.open += 1;
        group.dirty = true;
        group.touched = touched;
        // A process renamed by the cluster since: the newer names.
        if !Arc::ptr_eq(&group.process, process) {
            group.process = process.clone();
        }
        self.conns.insert(
            id,
            Tracked {
                group: g,
                seen: Totals::default(),
                closed_at: None,
            },
        );
    }

    fn new_group(&mut self, key: GroupKey, process: &Arc<ProcessInfo>, family: i64) -> usize {
        let group = Group {
            key: key.clone(),
            process: process.clone(),
            addr_family: family,
            protocol: 0,
            ssl: false,
            open: 0,
            close: 0,
            totals: Totals::default(),
            lost_bytes: 0,
            shown: Shown::default(),
            shown_at: None,
            dirty: true,
            touched: self.samples,
        };
        let g = match self.free.pop() {
            Some(g) => {
                self.groups[g] = group;
                g
            }
            None => {
                self.groups.push(group);
                self.groups.len() - 1
            }
        };
        self.by_key.insert(key, g);
        g
    }

    /// The kernel's counters of a connection now (never going back).
    pub fn totals(&mut self, id: ConnId, now: Totals) {
        let Some(t) = self.conns.get_mut(&id) else {
            return;
        };
        let d = |new: u64, old: &mut u64| -> u64 {
            let delta = new.saturating_sub(*old);
            *old = (*old).max(new);
            delta
        };
        let delta = Totals {
            bytes_sent: d(now.bytes_sent, &mut t.seen.bytes_sent),
            bytes_recv: d(now.bytes_recv, &mut t.seen.bytes_recv),
            retransmits: d(now.retransmits, &mut t.seen.retransmits),
            resets_sent: d(now.resets_sent, &mut t.seen.resets_sent),
            resets_received: d(now.resets_received, &mut t.seen.resets_received),
        };
        if delta == Totals::default() {
            return;
        }
        let touched = self.samples;
        let g = &mut self.groups[t.group];
        g.totals.bytes_sent += delta.bytes_sent;
        g.totals.bytes_recv += delta.bytes_recv;
        g.totals.retransmits += delta.retransmits;
        g.totals.resets_sent += delta.resets_sent;
        g.totals.resets_received += delta.resets_received;
        g.dirty = true;
        g.touched = touched;
    }

    /// A retransmit or reset the kernel reported after the connection's
    /// close record (`what` as `loupe_bpf::events::TCP_*`).
    pub fn late(&mut self, id: ConnId, what: u32, count: u32) {
        let Some(t) = self.conns.get(&id) else {
            return;
        };
        let mut now = t.seen;
        match what {
            loupe_bpf::events::TCP_RETRANS => now.retransmits += count as u64,
            loupe_bpf::events::TCP_RST_SENT => now.resets_sent += count as u64,
            loupe_bpf::events::TCP_RST_RECV => now.resets_received += count as u64,
            _ => return,
        }
        self.totals(id, now);
    }

    /// The connection closed (its close record, with the final counters).
    pub fn close(&mut self, id: ConnId, last: Totals) {
        self.totals(id, last);
        self.mark_closed(id);
    }

    fn mark_closed(&mut self, id: ConnId) {
        let samples = self.samples;
        let Some(t) = self.conns.get_mut(&id) else {
            return;
        };
        if t.closed_at.is_some() {
            return;
        }
        t.closed_at = Some(samples);
        let g = &mut self.groups[t.group];
        g.close += 1;
        g.dirty = true;
        g.touched = samples;
        self.closed.push_back((samples, id));
    }

    /// The protocol the reassembly inferred (Pixie's number) and whether
    /// the connection is TLS.
    pub fn protocol(&mut self, id: ConnId, protocol: i64, ssl: bool) {
        if let Some(t) = self.conns.get(&id) {
            let g = &mut self.groups[t.group];
            if g.protocol != protocol || g.ssl != ssl {
                g.protocol = protocol;
                g.ssl |= ssl;
                g.dirty = true;
            }
        }
    }

    /// Bytes of the connection the agent did not see (ring buffer drops).
    pub fn lost(&mut self, id: ConnId, bytes: u64) {
        if bytes == 0 {
            return;
        }
        if let Some(t) = self.conns.get(&id) {
            let g = &mut self.groups[t.group];
            g.lost_bytes += bytes;
            g.dirty = true;
        }
    }

    /// One reading of the kernel's map: `read` calls its argument with each
    /// live connection's id and counters. Open connections the kernel no
    /// longer has (and whose close record never came) are counted closed,
    /// and so are those of processes that exited (the kernel closes their
    /// sockets without a close() call): `alive` says whether a pid lives.
    pub fn sample_kernel(
        &mut self,
        read: impl FnOnce(&mut dyn FnMut(ConnId, Totals)),
        alive: impl Fn(u32) -> bool,
    ) {
        let mut present = std::mem::take(&mut self.present);
        present.clear();
        let mut unmatched = 0u64;
        read(&mut |id: ConnId, now: Totals| {
            if self.conns.contains_key(&id) {
                self.totals(id, now);
                present.push(id);
            } else {
                unmatched += 1;
            }
        });
        self.counters.add(Counter::ConnStatsUnmatched, unmatched);
        present.sort_unstable();
        let gone: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(id, t)| t.closed_at.is_none() && present.binary_search(id).is_err())
            .map(|(id, _)| *id)
            .collect();
        // Closed between the map read and its close record being handled
        // is the common case; the close record then only adds its counters.
        self.counters
            .add(Counter::ConnStatsMissedCloses, gone.len() as u64);
        for id in gone {
            self.mark_closed(id);
        }
        // Processes that exited: one check per process, not per connection.
        let mut pids: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, t)| t.closed_at.is_none())
            .map(|(id, _)| id.0)
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|p| !alive(*p));
        if !pids.is_empty() {
            let exited: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(id, t)| t.closed_at.is_none() && pids.binary_search(&id.0).is_ok())
                .map(|(id, _)| *id)
                .collect();
            for id in exited {
                self.mark_closed(id);
            }
        }
        self.present = present;
    }

    /// Ends a sample at wall time `now_ns`: one row per group with open
    /// connections or changes, then forgets what aged out. Returns the
    /// batch (and its processes) to store, if any row.
    pub fn finish_sample(
        &mut self,
        now_ns: i64,
    ) -> Option<(
        arrow::record_batch::RecordBatch,
        i64,
        i64,
        Vec<Arc<ProcessInfo>>,
    )> {
        let prev = self.samples.checked_sub(1);
        for g in &mut self.groups {
            if g.key.upid.is_empty() || !(g.dirty || g.open > g.close) {
                continue;
            }
            g.dirty = false;
            // A group without a row in the previous sample (new, or idle
            // since) first gets one there, with what its last row showed
            // (zeros when new): that was still true then, and a rate from
            // two samples (max - min over a window) then sees a burst that
            // opened and closed between two samples.
            if let Some(last_ns) = self.last_ns
                && (g.shown_at.is_none() || g.shown_at != prev)
            {
                write_row(&mut self.rows, last_ns, g, g.shown);
            }
            let now = Shown {
                open: g.open,
                close: g.close,
                totals: g.totals,
                lost_bytes: g.lost_bytes,
            };
            write_row(&mut self.rows, now_ns, g, now);
            g.shown = now;
            g.shown_at = Some(self.samples);
            if !self
                .procs
                .last()
                .is_some_and(|p| Arc::ptr_eq(p, &g.process))
            {
                self.procs.push(g.process.clone());
            }
        }
        self.last_ns = Some(now_ns);
        self.samples += 1;
        // Closed connections past the late window go.
        while let Some(&(at, id)) = self.closed.front() {
            if self.samples.saturating_sub(at) < LATE_SAMPLES {
                break;
            }
            self.closed.pop_front();
            if self.conns.get(&id).is_some_and(|t| t.closed_at == Some(at)) {
                self.conns.remove(&id);
            }
        }
        self.forget_idle_groups();
        let (batch, min, max) = self.rows.finish()?;
        let mut procs = std::mem::take(&mut self.procs);
        procs.sort_by(|a, b| a.upid.cmp(&b.upid));
        procs.dedup_by(|a, b| a.upid == b.upid);
        Some((batch, min, max, procs))
    }

    /// Beyond [`MAX_GROUPS`], the groups idle longest with no connection
    /// left are forgotten (counted); a group that comes back restarts at 0.
    fn forget_idle_groups(&mut self) {
        let live = self.groups.len() - self.free.len();
        if live <= MAX_GROUPS {
            return;
        }
        let mut referenced = vec![false; self.groups.len()];
        for t in self.conns.values() {
            referenced[t.group] = true;
        }
        let mut idle: Vec<(u64, usize)> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(i, g)| !referenced[*i] && !g.key.upid.is_empty() && !g.dirty)
            .map(|(i, g)| (g.touched, i))
            .collect();
        idle.sort_unstable();
        let excess = live - MAX_GROUPS;
        for &(_, i) in idle.iter().take(excess) {
            let key = std::mem::replace(
                &mut self.groups[i].key,
                GroupKey {
                    upid: String::new(),
                    remote_addr: String::new(),
                    remote_port: 0,
                    role: 0,
                },
            );
            self.by_key.remove(&key);
            self.free.push(i);
        }
        self.counters.add(
            Counter::ConnStatsGroupsEvicted,
            excess.min(idle.len()) as u64,
        );
    }
}

/// One row of group `g` at `time_ns` showing `c`.
fn write_row(r: &mut Columns, time_ns: i64, g: &Group, c: Shown) {
    r.start(time_ns);
    r.str(&g.key.upid);
    r.str(&g.key.remote_addr);
    r.int(g.key.remote_port as i64);
    r.int(g.key.role);
    r.int(g.addr_family);
    r.int(g.protocol);
    r.bool(g.ssl);
    r.int(c.open as i64);
    r.int(c.close as i64);
    r.int(c.open.saturating_sub(c.close) as i64);
    r.int(c.totals.bytes_sent as i64);
    r.int(c.totals.bytes_recv as i64);
    r.int(c.totals.retransmits as i64);
    r.int(c.totals.resets_sent as i64);
    r.int(c.totals.resets_received as i64);
    r.int(c.lost_bytes as i64);
    r.end_row();
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::Int64Type;

    fn proc_(upid: &str) -> Arc<ProcessInfo> {
        Arc::new(ProcessInfo {
            upid: upid.into(),
            node: "n".into(),
            pid: 7,
            ..Default::default()
        })
    }

    fn col(b: &arrow::record_batch::RecordBatch, name: &str) -> Vec<i64> {
        b.column_by_name(name)
            .unwrap()
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()
    }

    fn totals(sent: u64, recv: u64) -> Totals {
        Totals {
            bytes_sent: sent,
            bytes_recv: recv,
            ..Default::default()
        }
    }

    #[test]
    fn connections_to_one_endpoint_are_one_group_with_cumulative_counters() {
        let mut s = ConnStats::new(Arc::default());
        let p = proc_("n:7:1");
        let remote: SocketAddr = "10.0.0.2:5432".parse().unwrap();
        s.open((7, 3, 1), &p, remote, 1);
        s.open((7, 4, 2), &p, remote, 1);
        s.totals((7, 3, 1), totals(100, 10));
        s.totals((7, 4, 2), totals(50, 5));
        let (b, ..) = s.finish_sample(1_000).unwrap();
        assert_eq!(b.num_rows(), 1);
        assert_eq!(col(&b, "conn_open"), [2]);
        assert_eq!(col(&b, "conn_active"), [2]);
        assert_eq!(col(&b, "bytes_sent"), [150]);
        assert_eq!(col(&b, "bytes_recv"), [15]);
        assert_eq!(col(&b, "addr_family"), [1]);
        // One closes with more bytes and a reset sent afterwards (linger 0).
        s.close(
            (7, 3, 1),
            Totals {
                bytes_sent: 120,
                bytes_recv: 10,
                ..Default::default()
            },
        );
        s.late((7, 3, 1), loupe_bpf::events::TCP_RST_SENT, 1);
        // A map read that goes backwards (a stale read) changes nothing.
        s.totals((7, 4, 2), totals(40, 5));
        let (b, ..) = s.finish_sample(2_000).unwrap();
        assert_eq!(col(&b, "conn_close"), [1]);
        assert_eq!(col(&b, "conn_active"), [1]);
        assert_eq!(col(&b, "bytes_sent"), [170]);
        assert_eq!(col(&b, "resets_sent"), [1]);
    }

    #[test]
    fn an_idle_open_connection_still_reports_and_a_closed_group_stops() {
        let mut s = ConnStats::new(Arc::default());
        let p = proc_("n:7:1");
        s.open((7, 3, 1), &p, "[::1]:80".parse().unwrap(), 2);
        s.open((7, 5, 2), &p, "127.0.0.1:6379".parse().unwrap(), 1);
        s.close((7, 5, 2), totals(1, 1));
        let (b, ..) = s.finish_sample(1).unwrap();
        assert_eq!(b.num_rows(), 2);
        // Nothing changed: only the group with an open connection has a row.
        let (b, ..) = s.finish_sample(2).unwrap();
        assert_eq!(b.num_rows(), 1);
        // A server's peers: the address, not the client's ephemeral port.
        assert_eq!(col(&b, "remote_port"), [0]);
        assert_eq!(col(&b, "addr_family"), [2]);
        assert_eq!(col(&b, "trace_role"), [2]);
        assert_eq!(
            b.column_by_name("remote_addr")
                .unwrap()
                .as_any_dictionary()
                .values()
                .as_string::<i32>()
                .value(0),
            "::1"
        );
    }

    #[test]
    fn connections_the_kernel_forgot_are_closed_and_unknown_ones_counted() {
        let c = Arc::new(Counters::default());
        let mut s = ConnStats::new(c.clone());
        let p = proc_("n:7:1");
        let r: SocketAddr = "10.0.0.2:80".parse().unwrap();
        s.open((7, 3, 1), &p, r, 1);
        s.open((7, 4, 1), &p, r, 1);
        s.sample_kernel(
            |f| {
                f((7, 3, 1), totals(10, 20));
                f((9, 9, 9), totals(1, 1));
            },
            |_| true,
        );
        assert_eq!(c.get(Counter::ConnStatsUnmatched), 1);
        assert_eq!(c.get(Counter::ConnStatsMissedCloses), 1);
        // Its close record, handled after the read, adds only its counters.
        s.close((7, 4, 1), totals(5, 0));
        let (b, ..) = s.finish_sample(1).unwrap();
        assert_eq!(col(&b, "conn_close"), [1]);
        assert_eq!(col(&b, "bytes_sent"), [15]);
        let _ = Int64Array::from(vec![0]);
    }

    #[test]
    fn connections_of_a_process_that_exited_are_closed() {
        let mut s = ConnStats::new(Arc::default());
        let (p, q) = (proc_("n:7:1"), proc_("n:8:1"));
        let r: SocketAddr = "10.0.0.2:80".parse().unwrap();
        s.open((7, 3, 1), &p, r, 1);
        s.open((8, 3, 2), &q, r, 1);
        s.sample_kernel(
            |f| {
                f((7, 3, 1), totals(1, 1));
                f((8, 3, 2), totals(1, 1));
            },
            |pid| pid != 8,
        );
        let (b, ..) = s.finish_sample(1).unwrap();
        let active = col(&b, "conn_active");
        assert_eq!(active.iter().sum::<i64>(), 1, "{active:?}");
    }

    #[test]
    fn a_burst_between_two_samples_shows_as_growth_from_the_previous_one() {
        let mut s = ConnStats::new(Arc::default());
        assert!(s.finish_sample(1_000).is_none());
        let p = proc_("n:7:1");
        let r: SocketAddr = "10.0.0.2:80".parse().unwrap();
        for fd in 3..6 {
            s.open((7, fd, fd), &p, r, 1);
            s.close((7, fd, fd), totals(10, 20));
        }
        let (b, ..) = s.finish_sample(2_000).unwrap();
        // Zeros at the previous sample, then the burst.
        assert_eq!(col(&b, "conn_open"), [0, 3]);
        assert_eq!(col(&b, "conn_close"), [0, 3]);
        assert_eq!(col(&b, "bytes_sent"), [0, 30]);
        let t = b
            .column(0)
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
            .values()
            .to_vec();
        assert_eq!(t, [1_000, 2_000]);
        // Idle, then one more: its last row's values at the previous sample.
        assert!(s.finish_sample(3_000).is_none());
        s.open((7, 9, 9), &p, r, 1);
        let (b, ..) = s.finish_sample(4_000).unwrap();
        assert_eq!(col(&b, "conn_open"), [3, 4]);
    }

    #[test]
    fn a_group_before_the_first_sample_starts_at_zero_when_tracing_began() {
        let mut s = ConnStats::new(Arc::default()).started_at(500);
        let p = proc_("n:7:1");
        s.open((7, 3, 1), &p, "10.0.0.2:80".parse().unwrap(), 1);
        let (b, ..) = s.finish_sample(1_000).unwrap();
        assert_eq!(col(&b, "conn_open"), [0, 1]);
    }

    #[test]
    fn late_records_after_the_window_are_ignored() {
        let mut s = ConnStats::new(Arc::default());
        let p = proc_("n:7:1");
        s.open((7, 3, 1), &p, "10.0.0.2:80".parse().unwrap(), 1);
        s.close((7, 3, 1), Totals::default());
        for i in 0..LATE_SAMPLES + 1 {
            s.finish_sample(i as i64);
        }
        assert_eq!(s.connections(), 0);
        s.late((7, 3, 1), loupe_bpf::events::TCP_RST_RECV, 1);
        assert!(s.finish_sample(100).is_none());
    }
}
