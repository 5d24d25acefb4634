//! The kernel-side counters (`stats`, a per-CPU array indexed by
//! `LOUPE_STAT_*` of `loupe.h`), summed over CPUs.

/// One kernel counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stat {
    /// Records the ring buffer had no room for (dropped in the kernel).
    RingBufferDrops,
    /// Payload bytes in those records.
    RingBufferDropBytes,
    /// Records written.
    Events,
    /// Payload bytes written.
    PayloadBytes,
    /// Bytes past the per-syscall capture cap (sent as gaps of known length).
    CapBytes,
    /// Bytes user memory could not be read for (sent as gaps).
    ReadFaultBytes,
    /// Connections first seen.
    ConnOpened,
    /// `close()` of a traced socket.
    ConnClosed,
    /// TCP sockets that reached ESTABLISHED (`sock:inet_sock_set_state`).
    TcpEstablished,
    /// TCP sockets that reached CLOSE.
    TcpClosed,
    /// Syscall exits without a saved entry.
    ArgsLost,
    /// sendmmsg/recvmmsg messages past the per-syscall limit, not looked at.
    MmsgSkipped,
    /// Bytes of connections user space marked not traced: counted, not copied.
    UntracedBytes,
    /// Segments retransmitted by traced connections (`tcp:tcp_retransmit_skb`).
    TcpRetransmits,
    /// RSTs sent or received by traced connections.
    TcpResets,
    /// Retransmits and resets of sockets no traced process owns.
    TcpUnowned,
}

impl Stat {
    pub const ALL: [Stat; 16] = [
        Stat::RingBufferDrops,
        Stat::RingBufferDropBytes,
        Stat::Events,
        Stat::PayloadBytes,
        Stat::CapBytes,
        Stat::ReadFaultBytes,
        Stat::ConnOpened,
        Stat::ConnClosed,
        Stat::TcpEstablished,
        Stat::TcpClosed,
        Stat::ArgsLost,
        Stat::MmsgSkipped,
        Stat::UntracedBytes,
        Stat::TcpRetransmits,
        Stat::TcpResets,
        Stat::TcpUnowned,
    ];

    /// Index in the kernel map (`LOUPE_STAT_*`).
    pub fn index(self) -> u32 {
        self as u32
    }

    /// Metric name.
    pub fn name(self) -> &'static str {
        match self {
            Stat::RingBufferDrops => "loupe_capture_ringbuf_dropped_events_total",
            Stat::RingBufferDropBytes => "loupe_capture_ringbuf_dropped_bytes_total",
            Stat::Events => "loupe_capture_events_total",
            Stat::PayloadBytes => "loupe_capture_payload_bytes_total",
            Stat::CapBytes => "loupe_capture_capped_bytes_total",
            Stat::ReadFaultBytes => "loupe_capture_read_fault_bytes_total",
            Stat::ConnOpened => "loupe_capture_connections_opened_total",
            Stat::ConnClosed => "loupe_capture_connections_closed_total",
            Stat::TcpEstablished => "loupe_capture_tcp_established_total",
            Stat::TcpClosed => "loupe_capture_tcp_closed_total",
            Stat::ArgsLost => "loupe_capture_args_lost_total",
            Stat::MmsgSkipped => "loupe_capture_mmsg_skipped_messages_total",
            Stat::UntracedBytes => "loupe_capture_untraced_bytes_total",
            Stat::TcpRetransmits => "loupe_capture_tcp_retransmits_total",
            Stat::TcpResets => "loupe_capture_tcp_resets_total",
            Stat::TcpUnowned => "loupe_capture_tcp_unowned_events_total",
        }
    }
}

/// A reading of every kernel counter, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub values: Vec<(Stat, u64)>,
}

impl KernelStats {
    pub fn get(&self, s: Stat) -> u64 {
        self.values
            .iter()
            .find(|(k, _)| *k == s)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    }
}
