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
    /// HTTP records produced.
    HttpRecords,
    /// HTTP parse errors (resynchronised).
    HttpParseErrors,
    /// HTTP messages lost to gaps.
    HttpMessagesLost,
    /// Requests that never got a response (connection closed, evicted, lost).
    HttpUnansweredRequests,
    /// Responses without a request.
    HttpUnmatchedResponses,
    /// Row batches dropped because the table store mailbox was full.
    StoreRowsDroppedMailboxFull,
    /// Rows appended to tables.
    StoreRowsAppended,
    /// Rows evicted by retention (bytes or age).
    StoreRowsEvicted,
}

impl Counter {
    pub const ALL: [Counter; 17] = [
        Counter::CaptureRecordsRead,
        Counter::CaptureRecordsMalformed,
        Counter::CaptureRecordsDroppedMailboxFull,
        Counter::ReassemblyConnsOpened,
        Counter::ReassemblyConnsEvicted,
        Counter::ReassemblyGapBytes,
        Counter::ReassemblyCappedBytes,
        Counter::ReassemblyLateBytes,
        Counter::ReassemblyIgnoredBytes,
        Counter::HttpRecords,
        Counter::HttpParseErrors,
        Counter::HttpMessagesLost,
        Counter::HttpUnansweredRequests,
        Counter::HttpUnmatchedResponses,
        Counter::StoreRowsDroppedMailboxFull,
        Counter::StoreRowsAppended,
        Counter::StoreRowsEvicted,
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
            Counter::HttpRecords => "loupe_http_records_total",
            Counter::HttpParseErrors => "loupe_http_parse_errors_total",
            Counter::HttpMessagesLost => "loupe_http_messages_lost_total",
            Counter::HttpUnansweredRequests => "loupe_http_unanswered_requests_total",
            Counter::HttpUnmatchedResponses => "loupe_http_unmatched_responses_total",
            Counter::StoreRowsDroppedMailboxFull => "loupe_store_rows_dropped_mailbox_full_total",
            Counter::StoreRowsAppended => "loupe_store_rows_appended_total",
            Counter::StoreRowsEvicted => "loupe_store_rows_evicted_total",
        }
    }
}

/// Shared counters (one instance per agent, cheap to bump from any thread).
#[derive(Debug, Default)]
pub struct Counters {
    values: [AtomicU64; Counter::ALL.len()],
}

impl Counters {
    pub fn add(&self, c: Counter, n: u64) {
        if n > 0 {
            self.values[c as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.values[c as usize].load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Vec<(String, u64)> {
        Counter::ALL
            .iter()
            .map(|c| (c.name().to_string(), self.get(*c)))
            .collect()
    }
}
