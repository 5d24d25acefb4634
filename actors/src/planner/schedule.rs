//! Scheduled exports (Pixie's cron scripts): `loupe export add|list|rm`,
//! and the loop every planner runs to export each period exactly once.
//!
//! A schedule is one entry of a JetStream key-value bucket
//! ([`SCHEDULES_BUCKET`]): its script and period, and where it stands
//! ([`ScheduleState`]). Each planner looks every half second; a period is
//! due when `done_through + every` has passed (by [`SETTLE`], so rows of
//! the window's last moments have reached the stores). The planner that
//! wins the compare-and-set of a claim runs the window
//! `[done_through, end)` — `px.plugin.start_time` and `end_time` — and
//! moves `done_through` to `end`. A planner that dies holding a claim lets
//! it lapse; the next one runs the same window again, so no period is
//! skipped and none is counted twice in the schedule. A late run covers
//! every period it missed in one window (no gap, no overlap).

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{
    ExportsReply, ExportsRequest, Origin, QueryRequest, Schedule, ScheduleClaim, ScheduleRun,
    ScheduleState,
};
use loupe_topology::subjects::{Inbound, QueryId, SCHEDULES_BUCKET};
use loupe_topology::validate::Arrival;

use super::{ErrorDomain, QueryErrorKind, QueryPlanner, err};
use crate::clock::wall_now_ns;

/// How long after a window's end its run starts: rows reach the stores
/// within about a second of their time.
const SETTLE: Duration = Duration::from_secs(3);
/// How long nodes have to answer a scheduled run.
const NODE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often each planner looks for due schedules.
const TICK: Duration = Duration::from_millis(500);

/// The longest a run's exports retry: until the next period, at most 30 s.
fn export_budget(every_ns: i64) -> Duration {
    Duration::from_nanos(every_ns.max(1) as u64).min(Duration::from_secs(30))
}

/// How long a claim holds: the run's longest (nodes, exports) and a margin.
fn lease(every_ns: i64) -> Duration {
    NODE_TIMEOUT + export_budget(every_ns) + Duration::from_secs(5)
}

async fn bucket(client: &async_nats::Client) -> anyhow::Result<kv::Store> {
    let js = jetstream::new(client.clone());
    match js.get_key_value(SCHEDULES_BUCKET).await {
        Ok(b) => Ok(b),
        Err(_) => Ok(js
            .create_key_value(kv::Config {
                bucket: SCHEDULES_BUCKET.into(),
                description: "Loupe's export schedules (loupe export add)".into(),
                history: 1,
                ..Default::default()
            })
            .await?),
    }
}

/// What is due for a schedule now: the window to claim, if any.
pub(super) fn due(s: &ScheduleState, every_ns: i64, now_ns: i64) -> Option<i64> {
    match &s.running {
        // Someone holds it.
        Some(c) if c.lease_until_ns > now_ns => None,
        // Its planner died: the same window again.
        Some(c) => Some(c.end_ns),
        None => {
            let end = now_ns - SETTLE.as_nanos() as i64;
            (end >= s.done_through_ns + every_ns).then_some(end)
        }
    }
}

impl QueryPlanner {
    fn decode_schedule(&self, bytes: &[u8]) -> Option<Schedule> {
        self.wire
            .receive::<Schedule>(Inbound::Exports, Kind::Schedule, bytes, &Arrival::any())
            .ok()
    }

    async fn schedules(&self, kv: &kv::Store) -> anyhow::Result<Vec<(Schedule, u64)>> {
        let mut out = Vec::new();
        let mut keys = kv.keys().await?;
        let mut names = Vec::new();
        while let Some(k) = keys.next().await {
            names.push(k?);
        }
        names.sort();
        for k in names {
            if let Some(e) = kv.entry(&k).await?
                && e.operation == kv::Operation::Put
                && let Some(s) = self.decode_schedule(&e.value)
            {
                out.push((s, e.revision));
            }
        }
        Ok(out)
    }

