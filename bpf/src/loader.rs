//! Loads the embedded kernel programs with aya, attaches every tracepoint it
//! can, and hands out the ring buffer and the counters.

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::TracePoint;
use aya::{Ebpf, EbpfLoader};
use std::os::fd::AsRawFd;

use crate::stats::{KernelStats, Stat};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/socket_trace.bpf.o"));

/// Every program in `socket_trace.bpf.c` and the tracepoint it attaches to.
pub const PROBES: &[(&str, &str, &str)] = &[
    ("enter_read", "syscalls", "sys_enter_read"),
    ("exit_read", "syscalls", "sys_exit_read"),
    ("enter_write", "syscalls", "sys_enter_write"),
    ("exit_write", "syscalls", "sys_exit_write"),
    ("enter_readv", "syscalls", "sys_enter_readv"),
    ("exit_readv", "syscalls", "sys_exit_readv"),
    ("enter_writev", "syscalls", "sys_enter_writev"),
    ("exit_writev", "syscalls", "sys_exit_writev"),
    ("enter_recvfrom", "syscalls", "sys_enter_recvfrom"),
    ("exit_recvfrom", "syscalls", "sys_exit_recvfrom"),
    ("enter_sendto", "syscalls", "sys_enter_sendto"),
    ("exit_sendto", "syscalls", "sys_exit_sendto"),
    ("enter_recvmsg", "syscalls", "sys_enter_recvmsg"),
    ("exit_recvmsg", "syscalls", "sys_exit_recvmsg"),
    ("enter_sendmsg", "syscalls", "sys_enter_sendmsg"),
    ("exit_sendmsg", "syscalls", "sys_exit_sendmsg"),
    ("enter_recvmmsg", "syscalls", "sys_enter_recvmmsg"),
    ("exit_recvmmsg", "syscalls", "sys_exit_recvmmsg"),
    ("enter_sendmmsg", "syscalls", "sys_enter_sendmmsg"),
    ("exit_sendmmsg", "syscalls", "sys_exit_sendmmsg"),
    ("enter_sendfile64", "syscalls", "sys_enter_sendfile64"),
    ("exit_sendfile64", "syscalls", "sys_exit_sendfile64"),
    ("enter_connect", "syscalls", "sys_enter_connect"),
    ("exit_connect", "syscalls", "sys_exit_connect"),
    ("exit_accept", "syscalls", "sys_exit_accept"),
    ("exit_accept4", "syscalls", "sys_exit_accept4"),
    ("enter_close", "syscalls", "sys_enter_close"),
    ("sock_set_state", "sock", "inet_sock_set_state"),
    ("tcp_retransmit", "tcp", "tcp_retransmit_skb"),
    ("tcp_send_reset", "tcp", "tcp_send_reset"),
    ("tcp_receive_reset", "tcp", "tcp_receive_reset"),
];

/// How to load the programs.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// Payload bytes captured per syscall; the rest is a gap of known length.
    pub payload_cap: u32,
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ring_bytes: u32,
    /// The kernel wakes the reader once this many bytes wait.
    pub wakeup_bytes: u64,
    /// Process excluded from capture (the agent itself).
    pub exclude_tgid: u32,
    /// Observe only processes of the network namespaces with these inodes
    /// (`stat -L /run/netns/NAME`); empty observes every namespace.
    pub netns: Vec<u32>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            payload_cap: 16 * 1024,
            ring_bytes: 64 << 20,
            wakeup_bytes: 256 * 1024,
            exclude_tgid: std::process::id(),
            netns: Vec::new(),
        }
    }
}

/// Whether one program attached.
#[derive(Clone, Debug)]
pub struct ProbeStatus {
    pub program: &'static str,
    pub tracepoint: String,
    pub error: Option<String>,
}

