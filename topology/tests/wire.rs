//! Hostile bytes and absurd values: every one is refused with its reason,
//! none allocates what its length prefixes claim, none panics.

use loupe_topology::codec::{self, Kind, Reason, Rejected};
use loupe_topology::messages::*;
use loupe_topology::plan::{BinOp, Expr, Op, Plan, Scalar, split};
use loupe_topology::pxl::{Options, compile};
use loupe_topology::validate::{Arrival, Validate};

const SCRIPT: &str = r#"import px
df = px.DataFrame('http_events', start_time='-10m')
df.ms = df.resp_latency / 1000000
px.display(df.groupby('service').agg(n=('ms', px.count), p99=('ms', px.quantiles(0.99))), 'S')
"#;

fn plan() -> Plan {
    compile(SCRIPT, &Options::default()).unwrap()
}

fn deploy() -> Deploy {
    Deploy {
        qid: "p1-1-0".into(),
        fragment: split(&plan()).unwrap().node,
        send_to: SendTo::Planner,
        deadline_ns: 0,
        timeout_ns: 5_000_000_000,
        live: None,
        merge: None,
    }
}

fn refused<T: serde::de::DeserializeOwned + Validate + std::fmt::Debug>(
    kind: Kind,
    bytes: &[u8],
    arrival: &Arrival<'_>,
) -> Rejected {
    codec::receive::<T>(kind, bytes, arrival).expect_err("must be refused")
}

fn envelope(kind: Kind, body: &[u8]) -> Vec<u8> {
    let mut b = b"LOUP".to_vec();
    b.extend_from_slice(&codec::WIRE_VERSION.to_le_bytes());
    b.extend_from_slice(&(kind as u16).to_le_bytes());
    b.extend_from_slice(body);
    b
}

#[test]
fn a_length_prefix_larger_than_the_message_is_refused_without_allocating_it() {
    // The 20-byte cancel that used to abort every agent and planner: a
    // string length of 2^45 (bincode varint: 0xFD then 8 bytes).
    let mut body = vec![0xFD];
    body.extend_from_slice(&(1u64 << 45).to_le_bytes());
    body.extend_from_slice(b"abc");
    let msg = envelope(Kind::Cancel, &body);
    assert!(msg.len() <= 20);
    let e = refused::<Cancel>(Kind::Cancel, &msg, &Arrival::any());
    assert_eq!(e.reason, Reason::Decode, "{e}");
    // The same inside a heartbeat and a deploy.
    for kind in [Kind::Heartbeat, Kind::Deploy] {
        let msg = envelope(kind, &body);
        assert!(codec::decode::<NodeStatus>(kind, &msg).is_err());
        assert!(codec::decode::<Deploy>(kind, &msg).is_err());
    }
}

#[test]
fn garbage_truncation_version_and_kind_each_have_their_reason() {
    let ok = codec::encode(Kind::Deploy, &deploy()).unwrap();
    let a = Arrival::any();
    assert!(codec::receive::<Deploy>(Kind::Deploy, &ok, &a).is_ok());
    assert_eq!(
        refused::<Deploy>(Kind::Deploy, b"\x00\x01garbage", &a).reason,
        Reason::Garbage
    );
    for cut in [8, 9, ok.len() / 2, ok.len() - 1] {
        assert_eq!(
            refused::<Deploy>(Kind::Deploy, &ok[..cut], &a).reason,
            Reason::Decode,
            "cut at {cut}"
        );
    }
    let mut v = ok.clone();
    v[4] = 7;
    assert_eq!(
        refused::<Deploy>(Kind::Deploy, &v, &a).reason,
        Reason::Version
    );
    assert_eq!(
        refused::<Cancel>(Kind::Cancel, &ok, &a).reason,
        Reason::Kind
    );
}

