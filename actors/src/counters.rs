//! The agent's user-space counters: one enum, each a family of the
//! registry ([`loupe_topology::metrics`]); every loss has one.

use loupe_topology::metrics::Metric;

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

    /// Its family in the registry (one name for every reader).
    pub fn metric(self) -> Metric {
        match self {
            Counter::CaptureRecordsRead => Metric::CaptureRecordsRead,
            Counter::CaptureRecordsMalformed => Metric::CaptureRecordsMalformed,
            Counter::CaptureRecordsDroppedMailboxFull => Metric::CaptureRecordsDroppedMailboxFull,
            Counter::ReassemblyConnsOpened => Metric::ReassemblyConnectionsOpened,
            Counter::ReassemblyConnsEvicted => Metric::ReassemblyConnectionsEvicted,
            Counter::ReassemblyGapBytes => Metric::ReassemblyGapBytes,
            Counter::ReassemblyCappedBytes => Metric::ReassemblyCappedBytes,
            Counter::ReassemblyLateBytes => Metric::ReassemblyLateBytes,
            Counter::ReassemblyIgnoredBytes => Metric::ReassemblyIgnoredBytes,
            Counter::ReassemblyConnsInferred => Metric::ReassemblyConnectionsInferred,
            Counter::ReassemblyConnsIgnored => Metric::ReassemblyConnectionsIgnored,
            Counter::ReassemblyDatagramsLost => Metric::ReassemblyDatagramsLost,
            Counter::StoreRowsDroppedMailboxFull => Metric::StoreRowsDroppedMailboxFull,
            Counter::StoreRowsAppended => Metric::StoreRowsAppended,
            Counter::StoreRowsEvicted => Metric::StoreRowsEvicted,
            Counter::SamplerProcessesGone => Metric::SamplerProcessesGone,
            Counter::SamplerReadErrors => Metric::SamplerReadErrors,
            Counter::SamplerOverruns => Metric::SamplerOverruns,
            Counter::ConnStatsUnmatched => Metric::ConnStatsUnmatched,
            Counter::ConnStatsMissedCloses => Metric::ConnStatsMissedCloses,
            Counter::ConnStatsGroupsEvicted => Metric::ConnStatsGroupsEvicted,
        }
    }

    pub fn name(self) -> &'static str {
        self.metric().name()
    }
}

/// The registry's family of a kernel counter (every one has a family: a
/// test says so).
pub fn stat_metric(s: loupe_bpf::Stat) -> Option<Metric> {
    use loupe_bpf::Stat;
    Some(match s {
        Stat::RingBufferDrops => Metric::CaptureRingbufDroppedEvents,
        Stat::RingBufferDropBytes => Metric::CaptureRingbufDroppedBytes,
        Stat::Events => Metric::CaptureEvents,
        Stat::PayloadBytes => Metric::CapturePayloadBytes,
        Stat::CapBytes => Metric::CaptureCappedBytes,
        Stat::ReadFaultBytes => Metric::CaptureReadFaultBytes,
        Stat::ConnOpened => Metric::CaptureConnectionsOpened,
        Stat::ConnClosed => Metric::CaptureConnectionsClosed,
        Stat::TcpEstablished => Metric::CaptureTcpEstablished,
        Stat::TcpClosed => Metric::CaptureTcpClosed,
        Stat::ArgsLost => Metric::CaptureArgsLost,
        Stat::MmsgSkipped => Metric::CaptureMmsgSkipped,
        Stat::UntracedBytes => Metric::CaptureUntracedBytes,
        Stat::TcpRetransmits => Metric::CaptureTcpRetransmits,
        Stat::TcpResets => Metric::CaptureTcpResets,
        Stat::TcpUnowned => Metric::CaptureTcpUnowned,
        _ => return None,
    })
}

/// What every protocol parser counts, labelled by the protocol's registry
/// name: `loupe_parser_<thing>_total{protocol="http"}`.
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

    /// Its family (labelled by protocol).
    pub fn metric(self) -> Metric {
        match self {
            ParserCounter::Records => Metric::ParserRecords,
            ParserCounter::ParseErrors => Metric::ParserParseErrors,
            ParserCounter::MessagesLost => Metric::ParserMessagesLost,
            ParserCounter::UnansweredRequests => Metric::ParserUnansweredRequests,
            ParserCounter::UnmatchedResponses => Metric::ParserUnmatchedResponses,
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
                    c.metric().sample(&[p.name()]),
                    values[c as usize].load(Ordering::Relaxed),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_and_user_counter_is_a_family_of_the_registry() {
        for s in loupe_bpf::Stat::ALL {
            let m = stat_metric(s).unwrap_or_else(|| panic!("{s:?} has no family"));
            assert_eq!(m.name(), s.name(), "{s:?}");
        }
        for c in Counter::ALL {
            assert!(c.metric().family().labels.is_empty(), "{c:?}");
        }
        for c in ParserCounter::ALL {
            assert_eq!(c.metric().family().labels, ["protocol"]);
        }
        // What a snapshot holds is all in the registry.
        for (name, _) in Counters::default().snapshot() {
            assert!(
                Metric::named(loupe_topology::metrics::family_of(&name)).is_some(),
                "{name}"
            );
        }
    }
}
