//! One direction of one connection: chunks in (with their stream offsets),
//! an ordered sequence of data and gaps out.
//!
//! The kernel numbers every byte of a stream, so order and loss are
//! arithmetic: a chunk at the expected offset goes straight through; one
//! ahead of it waits (bounded) for the bytes before it; when those do not
//! come (`flush`, or the bound is hit) the hole becomes a gap of known
//! length. Bytes behind the expected offset were already given up on and are
//! counted as late.

use std::collections::BTreeMap;

/// A piece of the ordered stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Data(&'a [u8]),
    /// This many bytes are missing here.
    Gap(u64),
}

/// Why a gap appeared, for the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Holes between records (records lost or never arriving).
    pub gap_bytes: u64,
    /// Bytes the kernel did not copy (per-syscall cap), announced with length.
    pub capped_bytes: u64,
    /// Bytes that arrived after their hole was declared a gap.
    pub late_bytes: u64,
}

struct Held {
    ts: u64,
    data: Vec<u8>,
    gap_after: u64,
}

/// Orders one stream.
pub struct StreamReassembler {
    next: u64,
    held: BTreeMap<u64, Held>,
    held_bytes: usize,
    max_held_bytes: usize,
    pub stats: StreamStats,
}

impl Default for StreamReassembler {
    fn default() -> Self {
        Self::new(256 * 1024)
    }
}

impl StreamReassembler {
    /// `max_held_bytes` bounds the data waiting for a hole to fill; 0 makes
    /// every hole a gap at once.
    pub fn new(max_held_bytes: usize) -> Self {
        StreamReassembler {
            next: 0,
            held: BTreeMap::new(),
            held_bytes: 0,
            max_held_bytes,
            stats: StreamStats::default(),
        }
    }

    /// Offset of the next byte expected.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// True when a record at `offset` can be delivered as is.
    pub fn in_order(&self, offset: u64) -> bool {
        offset == self.next && self.held.is_empty()
    }

    /// Accounts for an in-order record the caller delivered itself
    /// (see [`Self::in_order`]): `len` bytes, then `gap_after` not copied.
    pub fn advance(&mut self, len: u64, gap_after: u64) {
        self.next += len + gap_after;
        self.stats.capped_bytes += gap_after;
    }

