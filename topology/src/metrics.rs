//! Every counter and gauge of every Loupe process, defined once: name,
//! type, help and labels. Components record by [`Metric`]; `loupe nodes`,
//! `loupe check` and `/metrics` read by [`Metric`] too, so a misspelt name
//! is a compile error, never a silent zero.
//!
//! On the wire a status carries samples as `(name{labels}, value)` pairs
//! (the Prometheus exposition's own form); [`render`] writes them as the
//! Prometheus text format with each family's HELP and TYPE.

use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A metric family.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// The labels each sample has (beyond the process's own, `node` or
    /// `planner`, which `/metrics` adds).
    pub labels: &'static [&'static str],
}

macro_rules! families {
    ($( $id:ident = $name:literal, $kind:ident, [$($l:literal),*], $help:literal; )*) => {
        /// A metric family of the registry.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Metric { $($id),* }

        /// The registry, in [`Metric`] order.
        pub const FAMILIES: &[Family] = &[
            $(Family { name: $name, kind: Kind::$kind, help: $help, labels: &[$($l),*] }),*
        ];

        impl Metric {
            pub const ALL: &[Metric] = &[$(Metric::$id),*];
        }
    };
}

families! {
    // The kernel programs' counters (bpf/src/stats.rs, per-CPU map).
    CaptureEvents = "loupe_capture_events_total", Counter, [], "Records the kernel programs wrote to the ring buffer.";
    CaptureRingbufDroppedEvents = "loupe_capture_ringbuf_dropped_events_total", Counter, [], "Records the kernel dropped: the ring buffer was full.";
    CaptureRingbufDroppedBytes = "loupe_capture_ringbuf_dropped_bytes_total", Counter, [], "Payload bytes of records the kernel dropped.";
    CapturePayloadBytes = "loupe_capture_payload_bytes_total", Counter, [], "Payload bytes captured.";
    CaptureCappedBytes = "loupe_capture_capped_bytes_total", Counter, [], "Payload bytes beyond the per-syscall capture cap (not copied).";
    CaptureReadFaultBytes = "loupe_capture_read_fault_bytes_total", Counter, [], "Payload bytes the kernel could not read from user memory.";
    CaptureConnectionsOpened = "loupe_capture_connections_opened_total", Counter, [], "Connections seen opening (connect, accept).";
    CaptureConnectionsClosed = "loupe_capture_connections_closed_total", Counter, [], "Connections seen closing.";
    CaptureTcpEstablished = "loupe_capture_tcp_established_total", Counter, [], "TCP sockets that reached ESTABLISHED.";
    CaptureTcpClosed = "loupe_capture_tcp_closed_total", Counter, [], "TCP sockets that reached CLOSE.";
    CaptureArgsLost = "loupe_capture_args_lost_total", Counter, [], "Syscall exits whose entry arguments were lost.";
    CaptureMmsgSkipped = "loupe_capture_mmsg_skipped_messages_total", Counter, [], "Messages of sendmmsg/recvmmsg beyond those copied.";
    CaptureUntracedBytes = "loupe_capture_untraced_bytes_total", Counter, [], "Bytes of connections found to carry no traced protocol (left in the kernel).";
    CaptureTcpRetransmits = "loupe_capture_tcp_retransmits_total", Counter, [], "TCP segments retransmitted.";
    CaptureTcpResets = "loupe_capture_tcp_resets_total", Counter, [], "TCP resets sent or received.";
    CaptureTcpUnowned = "loupe_capture_tcp_unowned_events_total", Counter, [], "TCP events of sockets no traced process owned.";
    // User space.
    CaptureRecordsRead = "loupe_capture_records_read_total", Counter, [], "Ring-buffer records read.";
    CaptureRecordsMalformed = "loupe_capture_records_malformed_total", Counter, [], "Ring-buffer records that could not be decoded.";
    CaptureRecordsDroppedMailboxFull = "loupe_capture_records_dropped_mailbox_full_total", Counter, [], "Records dropped: the reassembly mailbox was full.";
    ReassemblyConnectionsOpened = "loupe_reassembly_connections_opened_total", Counter, [], "Connections tracked.";
    ReassemblyConnectionsEvicted = "loupe_reassembly_connections_evicted_total", Counter, [], "Connections evicted while idle or for room.";
    ReassemblyGapBytes = "loupe_reassembly_gap_bytes_total", Counter, [], "Stream bytes lost: gaps between records (kernel drops, races).";
    ReassemblyCappedBytes = "loupe_reassembly_capped_bytes_total", Counter, [], "Stream bytes not captured past the per-syscall cap.";
    ReassemblyLateBytes = "loupe_reassembly_late_bytes_total", Counter, [], "Bytes that came after their place in the stream was given up.";
    ReassemblyIgnoredBytes = "loupe_reassembly_ignored_bytes_total", Counter, [], "Bytes of connections whose protocol is not traced.";
    ReassemblyConnectionsInferred = "loupe_reassembly_connections_inferred_total", Counter, [], "Connections whose protocol was decided.";
    ReassemblyConnectionsIgnored = "loupe_reassembly_connections_ignored_total", Counter, [], "Connections found to carry no traced protocol.";
    ReassemblyDatagramsLost = "loupe_reassembly_datagrams_lost_total", Counter, [], "UDP datagrams dropped before parsing (cut or lost).";
    ParserRecords = "loupe_parser_records_total", Counter, ["protocol"], "Records a protocol's parser produced.";
    ParserParseErrors = "loupe_parser_parse_errors_total", Counter, ["protocol"], "Malformed messages (the parser resynchronised).";
    ParserMessagesLost = "loupe_parser_messages_lost_total", Counter, ["protocol"], "Messages lost to gaps in the captured stream.";
    ParserUnansweredRequests = "loupe_parser_unanswered_requests_total", Counter, ["protocol"], "Requests that never got a response.";
    ParserUnmatchedResponses = "loupe_parser_unmatched_responses_total", Counter, ["protocol"], "Responses without a request.";
    StoreRowsDroppedMailboxFull = "loupe_store_rows_dropped_mailbox_full_total", Counter, [], "Rows dropped: the table store mailbox was full.";
    StoreRowsAppended = "loupe_store_rows_appended_total", Counter, [], "Rows appended to tables.";
    StoreRowsEvicted = "loupe_store_rows_evicted_total", Counter, [], "Rows evicted by retention (bytes or age).";
    StoreRows = "loupe_store_rows", Gauge, [], "Rows held in the table store.";
    StoreBytes = "loupe_store_bytes", Gauge, [], "Bytes held in the table store.";
    StoreRetentionMaxBytes = "loupe_store_retention_max_bytes", Gauge, [], "The table store's byte bound.";
    SamplerProcessesGone = "loupe_sampler_processes_gone_total", Counter, [], "Processes that ended between a sampler's listing and its reading.";
    SamplerReadErrors = "loupe_sampler_read_errors_total", Counter, [], "/proc files a sampler could not read or parse.";
    SamplerOverruns = "loupe_sampler_overruns_total", Counter, [], "Samples that took longer than their period.";
    ConnStatsUnmatched = "loupe_conn_stats_unmatched_total", Counter, [], "Kernel connections sampled before or without their open record.";
    ConnStatsMissedCloses = "loupe_conn_stats_missed_closes_total", Counter, [], "Connections the kernel forgot without a close record.";
    ConnStatsGroupsEvicted = "loupe_conn_stats_groups_evicted_total", Counter, [], "Idle connection groups forgotten for room.";
    FragmentsActive = "loupe_fragments_active", Gauge, [], "Query fragments running (live ones included).";
    TapFrames = "loupe_tap_frames_total", Counter, ["stage"], "Frames a tapped stage published.";
    TapFramesDropped = "loupe_tap_frames_dropped_total", Counter, ["stage"], "Frames of a tapped stage that could not be queued.";
    MetadataObjects = "loupe_metadata_objects", Gauge, ["kind"], "Cluster objects held, by kind.";
    MetadataSynced = "loupe_metadata_synced", Gauge, [], "1 when the cluster metadata is in step with its source.";
    MetadataAgeMs = "loupe_metadata_age_ms", Gauge, [], "Milliseconds since the metadata was last in step with the API server.";
    // Every process.
    WireRejected = "loupe_wire_rejected_total", Counter, ["subject", "reason"], "Messages refused on arrival (garbage, forged, out of range).";
    Panics = "loupe_panics_total", Counter, ["component"], "Panics caught (the component restarted).";
    // The planner.
    PlannerNodes = "loupe_planner_nodes", Gauge, ["state"], "Nodes the planner knows, alive or quiet.";
    PlannerQueries = "loupe_planner_queries_total", Counter, ["outcome"], "One-shot queries answered, by outcome.";
    ExportRequests = "loupe_export_requests_total", Counter, [], "OTLP requests px.export sent.";
    ExportRetries = "loupe_export_retries_total", Counter, [], "OTLP request attempts beyond the first.";
    ExportPoints = "loupe_export_points_total", Counter, ["result"], "Data points and spans px.export made: delivered, lost or skipped (null).";
}

