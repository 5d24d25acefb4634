//! Writes a seed corpus for the wire fuzz targets (`topology/fuzz`): one
//! valid message of each type, as a whole message and as an envelope body
//! (the targets' two modes), in `DIR/<target>/`.
//!
//! `cargo run -p loupe-topology --example wire_seeds -- topology/fuzz/corpus`

use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::*;
use loupe_topology::plan::split;
use loupe_topology::pxl::{Options, compile};

const SCRIPT: &str = r#"import px
df = px.DataFrame('http_events', start_time='-10m')
df = df[df.resp_status >= 500]
df.ms = df.resp_latency / 1000000
s = df.groupby(['service', 'req_path']).agg(n=('ms', px.count), p99=('ms', px.quantiles(0.99)), worst=('ms', px.max))
px.display(s.sort('p99', ascending=False).head(10), 'slow')
px.display(df.head(5), 'rows')
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: wire_seeds DIR")?);
    let plan = compile(SCRIPT, &Options::default())?;
    let fragment = split(&plan)?.node;
    let report = NodeReport {
        node: "n1".into(),
        rows_scanned: 10,
        exec_ms: 1.5,
        ..Default::default()
    };
    let status = NodeStatus {
        node: "n1".into(),
        kernel: "Linux 6.18".into(),
        probes_attached: 28,
        probes_total: 28,
        counters: vec![("loupe_capture_events_total".into(), 7)],
        wall_ns: 1,
        privileges: "capabilities: sys_ptrace; no_new_privs: set".into(),
        capture: vec!["http_events: query values".into()],
    };
    let deploy = Deploy {
        qid: "q1".into(),
        fragment: fragment.clone(),
        send_to: SendTo::Merge { level: 1, group: 2 },
        deadline_ns: 0,
        timeout_ns: 1_000_000_000,
        live: None,
        merge: Some(MergeSpec {
            level: 0,
            group: 1,
            children: vec![("n1".into(), vec!["n1".into()])],
        }),
    };
    let live_deploy = Deploy {
        send_to: SendTo::Planner,
        timeout_ns: 0,
        live: Some(LiveSpec {
            every_ns: 1_000_000_000,
            lease_ns: 1_000_000_000,
            backfill_ns: 59_000_000_000,
        }),
        merge: None,
        ..deploy.clone()
    };
    let error = QueryError::new(QueryErrorKind::NotFound, "unknown table");
    let schedule = Schedule {
        spec: ScheduleSpec {
            name: "http-metrics".into(),
            script: "export.pxl".into(),
            source: SCRIPT.into(),
            args: vec![("ns".into(), "shop".into())],
            every_ns: 10_000_000_000,
            added_by: "UADMIN".into(),
            added_ns: 1_700_000_000_000_000_000,
        },
        state: ScheduleState {
            done_through_ns: 1_700_000_000_000_000_000,
            running: Some(ScheduleClaim {
                planner: "p1".into(),
                end_ns: 1_700_000_010_000_000_000,
                lease_until_ns: 1_700_000_030_000_000_000,
            }),
            runs: 3,
            last: Some(ScheduleRun {
                planner: "p2".into(),
                start_ns: 1_699_999_990_000_000_000,
                end_ns: 1_700_000_000_000_000_000,
                finished_ns: 1_700_000_001_000_000_000,
                points: 12,
                delivered: 12,
                lost: 0,
                error: None,
            }),
        },
    };
    let seeds: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "tail_request",
            vec![codec::encode(
                Kind::TailRequest,
                &TailRequest {
                    table: "http_events".into(),
                    since_ns: Some(30),
                    limit: Some(5),
                    columns: vec!["req_path".into()],
                },
            )?],
        ),
        (
            "tail_chunk",
            vec![
                codec::encode(
                    Kind::TailChunk,
                    &TailChunk {
                        stream: String::new(),
                        from: "n1".into(),
                        seq: 0,
                        part: (),
                        ipc: vec![1, 2, 3],
                        end: Some(End::Done(status.clone())),
                    },
                )?,
                codec::encode(
                    Kind::TailChunk,
                    &TailChunk::failure("", "n1", (), error.clone()),
                )?,
            ],
        ),
        (
            "node_status",
            vec![codec::encode(Kind::Heartbeat, &status)?],
        ),
        (
            "nodes_reply",
            vec![codec::encode(
                Kind::NodesReply,
                &NodesReply {
                    planner: "p".into(),
                    alive_within_ms: 10,
                    nodes: vec![NodeSeen {
                        status: status.clone(),
                        last_seen_ms: 1,
                        alive: true,
                        events_per_s: Some(1.0),
                        clock_skew_ms: 0.5,
                    }],
                    planner_counters: vec![],
                    cluster: Some(Coverage {
                        nodes: vec![ClusterNode {
                            name: "n2".into(),
                            needs_agent: true,
                            ready: true,
                            covered: false,
                            reason: "no agent pod scheduled on this node".into(),
                        }],
                        metadata_age_ms: Some(1200),
                        watcher: "p".into(),
                        watch_error: String::new(),
                    }),
                },
            )?],
        ),
        (
            "query_request",
            vec![codec::encode(
                Kind::QueryRequest,
                &QueryRequest {
                    origin: Default::default(),
                    script: "s.pxl".into(),
                    plan: plan.clone(),
                    node_timeout_ms: 5000,
                },
            )?],
        ),
        (
            "deploy",
            vec![
                codec::encode(Kind::Deploy, &deploy)?,
                codec::encode(Kind::Deploy, &live_deploy)?,
            ],
        ),
        (
            "deploy_ack",
            vec![codec::encode(
                Kind::DeployAck,
                &DeployAck {
                    node: "n1".into(),
                    qid: "q1".into(),
                    error: Some(error.clone()),
                },
            )?],
        ),
        (
            "partial_chunk",
            vec![
                codec::encode(
                    Kind::PartialChunk,
                    &PartialChunk {
                        stream: "q1".into(),
                        from: "n1".into(),
                        seq: 0,
                        part: Channel {
                            channel: 1,
                            pane_ns: 0,
                        },
                        ipc: vec![],
                        end: Some(End::Done(Covers::Merged(Merged {
                            answered: vec![report.clone()],
                            missing: vec![("n2".into(), "gone".into())],
                            messages: 1,
                            bytes: 2,
                        }))),
                    },
                )?,
                codec::encode(
                    Kind::PartialChunk,
                    &PartialChunk {
                        stream: "q1".into(),
                        from: "n1".into(),
                        seq: 3,
                        part: Channel::default(),
                        ipc: vec![],
                        end: Some(End::Done(Covers::Report(report.clone()))),
                    },
                )?,
            ],
        ),
        (
            "cancel",
            vec![codec::encode(Kind::Cancel, &Cancel { qid: "q1".into() })?],
        ),
        (
            "lease",
            vec![codec::encode(Kind::Lease, &Lease { qid: "q1".into() })?],
        ),
        (
            "live_request",
            vec![codec::encode(
                Kind::LiveRequest,
                &LiveRequest {
                    origin: Default::default(),
                    script: "s".into(),
                    plan: plan.clone(),
                    every_ns: 1_000_000_000,
                    window_ns: 60_000_000_000,
                },
            )?],
        ),
        (
            "live_accepted",
            vec![codec::encode(
                Kind::LiveAccepted,
                &LiveAccepted {
                    qid: "q1".into(),
                    lease_ns: 1_000_000_000,
                    nodes: vec!["n1".into()],
                    error: None,
                },
            )?],
        ),
        (
            "result_chunk",
            vec![codec::encode(
                Kind::ResultChunk,
                &ResultChunk {
                    stream: "q1".into(),
                    from: "p".into(),
                    seq: 1,
                    part: 0,
                    ipc: vec![],
                    end: Some(End::Done(QueryDone {
                        tables: vec!["slow".into()],
                        answered: vec![report],
                        ..Default::default()
                    })),
                },
            )?],
        ),
        (
            "tap_hold",
            vec![codec::encode(
                Kind::TapHold,
                &TapHold {
                    stage: "rows".into(),
                    lease_ns: 1_000_000_000,
                },
            )?],
        ),
        (
            "tap_ack",
            vec![codec::encode(
                Kind::TapAck,
                &TapAck {
                    node: "n1".into(),
                    error: Some(error),
                },
            )?],
        ),
        (
            "tap_chunk",
            vec![codec::encode(
                Kind::TapChunk,
                &TapChunk {
                    stream: "rows".into(),
                    from: "n1".into(),
                    seq: 1,
                    part: TapFrame {
                        lines: vec!["{}".into()],
                        table: "http_events".into(),
                        dropped: 0,
                    },
                    ipc: vec![],
                    end: None,
                },
            )?],
        ),
        (
            "exports_request",
            vec![
                codec::encode(
                    Kind::ExportsRequest,
                    &ExportsRequest::Add(schedule.spec.clone()),
                )?,
                codec::encode(Kind::ExportsRequest, &ExportsRequest::List)?,
                codec::encode(
                    Kind::ExportsRequest,
                    &ExportsRequest::Remove {
                        name: "http-metrics".into(),
                    },
                )?,
            ],
        ),
        (
            "exports_reply",
            vec![codec::encode(
                Kind::ExportsReply,
                &ExportsReply {
                    planner: "p1".into(),
                    error: None,
                    schedules: vec![schedule.clone()],
                },
            )?],
        ),
        ("schedule", vec![codec::encode(Kind::Schedule, &schedule)?]),
    ];
    for (target, messages) in seeds {
        let d = dir.join(target);
        std::fs::create_dir_all(&d)?;
        for (i, m) in messages.iter().enumerate() {
            // Mode 3: a whole message, the subject's ids known; mode 2: an
            // envelope's body.
            let mut whole = vec![3u8];
            whole.extend_from_slice(m);
            std::fs::write(d.join(format!("seed-{i}-whole")), whole)?;
            let mut body = vec![2u8];
            body.extend_from_slice(&m[8..]);
            std::fs::write(d.join(format!("seed-{i}-body")), body)?;
        }
    }
    Ok(())
}
