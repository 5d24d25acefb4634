//! The one rule of every multi-part answer (a node's tail, a node's or a
//! merge node's partial, a planner's result, a tapped stage): each sender's
//! chunks are numbered from its first one up, one at a time, each at most
//! [`chunk_limit`] bytes of payload, and the reader checks the numbers with
//! one [`Sequence`]. NATS delivers at most once: a number skipped is chunks
//! lost on the way (a slow consumer cut by the server), which an answer
//! reports as incomplete and a tap counts.

use serde::{Deserialize, Serialize};

use crate::messages::QueryError;

/// One piece of a multi-part answer, the same for every stream: `P` says
/// what this piece's rows are of (a partial's channel and pane, a result's
/// table, a tap's lines), `E` what the last piece says of the whole (a
/// node's status, what a partial covers, how complete a result is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chunk<P, E> {
    /// The stream: a query id (partials, results), a stage (taps), empty
    /// for a tail (its reply subject is its own).
    pub stream: String,
    /// The sender: a node, a merge node or a planner.
    pub from: String,
    /// Numbered from the sender's first chunk up (see [`Sequence`]).
    pub seq: u64,
    pub part: P,
    /// Arrow IPC stream bytes (schema and batches); empty when none.
    pub ipc: Vec<u8>,
    /// On the last chunk only: how the stream ended.
    pub end: Option<End<E>>,
}

/// How a stream ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum End<E> {
    Done(E),
    /// The sender could not answer.
    Failed(QueryError),
}

impl<E> End<E> {
    pub fn into_result(self) -> Result<E, QueryError> {
        match self {
            End::Done(e) => Ok(e),
            End::Failed(e) => Err(e),
        }
    }
}

/// What one chunk gives its reader, once its number checked out.
#[derive(Debug, PartialEq)]
pub enum Step<P, E> {
    /// Rows (`ipc`, possibly empty) of `part`; more chunks follow.
    Rows(P, Vec<u8>),
    /// The last chunk: its rows, and how the stream ended.
    Last(P, Vec<u8>, Result<E, QueryError>),
}

impl<P, E> Chunk<P, E> {
    /// A sender's whole stream: `pieces` (what of, IPC bytes) numbered
    /// from 0, the last carrying `end`. No pieces is still one (last)
    /// chunk, of `P::default()`, so the reader hears how it ended.
    pub fn stream(
        stream: &str,
        from: &str,
        pieces: Vec<(P, Vec<u8>)>,
        end: End<E>,
    ) -> impl Iterator<Item = Chunk<P, E>>
    where
        P: Default,
    {
        let mut pieces = pieces;
        if pieces.is_empty() {
            pieces.push((P::default(), Vec::new()));
        }
        let total = pieces.len();
        let mut end = Some(end);
        let (stream, from) = (stream.to_string(), from.to_string());
        pieces
            .into_iter()
            .enumerate()
            .map(move |(i, (part, ipc))| Chunk {
                stream: stream.clone(),
                from: from.clone(),
                seq: i as u64,
                part,
                ipc,
                end: if i + 1 == total { end.take() } else { None },
            })
    }

    /// The one chunk of a sender that could not answer: why.
    pub fn failure(stream: &str, from: &str, part: P, error: QueryError) -> Self {
        Chunk {
            stream: stream.to_string(),
            from: from.to_string(),
            seq: 0,
            part,
            ipc: Vec::new(),
            end: Some(End::Failed(error)),
        }
    }

    /// Checks this chunk's number against the reader's `seq`, then says
    /// what it brings. A number skipped is chunks lost on the way: a
    /// reader that must have every chunk stops here.
    pub fn read(self, seq: &mut Sequence) -> Result<Step<P, E>, Missed> {
        seq.take(self.seq)?;
        Ok(self.into_step())
    }

    /// What this chunk brings, numbers unchecked: for a reader that goes
    /// on after a loss (a live window it will discard, a tap that counts).
    pub fn into_step(self) -> Step<P, E> {
        match self.end {
            None => Step::Rows(self.part, self.ipc),
            Some(end) => Step::Last(self.part, self.ipc, end.into_result()),
        }
    }
}

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

    #[test]
    fn a_stream_is_numbered_and_ends_once() {
        let pieces = vec![(1u32, vec![1u8]), (2, vec![2])];
        let chunks: Vec<Chunk<u32, &str>> =
            Chunk::stream("q", "n1", pieces, End::Done("ok")).collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!((chunks[0].seq, chunks[1].seq), (0, 1));
        assert!(chunks[0].end.is_none());
        let mut seq = Sequence::default();
        let mut it = chunks.into_iter();
        assert_eq!(
            it.next().unwrap().read(&mut seq),
            Ok(Step::Rows(1, vec![1]))
        );
        assert_eq!(
            it.next().unwrap().read(&mut seq),
            Ok(Step::Last(2, vec![2], Ok("ok")))
        );
        // No rows: still one chunk, the last, that says how it ended.
        let empty: Vec<Chunk<u32, ()>> = Chunk::stream(
            "q",
            "n1",
            vec![],
            End::Failed(QueryError::new(
                crate::messages::QueryErrorKind::Busy,
                "busy",
            )),
        )
        .collect();
        assert_eq!(empty.len(), 1);
        let step = empty
            .into_iter()
            .next()
            .unwrap()
            .read(&mut Sequence::default());
        assert!(matches!(step, Ok(Step::Last(0, _, Err(e))) if e.message == "busy"));
        // A chunk that skips numbers is reported, not read.
        let mut seq = Sequence::default();
        let late = Chunk::<u32, ()> {
            stream: "q".into(),
            from: "n1".into(),
            seq: 3,
            part: 0,
            ipc: vec![],
            end: None,
        };
        assert_eq!(late.read(&mut seq).unwrap_err().lost(), 3);
    }
}
