//! A hostile corpus on every subject a real agent, simulated nodes (which
//! become merge nodes: the planner's fan-in is 2) and a planner listen on:
//! garbage, truncated envelopes, forged length prefixes of every kind,
//! envelopes of the wrong kind, an expression nested 100 000 deep, absurd
//! leases, backfills, panes and plans, messages naming another query or
//! node. Each is sent with the credentials of a role allowed to publish
//! there (a compromised agent, planner or reader). Afterwards every process
//! is alive, counted what it refused, and a real query is answered in full
//! with the same answer as before.

use std::time::Duration;

use anyhow::Result;
use loupe_itest::*;
use loupe_topology::codec::{self, Kind, WIRE_VERSION};
use loupe_topology::messages::*;
use loupe_topology::plan::{Expr, Op, PlanNode, Scalar, split};
use loupe_topology::pxl::{Options, compile};

/// (subject, creds of a role that may publish there, the kind it expects,
/// a valid message to twist, forged ones)
type Target = (String, &'static str, Kind, Vec<u8>, Vec<Vec<u8>>);

const SCRIPT: &str = "import px\ndf = px.DataFrame('http_events', start_time='-1h')\ndf = df[df.service == 'sim/api']\npx.display(df.groupby('service').agg(n=('resp_latency', px.count), worst=('resp_latency', px.max)), 'n')\n";

async fn client(creds: &str) -> Result<async_nats::Client> {
    let text = std::fs::read_to_string(auth_dir().join(creds))?;
    let seed = text
        .lines()
        .find(|l| l.starts_with("SU"))
        .ok_or_else(|| anyhow::anyhow!("no seed in {creds}"))?;
    Ok(async_nats::ConnectOptions::with_nkey(seed.to_string())
        .connect(NATS_URL.get().unwrap().as_str())
        .await?)
}

static NATS_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn envelope(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut b = b"LOUP".to_vec();
    b.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(body);
    b
}

/// Everything hostile, for a subject that expects messages of `kind`.
fn corpus(kind: Kind, valid: &[u8], forged: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![Vec::new(), b"\x00".to_vec(), b"LOUP".to_vec()];
    // Garbage of a few sizes (a fixed xorshift: the same corpus every run).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for n in [7usize, 100, 4096, 200_000] {
        out.push(
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        );
    }
    // A forged length of 2^45 at the start of the body, in every kind.
    let mut huge = vec![0xFD];
    huge.extend_from_slice(&(1u64 << 45).to_le_bytes());
    huge.extend_from_slice(b"abc");
    for k in 0..=21u16 {
        out.push(envelope(k, &huge));
    }
    // Another wire version; the right kind cut short; a flipped byte every
    // 7 bytes.
    let mut v = valid.to_vec();
    v[4] = 99;
    out.push(v);
    for cut in [8, 9, valid.len() / 3, valid.len().saturating_sub(1)] {
        if cut < valid.len() {
            out.push(valid[..cut].to_vec());
        }
    }
    for i in (8..valid.len()).step_by(7) {
        let mut b = valid.to_vec();
        b[i] ^= 0xFF;
        out.push(b);
    }
    // The valid message, as another kind.
    out.push(envelope(kind as u16 % 20 + 1, &valid[8..]));
    out.extend(forged.iter().cloned());
    out
}

fn deep_query(valid_query: &QueryRequest) -> Vec<u8> {
    let mut req = valid_query.clone();
    let marker = Expr::Lit(Scalar::Int64(0x5A5A));
    for n in &mut req.plan.nodes {
        if let Op::Filter { predicate, .. } = &mut n.op {
            *predicate = marker.clone();
        }
    }
    let bytes = codec::encode(Kind::QueryRequest, &req).unwrap();
    let lit = codec::encode(Kind::Lease, &marker).unwrap()[8..].to_vec();
    let at = bytes
        .windows(lit.len())
        .position(|w| w == lit.as_slice())
        .expect("the marker");
    let mut deep = bytes[..at].to_vec();
    // Expr::Not is variant 3.
    deep.extend(std::iter::repeat_n(3u8, 100_000));
    deep.extend_from_slice(&bytes[at..]);
    deep
}

