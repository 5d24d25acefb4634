//! Capture: a dedicated thread drains the kernel ring buffer into batches
//! (one contiguous payload buffer per batch, no allocation per record) and
//! hands them to Reassembly with `try_send`; a full mailbox is a counted drop.
//! It also samples the kernel counters and logs new kernel drops.

use actix::prelude::*;
use loupe_bpf::{Capture, ConnEvent, DataEventHeader, Event, KernelStats, Stat};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::counters::{Counter, Counters};

/// One record of a batch; data payloads live in [`EventBatch::payload`].
#[derive(Clone, Copy, Debug)]
pub enum Record {
    Data {
        hdr: DataEventHeader,
        start: u32,
    },
    Open(ConnEvent),
    Close(ConnEvent),
    /// A retransmit or reset of a connection already closed.
    Tcp(loupe_bpf::TcpEvent),
}

/// Records drained from the ring buffer, in ring order.
#[derive(Message, Default)]
#[rtype(result = "()")]
pub struct EventBatch {
    pub records: Vec<Record>,
    pub payload: Vec<u8>,
}

impl EventBatch {
    pub fn payload_of(&self, hdr: &DataEventHeader, start: u32) -> &[u8] {
        let s = start as usize;
        self.payload.get(s..s + hdr.len as usize).unwrap_or(&[])
    }

    pub fn push(&mut self, ev: Event<'_>) {
        match ev {
            Event::Data { hdr, payload } => {
                let start = self.payload.len() as u32;
                self.payload.extend_from_slice(payload);
                self.records.push(Record::Data { hdr, start });
            }
            Event::Open(c) => self.records.push(Record::Open(c)),
            Event::Close(c) => self.records.push(Record::Close(c)),
            Event::Tcp(t) => self.records.push(Record::Tcp(t)),
        }
    }
}

/// What the capture thread shares with the rest of the agent.
#[derive(Default)]
pub struct CaptureShared {
    pub kernel: Mutex<KernelStats>,
}

/// Batch limits of the capture thread.
#[derive(Clone, Debug)]
pub struct CaptureLoopConfig {
    pub max_records: usize,
    pub max_payload: usize,
    pub max_delay: Duration,
    pub poll_ms: i32,
}

impl Default for CaptureLoopConfig {
    fn default() -> Self {
        CaptureLoopConfig {
            max_records: 4096,
            max_payload: 4 << 20,
            max_delay: Duration::from_millis(5),
            poll_ms: 5,
        }
    }
}

/// Runs the capture loop on its own thread until `stop` is set.
pub fn spawn(
    mut cap: Capture,
    sink: Recipient<EventBatch>,
    counters: Arc<Counters>,
    shared: Arc<CaptureShared>,
    cfg: CaptureLoopConfig,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("loupe-capture".into())
        .spawn(move || {
            let mut batch = EventBatch::default();
            let mut started = Instant::now();
            let mut last_stats = Instant::now();
            let mut last_drops = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                cap.wait(cfg.poll_ms);
                let mut malformed = 0u64;
                let n = cap.drain(|bytes| match loupe_bpf::decode(bytes) {
                    Ok(ev) => batch.push(ev),
                    Err(_) => malformed += 1,
                });
                counters.add(Counter::CaptureRecordsRead, n as u64);
                counters.add(Counter::CaptureRecordsMalformed, malformed);
                if batch.records.is_empty() {
                    started = Instant::now();
                } else if batch.records.len() >= cfg.max_records
                    || batch.payload.len() >= cfg.max_payload
                    || started.elapsed() >= cfg.max_delay
                {
                    let full = std::mem::take(&mut batch);
                    let count = full.records.len() as u64;
                    if sink.try_send(full).is_err() {
                        counters.add(Counter::CaptureRecordsDroppedMailboxFull, count);
                        tracing::error!(records = count, "reassembly is behind: dropped a batch of capture records");
                    }
                    started = Instant::now();
                }
                if last_stats.elapsed() >= Duration::from_secs(1) {
                    last_stats = Instant::now();
                    if let Ok(k) = cap.stats() {
                        let drops = k.get(Stat::RingBufferDrops);
                        if drops > last_drops {
                            tracing::warn!(
                                dropped = drops - last_drops,
                                total = drops,
                                "ring buffer full: the kernel dropped records (counted, shown as gaps)"
                            );
                            last_drops = drops;
                        }
                        if let Ok(mut g) = shared.kernel.lock() {
                            *g = k;
                        }
                    }
                }
            }
        })
        .expect("spawn capture thread")
}