    /// Takes one record: `data` at `offset`, followed by `gap_after` bytes the
    /// kernel did not copy. `out(ts, piece)` receives the ordered stream.
    pub fn push(
        &mut self,
        offset: u64,
        ts: u64,
        data: &[u8],
        gap_after: u64,
        out: &mut impl FnMut(u64, Piece<'_>),
    ) {
        if offset > self.next {
            let held = Held {
                ts,
                data: data.to_vec(),
                gap_after,
            };
            self.held_bytes += held.data.len();
            if let Some(old) = self.held.insert(offset, held) {
                self.held_bytes -= old.data.len();
            }
            if self.max_held_bytes == 0
                || self.held_bytes > self.max_held_bytes
                || self.held.len() > 64
            {
                self.give_up_first(out);
            }
            return;
        }
        self.deliver(offset, ts, data, gap_after, out);
        self.drain(out);
    }

    /// Declares every hole before held data a gap and delivers it all.
    pub fn flush(&mut self, out: &mut impl FnMut(u64, Piece<'_>)) {
        while !self.held.is_empty() {
            self.give_up_first(out);
        }
    }

    fn give_up_first(&mut self, out: &mut impl FnMut(u64, Piece<'_>)) {
        if let Some((&off, h)) = self.held.iter().next()
            && off > self.next
        {
            let hole = off - self.next;
            self.stats.gap_bytes += hole;
            out(h.ts, Piece::Gap(hole));
            self.next = off;
        }
        self.drain(out);
    }

    fn drain(&mut self, out: &mut impl FnMut(u64, Piece<'_>)) {
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            let (off, h) = entry.remove_entry();
            self.held_bytes -= h.data.len();
            self.deliver(off, h.ts, &h.data, h.gap_after, out);
        }
    }

    /// `offset <= next` here: delivers what lies at or past `next`.
    fn deliver(
        &mut self,
        offset: u64,
        ts: u64,
        data: &[u8],
        gap_after: u64,
        out: &mut impl FnMut(u64, Piece<'_>),
    ) {
        let behind = self.next - offset;
        let len = data.len() as u64;
        if behind < len {
            let fresh = &data[behind as usize..];
            out(ts, Piece::Data(fresh));
            self.next += fresh.len() as u64;
            if gap_after > 0 {
                self.stats.capped_bytes += gap_after;
                out(ts, Piece::Gap(gap_after));
                self.next += gap_after;
            }
        } else {
            self.stats.late_bytes += len.min(behind);
            let gap_behind = behind - len;
            if gap_after > gap_behind {
                let rest = gap_after - gap_behind;
                self.stats.capped_bytes += rest;
                out(ts, Piece::Gap(rest));
                self.next += rest;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Out {
        D(Vec<u8>),
        G(u64),
    }

    fn run(r: &mut StreamReassembler, recs: &[(u64, Vec<u8>, u64)], flush: bool) -> Vec<Out> {
        let mut v = Vec::new();
        let mut f = |_ts, p: Piece<'_>| match p {
            Piece::Data(d) => v.push(Out::D(d.to_vec())),
            Piece::Gap(g) => v.push(Out::G(g)),
        };
        for (off, d, gap) in recs {
            r.push(*off, 0, d, *gap, &mut f);
        }
        if flush {
            r.flush(&mut f);
        }
        v
    }

    /// Concatenate data, expanding gaps to zero bytes marked by position.
    fn flatten(v: &[Out]) -> (Vec<u8>, Vec<(usize, u64)>) {
        let mut bytes = Vec::new();
        let mut gaps = Vec::new();
        for o in v {
            match o {
                Out::D(d) => bytes.extend_from_slice(d),
                Out::G(g) => {
                    gaps.push((bytes.len(), *g));
                }
            }
        }
        (bytes, gaps)
    }

    #[test]
    fn in_order_capped_and_lost() {
        let mut r = StreamReassembler::default();
        let out = run(
            &mut r,
            &[
                (0, b"abc".to_vec(), 5),
                (8, b"de".to_vec(), 0),
                (20, b"z".to_vec(), 0),
            ],
            true,
        );
        assert_eq!(
            out,
            vec![
                Out::D(b"abc".to_vec()),
                Out::G(5),
                Out::D(b"de".to_vec()),
                Out::G(10),
                Out::D(b"z".to_vec())
            ]
        );
        assert_eq!(
            r.stats,
            StreamStats {
                gap_bytes: 10,
                capped_bytes: 5,
                late_bytes: 0
            }
        );
        assert_eq!(r.next_offset(), 21);
        // A record whose hole was given up on is late, not delivered twice.
        let late = run(&mut r, &[(10, b"xy".to_vec(), 0)], true);
        assert!(late.is_empty());
        assert_eq!(r.stats.late_bytes, 2);
    }

    proptest! {
        /// Any delivery order of a stream's records gives the same bytes, with
        /// no gap, once everything has arrived.
        #[test]
        fn reordering_within_bound_is_lossless(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..50), 1..20),
            seed in any::<u64>(),
        ) {
            let mut recs = Vec::new();
            let mut off = 0u64;
            for c in &chunks { recs.push((off, c.clone(), 0u64)); off += c.len() as u64; }
            let whole: Vec<u8> = chunks.concat();
            // Deterministic shuffle from the seed.
            let mut s = seed | 1;
            for i in (1..recs.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                recs.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let mut r = StreamReassembler::default();
            let out = run(&mut r, &recs, true);
            let (bytes, gaps) = flatten(&out);
            prop_assert_eq!(bytes, whole);
            prop_assert!(gaps.is_empty());
            prop_assert_eq!(r.stats, StreamStats::default());
        }

        /// Dropping records yields gaps whose lengths add up to exactly the
        /// bytes dropped, at the right places.
        #[test]
        fn drops_become_exact_gaps(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..50), 1..20),
            keep in prop::collection::vec(any::<bool>(), 20),
        ) {
            let mut recs = Vec::new();
            let mut expect = Vec::new();
            let mut off = 0u64;
            let mut dropped = 0u64;
            for (i, c) in chunks.iter().enumerate() {
                if keep[i] {
                    recs.push((off, c.clone(), 0u64));
                    expect.extend_from_slice(c);
                } else {
                    dropped += c.len() as u64;
                }
                off += c.len() as u64;
            }
            let mut r = StreamReassembler::default();
            let out = run(&mut r, &recs, true);
            let (bytes, gaps) = flatten(&out);
            prop_assert_eq!(bytes, expect);
            let trailing: u64 = chunks.iter().zip(&keep).rev().take_while(|(_, k)| !**k).map(|(c, _)| c.len() as u64).sum();
            prop_assert_eq!(gaps.iter().map(|g| g.1).sum::<u64>() + trailing, dropped);
            prop_assert_eq!(r.stats.gap_bytes + trailing, dropped);
        }
    }
}
