//! Stage taps: each stage boundary of the agent has a NATS subject
//! (`loupe.v1.node.<node>.tap.<stage>`) that a tool (`loupe tap`) or a
//! query can read. A stage publishes there only while a tap is held: a
//! holder asks the node (request-reply on `...tap.hold`) and renews before
//! its lease lapses; with no holder a stage costs one bit test per batch.
//!
//! What each stage shows, in batches (one frame per batch the stage
//! handled), never payload bytes (they may hold secrets):
//! - `capture`: the kernel's records as Reassembly received them: kind,
//!   process, fd, direction, kernel time, length, source.
//! - `reassembly`: the ordered pieces each connection's parser is fed
//!   (data of a length, or a gap), and protocol verdicts.
//! - `records`: records parsed per connection, as they become rows.
//! - `rows`: the row batches sealed into the store (Arrow IPC; already
//!   redacted, as stored).
//!
//! Frames go to the publisher through a bounded queue; a full queue drops
//! the frame and counts it, so a slow NATS never slows a stage.

use loupe_topology::metrics::Metric;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::clock::wall_now_ns;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Capture,
    Reassembly,
    Records,
    Rows,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Capture,
        Stage::Reassembly,
        Stage::Records,
        Stage::Rows,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Capture => "capture",
            Stage::Reassembly => "reassembly",
            Stage::Records => "records",
            Stage::Rows => "rows",
        }
    }

    pub fn parse(s: &str) -> Result<Stage, String> {
        Stage::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                format!(
                    "no stage {s:?}: the stages are {}",
                    Stage::ALL.map(Stage::name).join(", ")
                )
            })
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The stages held at one moment, as bits: read once per batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held(u8);

impl Held {
    pub fn has(self, s: Stage) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn any(self) -> bool {
        self.0 != 0
    }
}

/// One batch of one stage.
#[derive(Debug)]
pub struct Frame {
    pub stage: Stage,
    /// One JSON object per line (capture, reassembly, records).
    pub lines: Vec<String>,
    /// Arrow IPC stream of a sealed batch (rows), with its table.
    pub ipc: Option<(String, Vec<u8>)>,
}

/// Most frames waiting for the publisher.
const QUEUE: usize = 256;

pub struct Taps {
    held_until: [AtomicI64; 4],
    frames: [AtomicU64; 4],
    dropped: [AtomicU64; 4],
    tx: tokio::sync::mpsc::Sender<Frame>,
    rx: Mutex<Option<tokio::sync::mpsc::Receiver<Frame>>>,
}

impl Default for Taps {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        Taps {
            held_until: Default::default(),
            frames: Default::default(),
            dropped: Default::default(),
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl Taps {
    /// The stages held now.
    pub fn held(&self) -> Held {
        let now = wall_now_ns();
        let mut bits = 0;
        for s in Stage::ALL {
            if self.held_until[s as usize].load(Ordering::Relaxed) > now {
                bits |= s.bit();
            }
        }
        Held(bits)
    }

    /// Holds `stage` until `until_ns` (extends, never shortens).
    pub fn hold(&self, stage: Stage, until_ns: i64) {
        self.held_until[stage as usize].fetch_max(until_ns, Ordering::Relaxed);
    }

    /// Queues a frame for publishing; drops and counts it when the queue is
    /// full.
    pub fn send(&self, frame: Frame) {
        let i = frame.stage as usize;
        match self.tx.try_send(frame) {
            Ok(()) => self.frames[i].fetch_add(1, Ordering::Relaxed),
            Err(_) => self.dropped[i].fetch_add(1, Ordering::Relaxed),
        };
    }

    /// A frame of `stage` that could not be published: counted as dropped.
    pub fn lost(&self, stage: Stage) {
        self.dropped[stage as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Frames of `stage` dropped so far (the queue was full, or NATS took
    /// no more).
    pub fn dropped(&self, stage: Stage) -> u64 {
        self.dropped[stage as usize].load(Ordering::Relaxed)
    }

    /// The publisher's end of the queue (once).
    pub fn take_receiver(&self) -> Option<tokio::sync::mpsc::Receiver<Frame>> {
        self.rx.lock().ok().and_then(|mut r| r.take())
    }

    /// (name, value) of the tap counters, for the node's status.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for s in Stage::ALL {
            let i = s as usize;
            out.push((
                Metric::TapFrames.sample(&[s.name()]),
                self.frames[i].load(Ordering::Relaxed),
            ));
            out.push((
                Metric::TapFramesDropped.sample(&[s.name()]),
                self.dropped[i].load(Ordering::Relaxed),
            ));
        }
        out
    }
}

/// A frame's lines in pieces of at most `limit` bytes each (a NATS message
/// has a size limit; one batch of capture records can exceed it). A line
/// longer than `limit` is a piece by itself.
pub fn split_lines(lines: Vec<String>, limit: usize) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut size = 0usize;
    for l in lines {
        // Each line also costs its length prefix in the encoding.
        let n = l.len() + 8;
        match out.last_mut() {
            Some(piece) if size + n <= limit => piece.push(l),
            _ => {
                out.push(vec![l]);
                size = 0;
            }
        }
        size += n;
    }
    out
}

/// Lines of a stage being collected while one batch is handled.
#[derive(Default)]
pub struct Lines {
    pub held: Held,
    pub by_stage: [Vec<String>; 4],
}

impl Lines {
    pub fn on(&self, s: Stage) -> bool {
        self.held.has(s)
    }

