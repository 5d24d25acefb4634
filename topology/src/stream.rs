//! The one rule of every multi-part answer (a node's tail, a node's or a
//! merge node's partial, a planner's result, a tapped stage): each sender's
//! chunks are numbered from its first one up, one at a time, each at most
//! [`chunk_limit`] bytes of payload, and the reader checks the numbers with
//! one [`Sequence`]. NATS delivers at most once: a number skipped is chunks
//! lost on the way (a slow consumer cut by the server), which an answer
//! reports as incomplete and a tap counts.

/// The payload bytes of one chunk: half the server's `max_payload` (room
/// for the envelope and the rest of the message), between 16 KiB and
/// 512 KiB.
pub fn chunk_limit(max_payload: usize) -> usize {
    (max_payload / 2).clamp(16 << 10, 512 << 10)
}

/// The next chunk number a reader expects from one sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sequence {
    next: u64,
}

/// Chunks that never came: `got` arrived where `expected` was due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("chunk {got} arrived after chunk {}: chunks were lost on the way", *.expected as i64 - 1)]
pub struct Missed {
    pub expected: u64,
    pub got: u64,
}

impl Missed {
    /// How many chunks were lost (0 when one came twice or out of order).
    pub fn lost(&self) -> u64 {
        self.got.saturating_sub(self.expected)
    }
}

impl Sequence {
    /// A sequence that expects `first` next (a tap joins a stage's
    /// numbering where it is).
    pub fn starting_at(first: u64) -> Self {
        Sequence { next: first }
    }

    /// The number expected next.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Takes chunk `seq`: `Err` when it is not the one expected (the
    /// sequence then goes on after it).
    pub fn take(&mut self, seq: u64) -> Result<(), Missed> {
        let expected = self.next;
        self.next = seq.saturating_add(1);
        if seq == expected {
            Ok(())
        } else {
            Err(Missed { expected, got: seq })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_stream() {
        let mut s = Sequence::default();
        assert_eq!(s.take(0), Ok(()));
        assert_eq!(s.take(1), Ok(()));
        let m = s.take(4).unwrap_err();
        assert_eq!((m.expected, m.got, m.lost()), (2, 4, 2));
        assert_eq!(
            m.to_string(),
            "chunk 4 arrived after chunk 1: chunks were lost on the way"
        );
        assert_eq!(s.next(), 5);
        let mut t = Sequence::starting_at(7);
        assert_eq!(t.take(7), Ok(()));
        assert_eq!(chunk_limit(1 << 20), 512 << 10);
        assert_eq!(chunk_limit(1000), 16 << 10);
        assert_eq!(chunk_limit(64 << 20), 512 << 10);
    }
}