impl Metric {
    pub fn family(self) -> &'static Family {
        &FAMILIES[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.family().name
    }

    /// The family of this name.
    pub fn named(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// A sample's wire name: `name{l1="v1",...}`, values escaped. Labels
    /// are the family's, in its order.
    pub fn sample(self, values: &[&str]) -> String {
        let f = self.family();
        debug_assert_eq!(values.len(), f.labels.len(), "{}", f.name);
        if f.labels.is_empty() {
            return f.name.to_string();
        }
        let mut s = String::from(f.name);
        s.push('{');
        for (i, (l, v)) in f.labels.iter().zip(values).enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{l}=\"{}\"", escape(v));
        }
        s.push('}');
        s
    }
}

/// A label value as the exposition format writes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The family part of a sample name (before `{`).
pub fn family_of(sample: &str) -> &str {
    sample.split('{').next().unwrap_or(sample)
}

/// The sum of a family's samples (every label set) in `samples`.
pub fn total(samples: &[(String, u64)], m: Metric) -> u64 {
    samples
        .iter()
        .filter(|(n, _)| family_of(n) == m.name())
        .map(|(_, v)| *v)
        .sum()
}

/// The value of one labelled sample (0 if absent).
pub fn get(samples: &[(String, u64)], m: Metric, values: &[&str]) -> u64 {
    let want = m.sample(values);
    samples
        .iter()
        .find(|(n, _)| *n == want)
        .map(|(_, v)| *v)
        .unwrap_or(0)
}

