//! Rust mirror of `loupe.h`: the records the kernel programs write to the
//! `events` ring buffer. `tests::layout_matches_c` checks every size and
//! offset against the C header (through `layout.c`, run by build.rs).

/// Payload bytes per ring-buffer record (`LOUPE_CHUNK`).
pub const CHUNK: usize = 4096;
/// Most records one syscall can carry payload in (`LOUPE_MAX_CHUNKS`).
pub const MAX_CHUNKS: usize = 16;

pub const EV_DATA: u32 = 1;
pub const EV_OPEN: u32 = 2;
pub const EV_CLOSE: u32 = 3;
pub const EV_TCP: u32 = 4;

/// `loupe_tcp_event.what`.
pub const TCP_RETRANS: u32 = 1;
pub const TCP_RST_SENT: u32 = 2;
pub const TCP_RST_RECV: u32 = 3;

/// `LOUPE_FLAG_MSG_END`: see [`DataEventHeader::msg_end`].
pub const FLAG_MSG_END: u16 = 1;

/// Direction of a data record, seen from the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The process sent these bytes.
    Egress,
    /// The process received these bytes.
    Ingress,
}

/// How the connection was first seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Unknown,
    /// `connect()`.
    Client,
    /// `accept()`/`accept4()`.
    Server,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    pub kind: u32,
    pub tgid: u32,
    pub fd: u32,
    pub generation: u32,
    pub ts_ns: u64,
}

/// Fixed part of `struct loupe_data_event`; `len` payload bytes follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DataEventHeader {
    pub h: EventHeader,
    pub offset: u64,
    pub len: u32,
    pub gap_after: u32,
    pub direction: u32,
    pub source: u16,
    /// `FLAG_*`.
    pub flags: u16,
}

impl DataEventHeader {
    /// The last record of one syscall's bytes (one message of sendmmsg or
    /// recvmmsg): on a UDP socket, the end of a datagram.
    pub fn msg_end(&self) -> bool {
        self.flags & FLAG_MSG_END != 0
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnEvent {
    pub h: EventHeader,
    pub role: u32,
    pub family: u16,
    pub protocol: u16,
    pub local_port: u16,
    pub remote_port: u16,
    pub _pad: u32,
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    /// TCP segments retransmitted and RSTs sent and received (on close).
    pub retransmits: u64,
    pub resets_sent: u32,
    pub resets_received: u32,
    /// Start of the process (thread-group leader), ns since boot.
    pub start_boottime_ns: u64,
    /// The process's `comm`, NUL-padded.
    pub comm: [u8; 16],
}

/// A retransmit or reset of a connection its process already closed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpEvent {
    pub h: EventHeader,
    /// `TCP_*`.
    pub what: u32,
    /// Segments (retransmits) or 1.
    pub count: u32,
}

/// Key of the kernel's `conns` map (`struct loupe_conn_key`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnMapKey {
    pub tgid: u32,
    pub fd: u32,
}

/// Value of the kernel's `conns` map (`struct loupe_conn_state`): one
/// connection's cumulative counters, read every sample.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnMapValue {
    pub sk: u64,
    pub file: u64,
    pub send_off: u64,
    pub recv_off: u64,
    pub retransmits: u64,
    pub resets_sent: u32,
    pub resets_received: u32,
    pub generation: u32,
    pub role: u32,
}

/// One record of the ring buffer, borrowed from it.
#[derive(Debug)]
pub enum Event<'a> {
    Data {
        hdr: DataEventHeader,
        payload: &'a [u8],
    },
    Open(ConnEvent),
    Close(ConnEvent),
    Tcp(TcpEvent),
}

/// Why a ring-buffer record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("record kind {0} is unknown")]
    UnknownKind(u32),
    #[error("data record says {len} payload bytes but carries {have}")]
    BadLength { len: u32, have: usize },
}

impl Direction {
    pub fn from_raw(v: u32) -> Self {
        if v == 0 {
            Direction::Egress
        } else {
            Direction::Ingress
        }
    }
}

impl Role {
    pub fn from_raw(v: u32) -> Self {
        match v {
            1 => Role::Client,
            2 => Role::Server,
            _ => Role::Unknown,
        }
    }
}