/// Why loading failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("preparing the host: {0}")]
    Host(String),
    #[error("loading the eBPF object: {0}")]
    Load(#[source] aya::EbpfError),
    #[error("map `{0}` missing from the eBPF object")]
    MissingMap(&'static str),
    #[error("map `{name}`: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("no probe attached; first error: {0}")]
    NothingAttached(String),
}

/// The loaded, attached capture programs.
pub struct Capture {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    probes: Vec<ProbeStatus>,
}

impl Capture {
    /// Mounts tracefs/bpffs if needed, loads and attaches. A probe that fails
    /// to load or attach is recorded in [`Capture::probes`]; loading fails only
    /// when none attached.
    pub fn load(cfg: &CaptureConfig) -> Result<Self, LoadError> {
        crate::sys::prepare_host().map_err(LoadError::Host)?;
        let ring = cfg.ring_bytes.next_power_of_two().max(1 << 16);
        let netns_filtered = u32::from(!cfg.netns.is_empty());
        let mut ebpf = EbpfLoader::new()
            // Task storage (the syscall-argument slots) is kernel-only; aya has no
            // user-space wrapper for it and need not.
            .allow_unsupported_maps()
            .override_global("agent_tgid", &cfg.exclude_tgid, true)
            .override_global("payload_cap", &cfg.payload_cap, true)
            .override_global("netns_filtered", &netns_filtered, true)
            .override_global("wakeup_bytes", &cfg.wakeup_bytes, true)
            .map_max_entries("events", ring)
            .load(OBJECT)
            .map_err(LoadError::Load)?;
        if !cfg.netns.is_empty() {
            // Before any program runs: a filtered agent never sees another node's bytes.
            let map = ebpf
                .map_mut("netns_filter")
                .ok_or(LoadError::MissingMap("netns_filter"))?;
            let mut filter: BpfHashMap<&mut MapData, u32, u8> =
                BpfHashMap::try_from(map).map_err(|source| LoadError::Map {
                    name: "netns_filter",
                    source,
                })?;
            for ino in &cfg.netns {
                filter.insert(ino, 1, 0).map_err(|source| LoadError::Map {
                    name: "netns_filter",
                    source,
                })?;
            }
        }
        let mut probes = Vec::with_capacity(PROBES.len());
        for &(name, category, tp) in PROBES {
            let error = attach(&mut ebpf, name, category, tp).err();
            if let Some(e) = &error {
                tracing::warn!(program = name, tracepoint = %format!("{category}:{tp}"), error = %e, "probe not attached");
            }
            probes.push(ProbeStatus {
                program: name,
                tracepoint: format!("{category}:{tp}"),
                error,
            });
        }
        if probes.iter().all(|p| p.error.is_some()) {
            return Err(LoadError::NothingAttached(
                probes[0].error.clone().unwrap_or_default(),
            ));
        }
        let map = ebpf
            .take_map("events")
            .ok_or(LoadError::MissingMap("events"))?;
        let ring = RingBuf::try_from(map).map_err(|source| LoadError::Map {
            name: "events",
            source,
        })?;
        Ok(Capture { ebpf, ring, probes })
    }

    pub fn probes(&self) -> &[ProbeStatus] {
        &self.probes
    }

    /// Waits up to `timeout_ms` for the ring buffer to have data.
    pub fn wait(&self, timeout_ms: i32) {
        let mut pfd = libc::pollfd {
            fd: self.ring.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid pollfd array of length 1 for the call's duration.
        unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    }

    /// Calls `f` on every record waiting in the ring buffer; returns how many.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        while let Some(item) = self.ring.next() {
            f(&item);
            n += 1;
        }
        n
    }

    /// The handle user space marks connections "not traced" with (the
    /// `untraced` map). It can be taken once; it is `Send`, for the thread
    /// that decides protocols.
    pub fn take_untrace(&mut self) -> Result<Untrace, LoadError> {
        let map = self
            .ebpf
            .take_map("untraced")
            .ok_or(LoadError::MissingMap("untraced"))?;
        let map = BpfHashMap::try_from(map).map_err(|source| LoadError::Map {
            name: "untraced",
            source,
        })?;
        Ok(Untrace { map })
    }

    /// The kernel counters, summed over CPUs.
    /// The `conns` map, for sampling every connection's counters.
    pub fn take_conns(&mut self) -> Result<ConnTable, LoadError> {
        let map = self
            .ebpf
            .take_map("conns")
            .ok_or(LoadError::MissingMap("conns"))?;
        ConnTable::new(map)
    }

    pub fn stats(&self) -> Result<KernelStats, LoadError> {
        let map = self
            .ebpf
            .map("stats")
            .ok_or(LoadError::MissingMap("stats"))?;
        let arr: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(|source| LoadError::Map {
                name: "stats",
                source,
            })?;
        let mut values = Vec::with_capacity(Stat::ALL.len());
        for s in Stat::ALL {
            let v = arr.get(&s.index(), 0).map_err(|source| LoadError::Map {
                name: "stats",
                source,
            })?;
            values.push((s, v.iter().sum()));
        }
        Ok(KernelStats { values })
    }
}