    /// `loupe export add|list|rm` (admin).
    pub(super) async fn answer_exports(&self, m: async_nats::Message) -> anyhow::Result<()> {
        let Some(reply) = m.reply.clone() else {
            return Ok(());
        };
        let who = super::audit::requester(m.headers.as_ref(), &m.payload, &self.cfg.users);
        let mut out = ExportsReply {
            planner: self.cfg.name.clone(),
            ..ExportsReply::default()
        };
        let req = self.wire.receive::<ExportsRequest>(
            Inbound::Exports,
            Kind::ExportsRequest,
            &m.payload,
            &Arrival::any(),
        );
        let result: Result<(), String> = match req {
            Err(e) => Err(e.message),
            Ok(req) => match bucket(&self.client).await {
                Err(e) => Err(format!("the schedules bucket (JetStream): {e}")),
                Ok(kv) => self.command(&kv, req, &who).await,
            },
        };
        if let Err(e) = result {
            out.error = Some(err(QueryErrorKind::BadPlan, ErrorDomain::User, e));
        }
        if let Ok(kv) = bucket(&self.client).await
            && let Ok(all) = self.schedules(&kv).await
        {
            out.schedules = all.into_iter().map(|(s, _)| s).collect();
        }
        self.client
            .publish(reply, codec::encode(Kind::ExportsReply, &out)?.into())
            .await?;
        Ok(())
    }

    async fn command(
        &self,
        kv: &kv::Store,
        req: ExportsRequest,
        who: &serde_json::Value,
    ) -> Result<(), String> {
        match req {
            ExportsRequest::List => Ok(()),
            ExportsRequest::Remove { name } => {
                match kv.entry(&name).await.map_err(|e| e.to_string())? {
                    Some(e) if e.operation == kv::Operation::Put => {}
                    _ => return Err(format!("no schedule named {name:?}")),
                }
                kv.purge(&name).await.map_err(|e| e.to_string())?;
                tracing::info!(name, requester = %who, "export schedule removed");
                Ok(())
            }
            ExportsRequest::Add(mut spec) => {
                // It must compile, and export, before it is stored.
                let now = wall_now_ns();
                let plan = compile(&spec, now - spec.every_ns, now)?;
                if !plan.sinks.iter().any(|s| s.export.is_some()) {
                    return Err(format!(
                        "{} exports nothing: a scheduled script calls px.export",
                        spec.script
                    ));
                }
                spec.added_ns = now;
                if let Some(k) = who.get("nkey").and_then(|k| k.as_str()) {
                    spec.added_by = k.to_string();
                }
                let name = spec.name.clone();
                let s = Schedule {
                    spec,
                    state: ScheduleState {
                        // The first period starts now.
                        done_through_ns: now,
                        ..ScheduleState::default()
                    },
                };
                let bytes = codec::encode(Kind::Schedule, &s).map_err(|e| e.to_string())?;
                match kv.create(&name, bytes.into()).await {
                    Ok(_) => {
                        tracing::info!(name, every_ms = s.spec.every_ns / 1_000_000, requester = %who, "export schedule added");
                        Ok(())
                    }
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Err(format!(
                        "a schedule named {name:?} exists: `loupe export rm {name}` first"
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }

    /// Every planner's loop: claim what is due, run it, record it.
    pub(super) async fn run_schedules(self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut kv = None;
        loop {
            tick.tick().await;
            if kv.is_none() {
                kv = bucket(&self.client).await.ok();
            }
            let Some(store) = &kv else { continue };
            let all = match self.schedules(store).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "could not read the schedules");
                    kv = None;
                    continue;
                }
            };
            for (s, rev) in all {
                let now = wall_now_ns();
                let Some(end) = due(&s.state, s.spec.every_ns, now) else {
                    continue;
                };
                let mut claimed = s.clone();
                claimed.state.running = Some(ScheduleClaim {
                    planner: self.cfg.name.clone(),
                    end_ns: end,
                    lease_until_ns: now + lease(s.spec.every_ns).as_nanos() as i64,
                });
                let Ok(bytes) = codec::encode(Kind::Schedule, &claimed) else {
                    continue;
                };
                // Whoever sets it first runs it; the others see the claim.
                let Ok(rev) = store.update(&s.spec.name, bytes.into(), rev).await else {
                    continue;
                };
                let this = self.clone();
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = crate::supervise::guarded(
                        "planner-schedule",
                        this.run_window(store, claimed, rev),
                    )
                    .await;
                });
            }
        }
    }