impl ConnEvent {
    /// `comm` as text.
    pub fn comm(&self) -> String {
        let end = self
            .comm
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.comm.len());
        String::from_utf8_lossy(&self.comm[..end]).into_owned()
    }

    /// Start time in clock ticks since boot, as `/proc/PID/stat` reports it
    /// (USER_HZ is 100 on Linux).
    pub fn start_ticks(&self) -> u64 {
        self.start_boottime_ns / 10_000_000
    }

    /// Local and remote socket addresses.
    pub fn addrs(&self) -> (std::net::SocketAddr, std::net::SocketAddr) {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
        let ip = |a: &[u8; 16]| -> IpAddr {
            if self.family == libc::AF_INET6 as u16 {
                IpAddr::V6(Ipv6Addr::from(*a))
            } else {
                IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
            }
        };
        (
            SocketAddr::new(ip(&self.local_addr), self.local_port),
            SocketAddr::new(ip(&self.remote_addr), self.remote_port),
        )
    }
}

/// Reads a `T` from the start of `bytes` (unaligned).
fn read_pod<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the length was checked above, `T` is a `repr(C)` plain-old-data
    // struct of integers (every bit pattern valid), and `read_unaligned`
    // places no alignment demand on the source.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Event<'_>, DecodeError> {
    let h: EventHeader = read_pod(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    match h.kind {
        EV_DATA => {
            let hdr: DataEventHeader = read_pod(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            let start = size_of::<DataEventHeader>();
            let end = start + hdr.len as usize;
            let payload = bytes.get(start..end).ok_or(DecodeError::BadLength {
                len: hdr.len,
                have: bytes.len().saturating_sub(start),
            })?;
            Ok(Event::Data { hdr, payload })
        }
        EV_OPEN | EV_CLOSE => {
            let c: ConnEvent = read_pod(bytes).ok_or(DecodeError::Short(bytes.len()))?;
            Ok(if h.kind == EV_OPEN {
                Event::Open(c)
            } else {
                Event::Close(c)
            })
        }
        EV_TCP => Ok(Event::Tcp(
            read_pod(bytes).ok_or(DecodeError::Short(bytes.len()))?,
        )),
        k => Err(DecodeError::UnknownKind(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    include!(concat!(env!("OUT_DIR"), "/layout.rs"));

    fn c(name: &str) -> usize {
        C_LAYOUT
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} missing from layout.c"))
            .1
    }

    #[test]
    fn layout_matches_c() {
        assert_eq!(size_of::<EventHeader>(), c("loupe_event_header.size"));
        assert_eq!(offset_of!(EventHeader, kind), c("loupe_event_header.kind"));
        assert_eq!(offset_of!(EventHeader, tgid), c("loupe_event_header.tgid"));
        assert_eq!(offset_of!(EventHeader, fd), c("loupe_event_header.fd"));
        assert_eq!(
            offset_of!(EventHeader, generation),
            c("loupe_event_header.generation")
        );
        assert_eq!(
            offset_of!(EventHeader, ts_ns),
            c("loupe_event_header.ts_ns")
        );

        assert_eq!(
            size_of::<DataEventHeader>() + CHUNK,
            c("loupe_data_event.size")
        );
        assert_eq!(offset_of!(DataEventHeader, h), c("loupe_data_event.h"));
        assert_eq!(
            offset_of!(DataEventHeader, offset),
            c("loupe_data_event.offset")
        );
        assert_eq!(offset_of!(DataEventHeader, len), c("loupe_data_event.len"));
        assert_eq!(
            offset_of!(DataEventHeader, gap_after),
            c("loupe_data_event.gap_after")
        );
        assert_eq!(
            offset_of!(DataEventHeader, direction),
            c("loupe_data_event.direction")
        );
        assert_eq!(
            offset_of!(DataEventHeader, source),
            c("loupe_data_event.source")
        );
        assert_eq!(
            offset_of!(DataEventHeader, flags),
            c("loupe_data_event.flags")
        );
        assert_eq!(FLAG_MSG_END as usize, c("LOUPE_FLAG_MSG_END"));
        assert_eq!(size_of::<DataEventHeader>(), c("loupe_data_event.payload"));

        assert_eq!(size_of::<ConnEvent>(), c("loupe_conn_event.size"));
        assert_eq!(offset_of!(ConnEvent, h), c("loupe_conn_event.h"));
        assert_eq!(offset_of!(ConnEvent, role), c("loupe_conn_event.role"));
        assert_eq!(offset_of!(ConnEvent, family), c("loupe_conn_event.family"));
        assert_eq!(
            offset_of!(ConnEvent, protocol),
            c("loupe_conn_event.protocol")
        );
        assert_eq!(
            offset_of!(ConnEvent, local_port),
            c("loupe_conn_event.local_port")
        );
        assert_eq!(
            offset_of!(ConnEvent, remote_port),
            c("loupe_conn_event.remote_port")
        );
        assert_eq!(
            offset_of!(ConnEvent, local_addr),
            c("loupe_conn_event.local_addr")
        );
        assert_eq!(
            offset_of!(ConnEvent, remote_addr),
            c("loupe_conn_event.remote_addr")
        );
        assert_eq!(
            offset_of!(ConnEvent, bytes_sent),
            c("loupe_conn_event.bytes_sent")
        );
        assert_eq!(
            offset_of!(ConnEvent, bytes_recv),
            c("loupe_conn_event.bytes_recv")
        );
        assert_eq!(
            offset_of!(ConnEvent, start_boottime_ns),
            c("loupe_conn_event.start_boottime_ns")
        );
        assert_eq!(offset_of!(ConnEvent, comm), c("loupe_conn_event.comm"));
        assert_eq!(
            offset_of!(ConnEvent, retransmits),
            c("loupe_conn_event.retransmits")
        );
        assert_eq!(
            offset_of!(ConnEvent, resets_sent),
            c("loupe_conn_event.resets_sent")
        );
        assert_eq!(
            offset_of!(ConnEvent, resets_received),
            c("loupe_conn_event.resets_received")
        );
        assert_eq!(size_of::<TcpEvent>(), c("loupe_tcp_event.size"));
        assert_eq!(offset_of!(TcpEvent, what), c("loupe_tcp_event.what"));
        assert_eq!(offset_of!(TcpEvent, count), c("loupe_tcp_event.count"));
        assert_eq!(size_of::<ConnMapKey>(), c("loupe_conn_key.size"));
        assert_eq!(size_of::<ConnMapValue>(), c("loupe_conn_state.size"));
        assert_eq!(offset_of!(ConnMapValue, sk), c("loupe_conn_state.sk"));
        assert_eq!(
            offset_of!(ConnMapValue, send_off),
            c("loupe_conn_state.send_off")
        );
        assert_eq!(
            offset_of!(ConnMapValue, recv_off),
            c("loupe_conn_state.recv_off")
        );
        assert_eq!(
            offset_of!(ConnMapValue, retransmits),
            c("loupe_conn_state.retransmits")
        );
        assert_eq!(
            offset_of!(ConnMapValue, resets_sent),
            c("loupe_conn_state.resets_sent")
        );
        assert_eq!(
            offset_of!(ConnMapValue, resets_received),
            c("loupe_conn_state.resets_received")
        );
        assert_eq!(
            offset_of!(ConnMapValue, generation),
            c("loupe_conn_state.generation")
        );
        assert_eq!(offset_of!(ConnMapValue, role), c("loupe_conn_state.role"));

        assert_eq!(CHUNK, c("LOUPE_CHUNK"));
        use crate::stats::Stat;
        assert!(Stat::ALL.len() <= c("LOUPE_STAT_COUNT"));
        // The Rust indices are the C ones (spot checks at both ends and the middle).
        assert_eq!(
            Stat::RingBufferDrops.index() as usize,
            c("LOUPE_STAT_RB_DROPS")
        );
        assert_eq!(Stat::TcpClosed.index() as usize, c("LOUPE_STAT_TCP_CLOSED"));
        assert_eq!(Stat::ArgsLost.index() as usize, c("LOUPE_STAT_ARGS_LOST"));
        assert_eq!(
            Stat::MmsgSkipped.index() as usize,
            c("LOUPE_STAT_MMSG_SKIPPED")
        );
        assert_eq!(
            Stat::UntracedBytes.index() as usize,
            c("LOUPE_STAT_UNTRACED_BYTES")
        );
    }

    #[test]
    fn decode_rejects_short_and_unknown() {
        assert_eq!(decode(&[0u8; 3]).unwrap_err(), DecodeError::Short(3));
        let mut b = vec![0u8; 64];
        b[0] = 9;
        assert_eq!(decode(&b).unwrap_err(), DecodeError::UnknownKind(9));
        let mut d = vec![0u8; size_of::<DataEventHeader>() + 2];
        d[0] = EV_DATA as u8;
        d[offset_of!(DataEventHeader, len)] = 5;
        assert!(matches!(
            decode(&d).unwrap_err(),
            DecodeError::BadLength { len: 5, have: 2 }
        ));
        d[offset_of!(DataEventHeader, len)] = 2;
        match decode(&d).unwrap() {
            Event::Data { payload, .. } => assert_eq!(payload.len(), 2),
            e => panic!("{e:?}"),
        }
    }
}