#[test]
fn a_hostile_corpus_on_every_subject_leaves_every_process_answering() -> Result<()> {
    let dir = temp_dir("wire");
    let nats = Nats::start(&dir)?;
    NATS_URL.set(nats.url.clone()).unwrap();
    let mut planner = Planner::start_with(&nats.url, "wp", &dir, &["--merge-fanin", "2"])?;
    let mut agent = Agent::start(&nats, "n1", &dir, &[])?;
    let mut sims = SimNodes::start(&nats.url, &dir, "w", 0, 3, 100)?;
    let ask = || -> Result<serde_json::Value> {
        for _ in 0..60 {
            let out = loupe_run(&nats.url, &dir, SCRIPT, &[])?;
            if out.code == 0 {
                let v = out.json()?;
                if v["nodes"]["answered"].as_array().map_or(0, |a| a.len()) == 4 {
                    return Ok(v);
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        anyhow::bail!("no complete answer from the 4 nodes")
    };
    let before = ask()?;
    assert_eq!(before["partial"], false);
    assert_eq!(before["tables"][0]["rows"][0]["n"], 300, "{before}");
    assert!(
        before["transfer"]["merge_levels"].as_u64() > Some(0),
        "{before}"
    );

    // Valid messages to cut, flip and twist.
    let opts = Options {
        file: "n.pxl".into(),
        now_ns: 0,
        args: vec![],
        exec: vec![],
        plugin_window: None,
    };
    let plan = compile(SCRIPT, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let query = QueryRequest {
        origin: Default::default(),
        script: "n.pxl".into(),
        plan: plan.clone(),
        node_timeout_ms: 2000,
    };
    let deploy = Deploy {
        qid: "evil-1".into(),
        fragment: split(&plan).map_err(|e| anyhow::anyhow!(e))?.node,
        send_to: SendTo::Planner,
        deadline_ns: 0,
        timeout_ns: 1_000_000_000,
        live: None,
        merge: None,
    };
    let absurd_deploys: Vec<Deploy> = {
        let live = |lease_ns, backfill_ns| Deploy {
            timeout_ns: 0,
            live: Some(LiveSpec {
                every_ns: 1_000_000_000,
                lease_ns,
                backfill_ns,
            }),
            ..deploy.clone()
        };
        let mut union = deploy.clone();
        union.fragment.plan.nodes.push(PlanNode {
            op: Op::Union { inputs: vec![] },
            schema: Default::default(),
        });
        let mut index = deploy.clone();
        index.fragment.outputs[0].node = 10_000;
        let mut typed = deploy.clone();
        typed.fragment.plan.nodes[0].schema.fields[0].dtype = loupe_topology::plan::DType::Boolean;
        vec![
            live(0, 0),
            live(i64::MAX, 0),
            live(1_000_000_000, 1_800_000_000_000_000_000),
            union,
            index,
            typed,
            Deploy {
                qid: "a.b.>".into(),
                ..deploy.clone()
            },
        ]
    };
    let enc = |k: Kind, m: &dyn erased::Enc| m.enc(k);
    let forged_deploys: Vec<Vec<u8>> = absurd_deploys
        .iter()
        .map(|d| enc(Kind::Deploy, d))
        .collect();
    let absurd_live = LiveRequest {
        origin: Default::default(),
        script: "x".into(),
        plan: plan.clone(),
        every_ns: 0,
        window_ns: i64::MAX,
    };
    let other_node = NodeStatus {
        node: "someone-else".into(),
        ..Default::default()
    };
    let far_pane = PartialChunk::failure(
        "evil-1",
        "n1",
        Channel {
            channel: 0,
            pane_ns: i64::MAX,
        },
        QueryError::new(QueryErrorKind::Execution, "x"),
    );
    let cancel = Cancel {
        qid: "other-query".into(),
    };
    let tap = TapHold {
        stage: "rows".into(),
        lease_ns: i64::MAX,
    };

    let sim_nodes = ["w-0000", "w-0001", "w-0002"];
    let mut targets: Vec<Target> = Vec::new();
    for n in std::iter::once("n1").chain(sim_nodes) {
        targets.push((
            format!("loupe.v1.node.{n}.deploy"),
            "planner.creds",
            Kind::Deploy,
            enc(Kind::Deploy, &deploy),
            forged_deploys.clone(),
        ));
        for leaf in ["tail", "status"] {
            targets.push((
                format!("loupe.v1.node.{n}.{leaf}"),
                "reader.creds",
                Kind::TailRequest,
                enc(
                    Kind::TailRequest,
                    &TailRequest {
                        table: "http_events".into(),
                        since_ns: Some(u64::MAX),
                        limit: None,
                        columns: vec![],
                    },
                ),
                vec![],
            ));
        }
        targets.push((
            format!("loupe.v1.node.{n}.taphold"),
            "admin.creds",
            Kind::TapHold,
            enc(Kind::TapHold, &tap),
            vec![enc(Kind::TapHold, &tap)],
        ));
        targets.push((
            format!("loupe.v1.node.{n}.heartbeat"),
            "agent.creds",
            Kind::Heartbeat,
            enc(Kind::Heartbeat, &other_node),
            vec![enc(Kind::Heartbeat, &other_node)],
        ));
    }
    for leaf in ["nodes.tail", "nodes.status"] {
        targets.push((
            format!("loupe.v1.{leaf}"),
            "reader.creds",
            Kind::TailRequest,
            enc(Kind::StatusRequest, &()),
            vec![],
        ));
    }
    targets.push((
        "loupe.v1.q.evil-1.cancel".into(),
        "reader.creds",
        Kind::Cancel,
        enc(Kind::Cancel, &cancel),
        vec![enc(Kind::Cancel, &cancel)],
    ));
    targets.push((
        "loupe.v1.q.evil-1.lease".into(),
        "reader.creds",
        Kind::Lease,
        enc(Kind::Lease, &Lease { qid: "x".into() }),
        vec![],
    ));
    for sub in ["partial", "merge.0.0", "merge.1.0"] {
        targets.push((
            format!("loupe.v1.q.evil-1.{sub}"),
            "agent.creds",
            Kind::PartialChunk,
            enc(Kind::PartialChunk, &far_pane),
            vec![enc(Kind::PartialChunk, &far_pane)],
        ));
    }
    targets.push((
        "loupe.v1.plan".into(),
        "reader.creds",
        Kind::QueryRequest,
        enc(Kind::QueryRequest, &query),
        vec![deep_query(&query)],
    ));
    targets.push((
        "loupe.v1.live".into(),
        "reader.creds",
        Kind::LiveRequest,
        enc(Kind::LiveRequest, &absurd_live),
        vec![enc(Kind::LiveRequest, &absurd_live)],
    ));
    targets.push((
        "loupe.v1.nodes.list".into(),
        "reader.creds",
        Kind::NodesRequest,
        enc(Kind::NodesRequest, &()),
        vec![],
    ));
    // Export schedules (admin): a name that is a path, a period of zero,
    // a script of the wrong shape.
    let absurd_schedule = |name: &str, every_ns: i64| {
        loupe_topology::messages::ExportsRequest::Add(loupe_topology::messages::ScheduleSpec {
            name: name.into(),
            script: "x.pxl".into(),
            source: "import px\npx.export(".into(),
            every_ns,
            ..Default::default()
        })
    };
    targets.push((
        "loupe.v1.exports".into(),
        "admin.creds",
        Kind::ExportsRequest,
        enc(
            Kind::ExportsRequest,
            &loupe_topology::messages::ExportsRequest::List,
        ),
        vec![
            enc(
                Kind::ExportsRequest,
                &absurd_schedule("../../etc", 10_000_000_000),
            ),
            enc(Kind::ExportsRequest, &absurd_schedule("zero", 0)),
            enc(
                Kind::ExportsRequest,
                &absurd_schedule("broken", 10_000_000_000),
            ),
        ],
    ));

    let rt = tokio::runtime::Runtime::new()?;
    let sent = rt.block_on(async {
        let mut clients = std::collections::HashMap::new();
        for c in [
            "planner.creds",
            "agent.creds",
            "reader.creds",
            "admin.creds",
        ] {
            clients.insert(c, client(c).await?);
        }
        let mut sent = 0usize;
        for (subject, creds, kind, valid, forged) in &targets {
            let c = &clients[creds];
            for payload in corpus(*kind, valid, forged) {
                // With a reply subject, so a receiver that answers errors
                // has somewhere to answer.
                let inbox = c.new_inbox();
                c.publish_with_reply(subject.clone(), inbox, payload.into())
                    .await?;
                sent += 1;
            }
            c.flush().await?;
        }
        Ok::<_, anyhow::Error>(sent)
    })?;
    assert!(sent > 1000, "{sent} messages");
    std::thread::sleep(Duration::from_secs(2));
    assert!(planner.proc.alive(), "the planner died");
    assert!(agent.proc.alive(), "the agent died");
    assert!(sims.proc.alive(), "the simulated nodes died");

    let after = ask()?;
    assert_eq!(after["partial"], false, "{after}");
    assert_eq!(after["tables"], before["tables"], "the answer changed");

    // What they refused is counted, by node and by the planner.
    let nodes = run(loupe().args(["nodes", "-o", "json", "--nats", &nats.url]))?;
    let nodes: serde_json::Value = serde_json::from_str(&nodes)?;
    assert!(
        nodes["planner_wire_rejected"].as_u64() > Some(10),
        "{nodes}"
    );
    for n in nodes["nodes"].as_array().unwrap() {
        if n["node"] == "n1" || n["node"] == "w-0000" {
            assert!(n["wire_rejected"].as_u64() > Some(10), "{n}");
        }
    }
    // The agent kept only what it needs after loading its programs, as the
    // kernel sees it (CAP_DAC_READ_SEARCH is bit 2, CAP_SYS_PTRACE bit 19),
    // and says so.
    let status = std::fs::read_to_string(format!("/proc/{}/status", agent.proc.pid()))?;
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("CapEff:"), "0000000000080004", "{status}");
    assert_eq!(field("CapPrm:"), "0000000000080004", "{status}");
    assert_eq!(field("CapBnd:"), "0000000000080004", "{status}");
    assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    let check = run(loupe().args(["check", "--nats", &nats.url]))?;
    assert!(
        check.contains("privileges: capabilities: dac_read_search, sys_ptrace; no_new_privs: set"),
        "{check}"
    );
    // Logged once per kind per minute, not once per message.
    let log = std::fs::read_to_string(&agent.log)?;
    let lines = log.matches("refused a message").count();
    assert!(
        lines > 0 && lines < 60,
        "{lines} refusal lines in the agent's log"
    );
    Ok(())
}

/// Encoding any wire message behind one trait object, so the corpus can
/// hold messages of every type.
mod erased {
    use loupe_topology::codec::{self, Kind};
    pub trait Enc {
        fn enc(&self, kind: Kind) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Enc for T {
        fn enc(&self, kind: Kind) -> Vec<u8> {
            codec::encode(kind, self).expect("encode")
        }
    }
}

#[test]
fn an_answer_past_its_budget_stops_with_a_clear_error() -> Result<()> {
    let dir = temp_dir("budget");
    let nats = Nats::start(&dir)?;
    let _planner = Planner::start_with(&nats.url, "bp", &dir, &["--answer-budget-mib", "1"])?;
    let _sims = SimNodes::start(&nats.url, &dir, "b", 0, 2, 20_000)?;
    let raw =
        "import px\ndf = px.DataFrame('http_events', start_time='-1h')\npx.display(df, 'rows')\n";
    let agg = "import px\ndf = px.DataFrame('http_events', start_time='-1h')\npx.display(df.groupby('service').agg(n=('resp_latency', px.count)), 'n')\n";
    // Both nodes first (their heartbeats), with the small answer.
    let mut n = None;
    for _ in 0..60 {
        let out = loupe_run(&nats.url, &dir, agg, &[])?;
        if out.code == 0 {
            let v = out.json()?;
            if v["nodes"]["answered"].as_array().map_or(0, |a| a.len()) == 2 {
                n = Some(v);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let n = n.ok_or_else(|| anyhow::anyhow!("the two nodes did not answer"))?;
    assert_eq!(n["tables"][0]["rows"][0]["n"], 40_000, "{n}");
    let out = loupe_run(&nats.url, &dir, raw, &[])?;
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("the answer exceeds 1 MiB: aggregate, filter or add head()"),
        "{}",
        out.stderr
    );
    Ok(())
}
