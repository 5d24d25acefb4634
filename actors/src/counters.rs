//! The agent's user-space counters: one enum names them all
//! (`loupe_<component>_<thing>_<unit>_total`); every loss has one.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Counter {
    /// Ring-buffer records read.
    CaptureRecordsRead,
    /// Records that could not be decoded.
    CaptureRecordsMalformed,
    /// Records dropped because the reassembly mailbox was full.
    CaptureRecordsDroppedMailboxFull,
    /// Connections tracked.
    ReassemblyConnsOpened,
    /// Connections evicted while idle or for room (LRU).
    ReassemblyConnsEvicted,
    /// Stream bytes lost: gaps between records (kernel drops, races).
    ReassemblyGapBytes,
    /// Stream bytes not captured past the per-syscall cap (known-length gaps).
    ReassemblyCappedBytes,
    /// Bytes that arrived after their place in the stream was given up.
    ReassemblyLateBytes,
    /// Bytes of connections whose protocol is not traced.
    ReassemblyIgnoredBytes,
    /// Connections whose protocol was decided (any traced protocol).
    ReassemblyConnsInferred,
    /// Connections found to carry no traced protocol (then untraced in the
    /// kernel).
    ReassemblyConnsIgnored,
    /// UDP datagrams dropped before parsing: cut by the capture cap or a
    /// lost record.
    ReassemblyDatagramsLost,
    /// Row batches dropped because the table store mailbox was full.
    StoreRowsDroppedMailboxFull,
    /// Rows appended to tables.
    StoreRowsAppended,
    /// Rows evicted by retention (bytes or age).
    StoreRowsEvicted,
    /// Processes that ended between the sampler's listing and its reading
    /// (not an error: their row is simply not in that sample).
    SamplerProcessesGone,
    /// `/proc` files a sampler could not read or parse for a live process.
    SamplerReadErrors,
    /// Samples that took longer than their period (the next one was skipped).
    SamplerOverruns,
    /// Kernel connections sampled before (or without) their open record.
    ConnStatsUnmatched,
    /// Connections the kernel forgot without a close record (counted closed).
    ConnStatsMissedCloses,
    /// Idle connection groups forgotten for room (their counters restart).
    ConnStatsGroupsEvicted,
}

impl Counter {
    pub const ALL: [Counter; 21] = [
        Counter::CaptureRecordsRead,
        Counter::CaptureRecordsMalformed,
        Counter::CaptureRecordsDroppedMailboxFull,
        Counter::ReassemblyConnsOpened,
        Counter::ReassemblyConnsEvicted,
        Counter::ReassemblyGapBytes,
        Counter::ReassemblyCappedBytes,
        Counter::ReassemblyLateBytes,
        Counter::ReassemblyIgnoredBytes,
        Counter::ReassemblyConnsInferred,
        Counter::ReassemblyConnsIgnored,
        Counter::ReassemblyDatagramsLost,
        Counter::StoreRowsDroppedMailboxFull,
        Counter::StoreRowsAppended,
        Counter::StoreRowsEvicted,
        Counter::SamplerProcessesGone,
        Counter::SamplerReadErrors,
        Counter::SamplerOverruns,
        Counter::ConnStatsUnmatched,
        Counter::ConnStatsMissedCloses,
        Counter::ConnStatsGroupsEvicted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Counter::CaptureRecordsRead => "loupe_capture_records_read_total",
            Counter::CaptureRecordsMalformed => "loupe_capture_records_malformed_total",
            Counter::CaptureRecordsDroppedMailboxFull => {
                "loupe_capture_records_dropped_mailbox_full_total"
            }
            Counter::ReassemblyConnsOpened => "loupe_reassembly_connections_opened_total",
            Counter::ReassemblyConnsEvicted => "loupe_reassembly_connections_evicted_total",
            Counter::ReassemblyGapBytes => "loupe_reassembly_gap_bytes_total",
            Counter::ReassemblyCappedBytes => "loupe_reassembly_capped_bytes_total",
            Counter::ReassemblyLateBytes => "loupe_reassembly_late_bytes_total",
            Counter::ReassemblyIgnoredBytes => "loupe_reassembly_ignored_bytes_total",
            Counter::ReassemblyConnsInferred => "loupe_reassembly_connections_inferred_total",
            Counter::ReassemblyConnsIgnored => "loupe_reassembly_connections_ignored_total",
            Counter::ReassemblyDatagramsLost => "loupe_reassembly_datagrams_lost_total",
            Counter::StoreRowsDroppedMailboxFull => "loupe_store_rows_dropped_mailbox_full_total",
            Counter::StoreRowsAppended => "loupe_store_rows_appended_total",
            Counter::StoreRowsEvicted => "loupe_store_rows_evicted_total",
            Counter::SamplerProcessesGone => "loupe_sampler_processes_gone_total",
            Counter::SamplerReadErrors => "loupe_sampler_read_errors_total",
            Counter::SamplerOverruns => "loupe_sampler_overruns_total",
            Counter::ConnStatsUnmatched => "loupe_conn_stats_unmatched_total",
            Counter::ConnStatsMissedCloses => "loupe_conn_stats_missed_closes_total",
            Counter::ConnStatsGroupsEvicted => "loupe_conn_stats_groups_evicted_total",
        }
    }
}

