//! Kubernetes (issue 12), against a real kube-apiserver and etcd built
//! from upstream modules (`scripts/kube/build.sh`): no kubelet, no
//! controller-manager; the test writes the objects a cluster would have.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use loupe_itest::kube::KubeApiServer;
use loupe_itest::*;
use serde_json::json;

const CONTAINER: &str = "4c2f7a0e9d8b1c3a5e6f7081920a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c";

fn check(nats: &Nats) -> Result<String> {
    run(loupe().args(["check", "--nats", &nats.url]))
}

/// The value of a gauge line of `loupe check`.
fn gauge(check: &str, name: &str) -> Option<u64> {
    check
        .lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn one_planner_watches_the_cluster_and_agents_follow_over_nats() -> Result<()> {
    let dir = temp_dir("k8s-meta");
    let kube = KubeApiServer::start(&dir)?;
    let nats = Nats::start(&dir)?;
    let kc = kube.kubeconfig.to_string_lossy().into_owned();
    let p1 = Planner::start_with(&nats.url, "k1", &dir, &["--kubeconfig", &kc])?;
    let p2 = Planner::start_with(&nats.url, "k2", &dir, &["--kubeconfig", &kc])?;

    kube.send(
        "POST",
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "shop"}}),
    )?;
    kube.send(
        "POST",
        "/api/v1/nodes",
        &json!({"metadata": {"name": "kn1", "labels": {"kubernetes.io/os": "linux"}}}),
    )?;
    kube.send(
        "POST",
        "/api/v1/namespaces/shop/pods",
        &json!({
            "metadata": {"name": "api-1"},
            "spec": {"nodeName": "kn1", "containers": [{"name": "app", "image": "api:1"}]}
        }),
    )?;
    kube.send(
        "PATCH",
        "/api/v1/namespaces/shop/pods/api-1/status",
        &json!({"status": {
            "phase": "Running", "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}],
            "containerStatuses": [{
                "name": "app", "image": "api:1", "imageID": "", "ready": true, "restartCount": 0,
                "containerID": format!("containerd://{CONTAINER}"),
                "state": {"running": {}}
            }]
        }}),
    )?;
    let _agent = Agent::start(&nats, "kn1", &dir, &["--kubeconfig", &kc])?;

    let start = Instant::now();
    loop {
        let c = check(&nats)?;
        if gauge(&c, "loupe_metadata_objects{kind=\"pods\"}") == Some(1)
            && gauge(&c, "loupe_metadata_objects{kind=\"nodes\"}") == Some(1)
            && gauge(&c, "loupe_metadata_synced") == Some(1)
            && gauge(&c, "loupe_metadata_age_ms").is_some_and(|a| a < 30_000)
        {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            panic!("the agent never held the cluster's objects:\n{c}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // One planner watches; the other stands by.
    let leaders = [&p1, &p2]
        .iter()
        .filter(|p| {
            std::fs::read_to_string(&p.log)
                .unwrap_or_default()
                .contains("holding the metadata lease")
        })
        .count();
    assert_eq!(leaders, 1);
    Ok(())
}