#[test]
fn every_prefix_and_every_flipped_byte_of_a_deploy_decodes_or_is_refused() {
    let ok = codec::encode(Kind::Deploy, &deploy()).unwrap();
    for cut in 0..ok.len() {
        let _ = codec::receive::<Deploy>(Kind::Deploy, &ok[..cut], &Arrival::any());
    }
    for i in 8..ok.len() {
        for x in [0x01u8, 0x80, 0xFF] {
            let mut b = ok.clone();
            b[i] ^= x;
            let _ = codec::receive::<Deploy>(Kind::Deploy, &b, &Arrival::any());
        }
    }
}

#[test]
fn an_expression_nested_too_deep_is_refused_while_decoding() {
    // 100 000 nested negations: a recursive decoder without a bound
    // would exhaust the stack. Encoded by hand (bincode: variant index
    // varints), as no Loupe process would build it.
    let depth = 100_000;
    let mut p = plan();
    let Op::Map { exprs, .. } = &mut p.nodes[1].op else {
        panic!("node 1 is the map: {}", p.explain())
    };
    let marker = Expr::Lit(Scalar::Int64(0x5A5A));
    exprs[0].1 = marker.clone();
    let req = QueryRequest {
        origin: Default::default(),
        script: "deep".into(),
        plan: p,
        node_timeout_ms: 1000,
    };
    let bytes = codec::encode(Kind::QueryRequest, &req).unwrap();
    // Lit(Int64(0x5A5A)) is [1, 1, zigzag varint]; Neg is variant 4.
    let lit = {
        let e = codec::encode(Kind::Lease, &marker).unwrap();
        e[8..].to_vec()
    };
    let at = bytes
        .windows(lit.len())
        .position(|w| w == lit.as_slice())
        .unwrap();
    let mut deep = bytes[..at].to_vec();
    deep.extend(std::iter::repeat_n(4u8, depth));
    deep.extend_from_slice(&bytes[at..]);
    let e = refused::<QueryRequest>(Kind::QueryRequest, &deep, &Arrival::any());
    assert_eq!(e.reason, Reason::Depth, "{e}");
    // 64 levels pass.
    let mut ok = bytes[..at].to_vec();
    ok.extend(std::iter::repeat_n(4u8, 63));
    ok.extend_from_slice(&bytes[at..]);
    let r = codec::decode::<QueryRequest>(Kind::QueryRequest, &ok).unwrap();
    let Op::Map { exprs, .. } = &r.plan.nodes[1].op else {
        unreachable!()
    };
    assert_eq!(exprs[0].1.depth(), 64);
}

#[test]
fn absurd_values_are_refused() {
    let a = Arrival::any();
    let range = |d: &Deploy| {
        let e = d.validate(&a).unwrap_err();
        assert_eq!(e.reason, Reason::Range, "{e}");
    };
    let live = |lease_ns, backfill_ns| {
        let mut d = deploy();
        d.timeout_ns = 0;
        d.live = Some(LiveSpec {
            every_ns: 1_000_000_000,
            lease_ns,
            backfill_ns,
        });
        d
    };
    assert!(live(1_000_000_000, 59_000_000_000).validate(&a).is_ok());
    range(&live(0, 0));
    range(&live(i64::MAX, 0));
    range(&live(1_000_000_000, 1_800_000_000_000_000_000));
    let mut d = deploy();
    d.timeout_ns = i64::MAX;
    range(&d);
    let mut d = deploy();
    d.send_to = SendTo::Merge {
        level: 1000,
        group: 0,
    };
    range(&d);
    let mut d = deploy();
    d.merge = Some(MergeSpec {
        level: 2,
        group: 0,
        children: vec![("n1".into(), vec!["n1".into()])],
    });
    d.send_to = SendTo::Merge { level: 1, group: 0 };
    range(&d);
    let mut d = deploy();
    d.qid = "loupe.v1.>".into();
    range(&d);
    let q = QueryRequest {
        origin: Default::default(),
        script: "s".into(),
        plan: plan(),
        node_timeout_ms: 0,
    };
    assert_eq!(q.validate(&a).unwrap_err().reason, Reason::Range);
    let l = LiveRequest {
        origin: Default::default(),
        script: "s".into(),
        plan: plan(),
        every_ns: 1_000_000_000,
        window_ns: 1_000_000_000 * 4000,
    };
    assert_eq!(l.validate(&a).unwrap_err().reason, Reason::Range);
    let t = TapHold {
        stage: "rows".into(),
        lease_ns: 0,
    };
    assert_eq!(t.validate(&a).unwrap_err().reason, Reason::Range);
}