/// Samples of a family with their label values.
pub fn samples(samples: &[(String, u64)], m: Metric) -> Vec<(Vec<String>, u64)> {
    samples
        .iter()
        .filter(|(n, _)| family_of(n) == m.name())
        .map(|(n, v)| (label_values(n), *v))
        .collect()
}

/// The label values of a sample name, in order (escapes undone).
fn label_values(sample: &str) -> Vec<String> {
    let Some(inner) = sample
        .split_once('{')
        .and_then(|(_, r)| r.strip_suffix('}'))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_value = false;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match (in_value, c) {
            (false, '"') => in_value = true,
            (false, _) => {}
            (true, '\\') => match chars.next() {
                Some('n') => cur.push('\n'),
                Some(o) => cur.push(o),
                None => {}
            },
            (true, '"') => {
                in_value = false;
                out.push(std::mem::take(&mut cur));
            }
            (true, _) => cur.push(c),
        }
    }
    out
}

/// The Prometheus text format of `samples`: every family of the registry
/// this kind of process has (`families`), with HELP and TYPE, a counter of
/// no labels at 0 when it has no sample yet, and `process` (`node` or
/// `planner` and its name) added to every sample. Samples not of the
/// registry are left out (and counted in the returned number).
pub fn render(
    samples: &[(String, u64)],
    families: &[Metric],
    process: (&str, &str),
) -> (String, usize) {
    let mut out = String::new();
    let own = format!("{}=\"{}\"", process.0, escape(process.1));
    let mut unknown = samples.len();
    for m in families {
        let f = m.family();
        let mine: Vec<&(String, u64)> = samples
            .iter()
            .filter(|(n, _)| family_of(n) == f.name)
            .collect();
        unknown -= mine.len();
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(
            out,
            "# TYPE {} {}",
            f.name,
            match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            }
        );
        // A counter not bumped yet is 0; a gauge not reported is unknown
        // (the metadata's, on a planner outside a cluster): left out.
        if mine.is_empty() && f.labels.is_empty() && f.kind == Kind::Counter {
            let _ = writeln!(out, "{}{{{own}}} 0", f.name);
        }
        for (n, v) in mine {
            match n.split_once('{') {
                Some((name, rest)) => {
                    let _ = writeln!(out, "{name}{{{own},{rest} {v}");
                }
                None => {
                    let _ = writeln!(out, "{n}{{{own}}} {v}");
                }
            }
        }
    }
    (out, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_valid_and_typed() {
        let mut seen = std::collections::HashSet::new();
        for f in FAMILIES {
            assert!(seen.insert(f.name), "{} twice", f.name);
            assert!(f.name.starts_with("loupe_"));
            assert!(
                f.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            );
            assert_eq!(
                f.kind == Kind::Counter,
                f.name.ends_with("_total"),
                "{}: counters end with _total, gauges do not",
                f.name
            );
            assert!(!f.help.is_empty());
        }
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(*m as usize, i);
            assert_eq!(Metric::named(m.name()), Some(*m));
        }
    }

    #[test]
    fn samples_round_trip_their_labels() {
        let s = Metric::WireRejected.sample(&["plan", "a \"b\"\n"]);
        assert_eq!(
            s,
            "loupe_wire_rejected_total{subject=\"plan\",reason=\"a \\\"b\\\"\\n\"}"
        );
        let got = vec![
            (s.clone(), 3),
            (Metric::WireRejected.sample(&["tail", "garbage"]), 4),
            (Metric::StoreRows.sample(&[]), 9),
        ];
        assert_eq!(total(&got, Metric::WireRejected), 7);
        assert_eq!(get(&got, Metric::WireRejected, &["tail", "garbage"]), 4);
        assert_eq!(
            samples(&got, Metric::WireRejected)[0].0,
            vec!["plan".to_string(), "a \"b\"\n".to_string()]
        );
        let (text, unknown) = render(
            &[got.clone(), vec![("loupe_nope".into(), 1)]].concat(),
            &[
                Metric::WireRejected,
                Metric::StoreRows,
                Metric::StoreBytes,
                Metric::StoreRowsEvicted,
            ],
            ("node", "n1"),
        );
        assert_eq!(unknown, 1);
        assert!(text.contains("# TYPE loupe_wire_rejected_total counter\n"));
        assert!(text.contains(
            "loupe_wire_rejected_total{node=\"n1\",subject=\"tail\",reason=\"garbage\"} 4\n"
        ));
        assert!(text.contains("# TYPE loupe_store_rows gauge\nloupe_store_rows{node=\"n1\"} 9\n"));
        // A counter with no sample yet reads 0, never absent; a gauge not
        // reported is left out.
        assert!(text.contains("loupe_store_rows_evicted_total{node=\"n1\"} 0\n"));
        assert!(!text.contains("loupe_store_bytes{"));
        assert!(!text.contains("loupe_nope"));
    }
}