fn attach(ebpf: &mut Ebpf, name: &str, category: &str, tp: &str) -> Result<(), String> {
    let prog: &mut TracePoint = ebpf
        .program_mut(name)
        .ok_or_else(|| format!("program {name} missing from the object"))?
        .try_into()
        .map_err(|e| format!("{e}"))?;
    prog.load()
        .map_err(|e| format!("load: {}", error_chain(&e)))?;
    prog.attach(category, tp)
        .map_err(|e| format!("attach: {}", error_chain(&e)))?;
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

use crate::events::{ConnMapKey, ConnMapValue};

// SAFETY: two `u32`s, `repr(C)`, no padding: every bit pattern is valid.
unsafe impl aya::Pod for ConnMapKey {}

/// Marks connections whose protocol is not traced, so the kernel stops
/// copying their bytes (it counts them: `loupe_capture_untraced_bytes_total`).
pub struct Untrace {
    map: BpfHashMap<MapData, ConnMapKey, u32>,
}

impl Untrace {
    /// Generation `generation` of (tgid, fd) carries nothing traced. A later
    /// socket on the same fd has another generation and is traced again.
    pub fn mark(&mut self, tgid: u32, fd: u32, generation: u32) -> Result<(), String> {
        self.map
            .insert(ConnMapKey { tgid, fd }, generation, 0)
            .map_err(|e| e.to_string())
    }
}

/// Reads the kernel's `conns` map: every open connection's byte offsets,
/// retransmits and resets, in batches (`BPF_MAP_LOOKUP_BATCH`: a few
/// syscalls for ten thousand connections, not two per entry).
pub struct ConnTable {
    map: aya::maps::Map,
    keys: Vec<ConnMapKey>,
    values: Vec<ConnMapValue>,
}

/// Entries asked for per batch syscall.
const BATCH: usize = 4096;

impl ConnTable {
    fn new(map: aya::maps::Map) -> Result<Self, LoadError> {
        Ok(ConnTable {
            map,
            keys: vec![ConnMapKey::default(); BATCH],
            values: vec![ConnMapValue::default(); BATCH],
        })
    }

    /// Calls `f` for every entry; returns how many there were.
    pub fn read(&mut self, mut f: impl FnMut(ConnMapKey, &ConnMapValue)) -> Result<usize, String> {
        let data = match &self.map {
            aya::maps::Map::LruHashMap(d) | aya::maps::Map::HashMap(d) => d,
            _ => return Err("conns is not a hash map".into()),
        };
        let fd = {
            use std::os::fd::{AsFd, AsRawFd};
            data.fd().as_fd().as_raw_fd()
        };
        let mut total = 0;
        // The batch token of hash maps is a bucket index (u32); room for 8.
        let mut in_batch = [0u8; 8];
        let mut out_batch = [0u8; 8];
        let mut first = true;
        loop {
            let (count, done) = crate::sys::map_lookup_batch(
                fd,
                if first { None } else { Some(&in_batch) },
                &mut out_batch,
                &mut self.keys,
                &mut self.values,
            )?;
            first = false;
            for i in 0..count.min(self.keys.len()) {
                f(self.keys[i], &self.values[i]);
            }
            total += count;
            if done {
                return Ok(total);
            }
            in_batch = out_batch;
        }
    }
}
