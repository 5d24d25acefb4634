//! Sampled tables: rows that are not requests but readings, taken every
//! period (about a second, as Pixie), each holding cumulative counters and
//! gauges that scripts turn into rates from two samples.
//!
//! A table read from `/proc` is one file here implementing [`Sampler`]
//! plus its line in [`samplers`] (its schema is its entry in
//! `topology::schema::TABLE_DEFS`). The [`Sampling`] actor makes one pass
//! over `/proc` per period for all of them (the agent's scope: its network
//! namespaces when it has some), so a process's files are listed once.
//! `conn_stats` is sampled by the reassembly, which sees the kernel's
//! connection records ([`conn_stats`]).
//!
//! Cost is bounded: at most `ProcFs::max_procs` processes per pass, reused
//! buffers, one row per thing per period; a sample that overruns its
//! period is counted. A process gone between listing and reading is
//! counted (`loupe_sampler_processes_gone_total`), never an error.

pub mod conn_stats;
mod network_stats;
mod process_stats;
pub mod procfs;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use loupe_k8s::{HostMetadata, ProcessInfo};

use crate::clock::wall_now_ns;
use crate::counters::{Counter, Counters};
use crate::protocols::Columns;
use crate::table_store::TableBatch;
pub use network_stats::NetDev;
pub use process_stats::Io;
use procfs::{Pass, ProcFs};

/// What a sampler reads a sample from.
pub struct SampleCx<'a> {
    pub now_ns: i64,
    pub node: &'a str,
    /// The host's network namespace (pid 1's): no pod's.
    pub host_netns: u64,
    /// The processes in scope, this period.
    pub pass: &'a Pass,
    pub fs: &'a mut ProcFs,
    pub metadata: &'a mut HostMetadata,
    pub counters: &'a Counters,
    /// The processes the rows name (by upid), for the store.
    pub processes: &'a mut Vec<Arc<ProcessInfo>>,
}

/// A table sampled from `/proc`.
pub trait Sampler: Send {
    /// Its table (`topology::schema::TABLES`).
    fn table(&self) -> &'static str;
    /// Appends this period's rows.
    fn sample(&mut self, cx: &mut SampleCx<'_>, rows: &mut Columns);
}

/// Every table sampled from `/proc`: one line each.
pub fn samplers() -> Vec<Box<dyn Sampler>> {
    vec![
        Box::new(process_stats::ProcessStats::default()),
        Box::new(network_stats::NetworkStats::default()),
    ]
}

/// Names of the sampled tables ([`samplers`] and `conn_stats`).
pub fn sampled_tables() -> Vec<&'static str> {
    let mut t: Vec<&'static str> = samplers().iter().map(|s| s.table()).collect();
    t.push(loupe_topology::schema::CONN_STATS);
    t
}

/// Sampling periods (`loupe agent --sample TABLE=PERIOD|off`).
#[derive(Clone, Debug, Default)]
pub struct SamplingConfig {
    /// Per table: its period, `None` when off. Tables not listed: 1 s.
    pub periods: Vec<(String, Option<Duration>)>,
    /// The agent's network namespaces (none: every process).
    pub netns: Vec<u64>,
}

/// Pixie's default period for process and network stats, and conn_stats' push.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(1);

impl SamplingConfig {
    /// The period of `table` (`None`: off).
    pub fn period(&self, table: &str) -> Option<Duration> {
        self.periods
            .iter()
            .rev()
            .find(|(t, _)| t == table)
            .map_or(Some(DEFAULT_PERIOD), |(_, p)| *p)
    }

    /// Parses `TABLE=PERIOD` (`1s`, `500ms`, `off`).
    pub fn parse_flag(flag: &str) -> Result<(String, Option<Duration>), String> {
        let (table, period) = flag.split_once('=').ok_or_else(|| {
            format!("--sample {flag:?}: expected TABLE=PERIOD (1s, 500ms) or TABLE=off")
        })?;
        let known = sampled_tables();
        if !known.contains(&table) {
            return Err(format!(
                "--sample {flag:?}: {table:?} is not a sampled table; they are: {}",
                known.join(", ")
            ));
        }
        if period == "off" {
            return Ok((table.to_string(), None));
        }
        let d = humantime::parse_duration(period).map_err(|e| format!("--sample {flag:?}: {e}"))?;
        if d < Duration::from_millis(100) || d > Duration::from_secs(3600) {
            return Err(format!(
                "--sample {flag:?}: a period is between 100ms and 1h"
            ));
        }
        Ok((table.to_string(), Some(d)))
    }
}

struct Slot {
    sampler: Box<dyn Sampler>,
    period: Duration,
    due: Instant,
    rows: Columns,
}