/// What every protocol parser counts, labelled by the protocol's registry
/// name: `loupe_<protocol>_<thing>_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParserCounter {
    /// Records produced.
    Records,
    /// Malformed messages (the parser resynchronised).
    ParseErrors,
    /// Messages lost to gaps in the captured stream.
    MessagesLost,
    /// Requests that never got a response (closed, evicted, lost, timed out).
    UnansweredRequests,
    /// Responses without a request.
    UnmatchedResponses,
}

impl ParserCounter {
    pub const ALL: [ParserCounter; 5] = [
        ParserCounter::Records,
        ParserCounter::ParseErrors,
        ParserCounter::MessagesLost,
        ParserCounter::UnansweredRequests,
        ParserCounter::UnmatchedResponses,
    ];

    fn suffix(self) -> &'static str {
        match self {
            ParserCounter::Records => "records_total",
            ParserCounter::ParseErrors => "parse_errors_total",
            ParserCounter::MessagesLost => "messages_lost_total",
            ParserCounter::UnansweredRequests => "unanswered_requests_total",
            ParserCounter::UnmatchedResponses => "unmatched_responses_total",
        }
    }
}

/// One protocol's parser counters, as its parser reports them (cumulative).
pub type ParserCounts = [u64; ParserCounter::ALL.len()];

/// Shared counters (one instance per agent, cheap to bump from any thread).
#[derive(Debug, Default)]
pub struct Counters {
    values: [AtomicU64; Counter::ALL.len()],
    /// Per protocol of the registry (same order), per [`ParserCounter`].
    parsers: [[AtomicU64; ParserCounter::ALL.len()]; crate::protocols::MAX_PROTOCOLS],
}

impl Counters {
    /// Adds to protocol `proto`'s (registry index) counter `c`.
    pub fn add_parser(&self, proto: usize, c: ParserCounter, n: u64) {
        if n > 0
            && let Some(p) = self.parsers.get(proto)
        {
            p[c as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Protocol `name`'s counter `c`.
    pub fn parser(&self, name: &str, c: ParserCounter) -> u64 {
        crate::protocols::index_of(name)
            .and_then(|i| self.parsers.get(i))
            .map(|p| p[c as usize].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    pub fn add(&self, c: Counter, n: u64) {
        if n > 0 {
            self.values[c as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.values[c as usize].load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Counter::ALL
            .iter()
            .map(|c| (c.name().to_string(), self.get(*c)))
            .collect();
        for (p, values) in crate::protocols::PROTOCOLS.iter().zip(&self.parsers) {
            for c in ParserCounter::ALL {
                out.push((
                    format!("loupe_{}_{}", p.name(), c.suffix()),
                    values[c as usize].load(Ordering::Relaxed),
                ));
            }
        }
        out
    }
}
