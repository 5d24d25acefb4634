//! Re-splitting captures at arbitrary points, for every protocol's property
//! tests: the records and counters must not depend on where pushes split.

use proptest::sample::Index;

use crate::capture_file::Event;

/// Cuts `data` at the given positions (taken modulo its length).
pub(crate) fn split_at<'a>(data: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
    at.push(0);
    at.push(data.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2)
        .filter_map(|w| data.get(w[0]..w[1]))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Every captured chunk re-split at arbitrary points (each piece keeps its chunk's timestamp).
pub(crate) fn resplit(events: &[Event], cuts: &[Vec<Index>]) -> Vec<Event> {
    let mut res = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Data { kind, ts, bytes } => {
                let no_cuts = Vec::new();
                for piece in split_at(bytes, cuts.get(i).unwrap_or(&no_cuts)) {
                    res.push(Event::Data {
                        kind: *kind,
                        ts: *ts,
                        bytes: piece.to_vec(),
                    });
                }
            }
            Event::Close { .. } => res.push(e.clone()),
        }
    }
    res
}