/// Samples the `/proc` tables and sends their batches on (to Enrich).
pub struct Sampling {
    node: String,
    netns: Vec<u64>,
    host_netns: u64,
    slots: Vec<Slot>,
    fs: ProcFs,
    pass: Pass,
    metadata: HostMetadata,
    sink: Recipient<TableBatch>,
    counters: Arc<Counters>,
}

impl Sampling {
    pub fn new(
        node: &str,
        cfg: &SamplingConfig,
        sink: Recipient<TableBatch>,
        counters: Arc<Counters>,
    ) -> Self {
        Self::with_proc_root(node, cfg, "/proc", sink, counters)
    }

    pub fn with_proc_root(
        node: &str,
        cfg: &SamplingConfig,
        root: &str,
        sink: Recipient<TableBatch>,
        counters: Arc<Counters>,
    ) -> Self {
        let now = Instant::now();
        let slots = samplers()
            .into_iter()
            .filter_map(|s| {
                let period = cfg.period(s.table())?;
                Some(Slot {
                    rows: Columns::new(s.table()),
                    sampler: s,
                    period,
                    due: now,
                })
            })
            .collect();
        let mut fs = ProcFs::new(root);
        let host_netns = fs.netns(1).unwrap_or(0);
        Sampling {
            node: node.to_string(),
            netns: cfg.netns.clone(),
            host_netns,
            slots,
            fs,
            pass: Pass::default(),
            metadata: HostMetadata::with_proc_root(node, root, 16_384),
            sink,
            counters,
        }
    }

    /// The shortest period (how often the actor wakes), if any table is on.
    pub fn tick(&self) -> Option<Duration> {
        self.slots.iter().map(|s| s.period).min()
    }

    /// Samples every table that is due; returns the batches made.
    pub fn sample_due(&mut self) -> Vec<TableBatch> {
        let started = Instant::now();
        if !self.slots.iter().any(|s| s.due <= started) {
            return Vec::new();
        }
        self.fs.pass(&self.netns, &mut self.pass);
        self.counters
            .add(Counter::SamplerProcessesGone, self.pass.gone);
        self.counters
            .add(Counter::SamplerReadErrors, self.pass.errors);
        let now_ns = wall_now_ns();
        let mut out = Vec::new();
        for slot in &mut self.slots {
            if slot.due > started {
                continue;
            }
            // The next due time keeps the cadence; a late sample does not
            // bunch the following ones.
            while slot.due <= started {
                slot.due += slot.period;
            }
            let mut processes = Vec::new();
            let mut cx = SampleCx {
                now_ns,
                node: &self.node,
                host_netns: self.host_netns,
                pass: &self.pass,
                fs: &mut self.fs,
                metadata: &mut self.metadata,
                counters: &self.counters,
                processes: &mut processes,
            };
            slot.sampler.sample(&mut cx, &mut slot.rows);
            if let Some((batch, min_time, max_time)) = slot.rows.finish() {
                out.push(TableBatch {
                    table: slot.sampler.table(),
                    batch,
                    min_time,
                    max_time,
                    processes,
                });
            }
        }
        if let Some(tick) = self.tick()
            && started.elapsed() > tick
        {
            self.counters.add(Counter::SamplerOverruns, 1);
        }
        out
    }
}

impl Actor for Sampling {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(tick) = self.tick() else {
            return;
        };
        ctx.run_interval(tick, |this, _| {
            for b in this.sample_due() {
                let n = b.batch.num_rows() as u64;
                if this.sink.try_send(b).is_err() {
                    this.counters.add(Counter::StoreRowsDroppedMailboxFull, n);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_default_to_a_second() {
        let mut cfg = SamplingConfig::default();
        assert_eq!(cfg.period("process_stats"), Some(DEFAULT_PERIOD));
        cfg.periods
            .push(SamplingConfig::parse_flag("process_stats=5s").unwrap());
        cfg.periods
            .push(SamplingConfig::parse_flag("network_stats=off").unwrap());
        assert_eq!(cfg.period("process_stats"), Some(Duration::from_secs(5)));
        assert_eq!(cfg.period("network_stats"), None);
        assert!(SamplingConfig::parse_flag("http_events=1s").is_err());
        assert!(SamplingConfig::parse_flag("process_stats=1ms").is_err());
        assert!(SamplingConfig::parse_flag("process_stats").is_err());
    }

    #[test]
    fn every_sampler_has_a_sampled_table() {
        for s in samplers() {
            let def = loupe_topology::schema::def(s.table()).unwrap();
            assert_eq!(def.kind, loupe_topology::schema::Kind::Sampled);
        }
    }
}