#[test]
fn plans_that_do_not_check_are_refused() {
    let a = Arrival::any();
    let bad = |mutate: &dyn Fn(&mut Plan)| {
        let mut p = plan();
        mutate(&mut p);
        let q = QueryRequest {
            origin: Default::default(),
            script: "s".into(),
            plan: p,
            node_timeout_ms: 1000,
        };
        let e = q.validate(&a).unwrap_err();
        assert_eq!(e.reason, Reason::Plan, "{e}");
        e.message
    };
    // An input that does not come before its reader.
    let m = bad(&|p| {
        if let Op::Map { input, .. } = &mut p.nodes[1].op {
            *input = 7;
        }
    });
    assert!(m.contains("does not come before"), "{m}");
    // A sink of an operator that is not there.
    bad(&|p| p.sinks[0].input = 99);
    // A union of nothing.
    let m = bad(&|p| {
        p.nodes.push(loupe_topology::plan::PlanNode {
            op: Op::Union { inputs: vec![] },
            schema: Default::default(),
        })
    });
    assert!(m.contains("append of no frames"), "{m}");
    // A type mismatch: the schema says STRING where the operator gives FLOAT64.
    bad(&|p| p.nodes[1].schema.fields[0].dtype = loupe_topology::plan::DType::String);
    // A comparison of a string with a number.
    bad(&|p| {
        if let Op::Map { exprs, .. } = &mut p.nodes[1].op {
            exprs[0].1 = Expr::Binary(
                BinOp::Lt,
                Box::new(Expr::col("service")),
                Box::new(Expr::Lit(Scalar::Int64(1))),
            );
        }
    });
    // A quantile beyond 1.
    bad(&|p| {
        for n in &mut p.nodes {
            if let Op::Aggregate { aggs, .. } = &mut n.op {
                for a in aggs {
                    if let loupe_topology::plan::AggFunc::Quantile(q) = &mut a.func {
                        *q = 7.0;
                    }
                }
            }
        }
    });
}

#[test]
fn a_node_fragment_checks_its_outputs() {
    let mut f = split(&plan()).unwrap().node;
    assert!(f.check().is_ok());
    f.outputs[0].node = 1000;
    assert!(f.check().unwrap_err().contains("not in the fragment"));
    let mut f = split(&plan()).unwrap().node;
    let o = f.outputs[0].clone();
    f.outputs.push(o);
    assert!(f.check().unwrap_err().contains("sent twice"));
}

#[test]
fn a_message_of_another_query_or_node_is_refused() {
    let c = codec::encode(Kind::Cancel, &Cancel { qid: "q1".into() }).unwrap();
    let e = refused::<Cancel>(Kind::Cancel, &c, &Arrival::query("q2"));
    assert_eq!(e.reason, Reason::Subject);
    let s = NodeStatus {
        node: "n1".into(),
        ..Default::default()
    };
    let b = codec::encode(Kind::Heartbeat, &s).unwrap();
    let e = refused::<NodeStatus>(Kind::Heartbeat, &b, &Arrival::node("n2"));
    assert_eq!(e.reason, Reason::Subject);
    assert!(codec::receive::<NodeStatus>(Kind::Heartbeat, &b, &Arrival::node("n1")).is_ok());
}
