//! Every message a process receives passes here: decoded with a bound,
//! validated against what the receiver trusts, and, when refused, counted
//! by subject and reason (`loupe_wire_rejected_total{subject,reason}`) and
//! logged once per (subject, reason) per minute, with how many more came
//! since. The caller answers the sender with the refusal where the message
//! has a reply subject.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use loupe_topology::codec::{self, Kind, Reason, Rejected};
use loupe_topology::subjects::Inbound;
use loupe_topology::validate::{Arrival, Validate};
use serde::de::DeserializeOwned;

/// How often one kind of refusal is logged.
const LOG_EVERY: Duration = Duration::from_secs(60);

use loupe_topology::metrics::Metric;

#[derive(Default)]
struct Tally {
    count: u64,
    logged_at: Option<Instant>,
    /// Refusals since the last log line.
    unlogged: u64,
}

/// One per process: the refusals of everything it listens on.
#[derive(Default)]
pub struct WireGuard {
    tallies: Mutex<BTreeMap<(Inbound, Reason), Tally>>,
}

impl WireGuard {
    /// Decodes and validates a message that came on `on`; a refusal is
    /// counted and logged before it is returned.
    pub fn receive<T: DeserializeOwned + Validate>(
        &self,
        on: Inbound,
        kind: Kind,
        payload: &[u8],
        arrival: &Arrival<'_>,
    ) -> Result<T, Rejected> {
        let r = codec::receive(kind, payload, arrival);
        if let Err(e) = &r {
            self.rejected(on, e);
        }
        r
    }

    /// Counts (and maybe logs) a refusal decided elsewhere.
    pub fn rejected(&self, on: Inbound, e: &Rejected) {
        let Ok(mut t) = self.tallies.lock() else {
            return;
        };
        let tally = t.entry((on, e.reason)).or_default();
        tally.count += 1;
        let due = tally.logged_at.is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if due {
            tracing::warn!(
                subject = on.label(),
                reason = e.reason.label(),
                since_last_log = tally.unlogged,
                "refused a message: {}",
                e.message
            );
            tally.logged_at = Some(Instant::now());
            tally.unlogged = 0;
        } else {
            tally.unlogged += 1;
        }
    }

    /// Every (subject, reason) refused so far, as labelled counters.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let Ok(t) = self.tallies.lock() else {
            return Vec::new();
        };
        t.iter()
            .map(|((on, reason), tally)| {
                (
                    Metric::WireRejected.sample(&[on.label(), reason.label()]),
                    tally.count,
                )
            })
            .collect()
    }

    /// All refusals.
    pub fn total(&self) -> u64 {
        self.tallies
            .lock()
            .map(|t| t.values().map(|x| x.count).sum())
            .unwrap_or(0)
    }
}

/// The sum of every `loupe_wire_rejected_total{…}` in a list of counters.
pub fn rejected_total(counters: &[(String, u64)]) -> u64 {
    loupe_topology::metrics::total(counters, Metric::WireRejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loupe_topology::messages::Cancel;

    #[test]
    fn refusals_are_counted_by_subject_and_reason() {
        let g = WireGuard::default();
        let a = Arrival::query("q1");
        assert!(
            g.receive::<Cancel>(Inbound::Cancel, Kind::Cancel, b"garbage!", &a)
                .is_err()
        );
        let other = codec::encode(Kind::Cancel, &Cancel { qid: "q2".into() }).unwrap();
        let e = g
            .receive::<Cancel>(Inbound::Cancel, Kind::Cancel, &other, &a)
            .unwrap_err();
        assert_eq!(e.reason, Reason::Subject);
        let ok = codec::encode(Kind::Cancel, &Cancel { qid: "q1".into() }).unwrap();
        assert!(
            g.receive::<Cancel>(Inbound::Cancel, Kind::Cancel, &ok, &a)
                .is_ok()
        );
        let c = g.counters();
        assert_eq!(
            c,
            vec![
                (
                    "loupe_wire_rejected_total{subject=\"cancel\",reason=\"garbage\"}".into(),
                    1
                ),
                (
                    "loupe_wire_rejected_total{subject=\"cancel\",reason=\"subject\"}".into(),
                    1
                ),
            ]
        );
        assert_eq!(g.total(), 2);
        assert_eq!(rejected_total(&c), 2);
    }
}