    /// Runs one claimed window and records it.
    async fn run_window(&self, kv: kv::Store, s: Schedule, mut rev: u64) {
        let start = s.state.done_through_ns;
        let end = s.state.running.as_ref().map_or(start, |c| c.end_ns);
        let name = s.spec.name.clone();
        let mut run = ScheduleRun {
            planner: self.cfg.name.clone(),
            start_ns: start,
            end_ns: end,
            ..ScheduleRun::default()
        };
        match compile(&s.spec, start, end) {
            Err(e) => run.error = Some(e),
            Ok(plan) => {
                let qid = QueryId::new(
                    &self.cfg.name,
                    self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                );
                let req = QueryRequest {
                    script: s.spec.script.clone(),
                    origin: Origin {
                        args: s.spec.args.clone(),
                        first_line: format!("scheduled export {name}"),
                        ..Origin::default()
                    },
                    plan,
                    node_timeout_ms: NODE_TIMEOUT.as_millis() as u64,
                };
                let (_, done) = self
                    .execute(&qid, req, export_budget(s.spec.every_ns))
                    .await;
                for x in &done.exports {
                    run.points += x.points;
                    run.delivered += x.delivered;
                    run.lost += x.lost;
                    if run.error.is_none() {
                        run.error = x.error.clone();
                    }
                }
                if let Some(e) = &done.error {
                    run.error = Some(e.message.clone());
                } else if done.partial {
                    run.error.get_or_insert_with(|| {
                        format!(
                            "partial: {}",
                            done.missing
                                .iter()
                                .map(|(n, why)| format!("{n}: {why}"))
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    });
                }
                tracing::info!(
                    qid = %qid,
                    schedule = name,
                    start_ns = start,
                    end_ns = end,
                    points = run.points,
                    delivered = run.delivered,
                    lost = run.lost,
                    error = ?run.error,
                    "scheduled export ran"
                );
            }
        }
        run.finished_ns = wall_now_ns();
        // Done through `end`: unless the claim is no longer ours (it lapsed
        // and another planner took the window) or the schedule is gone.
        let mut current = s;
        for _ in 0..5 {
            let mine = current
                .state
                .running
                .as_ref()
                .is_some_and(|c| c.planner == self.cfg.name && c.end_ns == end);
            if !mine {
                tracing::warn!(
                    schedule = name,
                    "a claim lapsed before its run finished: another planner ran the window"
                );
                return;
            }
            let mut next = current.clone();
            next.state.done_through_ns = end;
            next.state.running = None;
            next.state.runs += 1;
            next.state.last = Some(run.clone());
            let Ok(bytes) = codec::encode(Kind::Schedule, &next) else {
                return;
            };
            match kv.update(&name, bytes.into(), rev).await {
                Ok(_) => return,
                Err(_) => match kv.entry(&name).await {
                    Ok(Some(e)) if e.operation == kv::Operation::Put => {
                        match self.decode_schedule(&e.value) {
                            Some(s) => {
                                current = s;
                                rev = e.revision;
                            }
                            None => return,
                        }
                    }
                    _ => return,
                },
            }
        }
    }
}

/// The schedule's script for the window `[start, end)`.
fn compile(
    spec: &loupe_topology::messages::ScheduleSpec,
    start: i64,
    end: i64,
) -> Result<loupe_topology::plan::Plan, String> {
    let opts = loupe_topology::pxl::Options {
        file: spec.script.clone(),
        now_ns: end,
        args: spec.args.clone(),
        exec: Vec::new(),
        plugin_window: Some((start, end)),
    };
    loupe_topology::pxl::compile(&spec.source, &opts).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_period_is_due_once_it_has_settled_and_a_lapsed_claim_is_run_again() {
        let st = ScheduleState {
            done_through_ns: 100 * S,
            ..ScheduleState::default()
        };
        let settle = SETTLE.as_nanos() as i64;
        assert_eq!(due(&st, 10 * S, 109 * S + settle), None);
        assert_eq!(due(&st, 10 * S, 110 * S + settle), Some(110 * S));
        // Late: one window over everything missed.
        assert_eq!(due(&st, 10 * S, 145 * S + settle), Some(145 * S));
        let mut held = st.clone();
        held.running = Some(ScheduleClaim {
            planner: "p1".into(),
            end_ns: 110 * S,
            lease_until_ns: 130 * S,
        });
        assert_eq!(due(&held, 10 * S, 129 * S), None);
        assert_eq!(due(&held, 10 * S, 131 * S), Some(110 * S));
    }
}