    pub fn push(&mut self, s: Stage, line: String) {
        self.by_stage[s as usize].push(line);
    }

    /// Sends each stage's lines as one frame.
    pub fn flush(&mut self, taps: &Taps) {
        for s in Stage::ALL {
            let lines = std::mem::take(&mut self.by_stage[s as usize]);
            if !lines.is_empty() {
                taps.send(Frame {
                    stage: s,
                    lines,
                    ipc: None,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_frames_split_under_the_limit_and_keep_every_line_in_order() {
        let lines: Vec<String> = (0..1000).map(|i| format!("{{\"n\":{i}}}")).collect();
        let pieces = split_lines(lines.clone(), 1024);
        assert!(pieces.len() > 1);
        for p in &pieces {
            assert!(p.iter().map(|l| l.len() + 8).sum::<usize>() <= 1024);
        }
        assert_eq!(pieces.concat(), lines);
        // A line over the limit travels alone.
        let long = "x".repeat(5000);
        let p = split_lines(vec!["a".into(), long.clone(), "b".into()], 1024);
        assert_eq!(
            p,
            vec![vec!["a".to_string()], vec![long], vec!["b".to_string()]]
        );
        assert!(split_lines(Vec::new(), 1024).is_empty());
    }

    #[test]
    fn a_stage_is_held_only_until_its_lease_and_a_full_queue_counts_drops() {
        let t = Taps::default();
        assert!(!t.held().any());
        t.hold(Stage::Rows, wall_now_ns() + 1_000_000_000);
        assert!(t.held().has(Stage::Rows) && !t.held().has(Stage::Capture));
        // A shorter hold does not cut a longer one.
        t.hold(Stage::Rows, wall_now_ns() - 1);
        assert!(t.held().has(Stage::Rows));
        t.hold(Stage::Capture, wall_now_ns() - 1);
        assert!(!t.held().has(Stage::Capture));
        for _ in 0..QUEUE + 10 {
            t.send(Frame {
                stage: Stage::Rows,
                lines: vec!["{}".into()],
                ipc: None,
            });
        }
        let c: std::collections::HashMap<String, u64> = t.counters().into_iter().collect();
        assert_eq!(c["loupe_tap_frames_total{stage=\"rows\"}"], QUEUE as u64);
        assert_eq!(c["loupe_tap_frames_dropped_total{stage=\"rows\"}"], 10);
        t.lost(Stage::Rows);
        assert_eq!(t.dropped(Stage::Rows), 11);
        assert_eq!(Stage::parse("records"), Ok(Stage::Records));
        assert!(
            Stage::parse("bytes")
                .unwrap_err()
                .contains("capture, reassembly")
        );
    }
}
