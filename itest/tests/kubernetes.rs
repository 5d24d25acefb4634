//! Kubernetes (issue 12), against a real kube-apiserver and etcd built
//! from upstream modules (`scripts/kube/build.sh`): no kubelet, no
//! controller-manager; the test writes the objects a cluster would have.

use std::time::{Duration, Instant};

use anyhow::Result;
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

/// A cgroup made by the test, named the way the kubelet names a
/// container's; the processes put in it go back to the root when it is
/// removed (on drop).
struct PodCgroup {
    dir: std::path::PathBuf,
    root: std::path::PathBuf,
}

impl PodCgroup {
    fn create(root: &str, rel: &str) -> Result<PodCgroup> {
        let root = std::path::PathBuf::from(root);
        let dir = root.join(rel);
        std::fs::create_dir_all(&dir)?;
        Ok(PodCgroup { dir, root })
    }

    fn add(&self, pid: u32) -> Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())?;
        Ok(())
    }
}

impl Drop for PodCgroup {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in procs.lines() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        // Leaf first, then the parents the test made.
        let mut d = self.dir.clone();
        while d != self.root && std::fs::remove_dir(&d).is_ok() {
            if !d.pop() {
                break;
            }
        }
    }
}

/// Creates a pod (bound to `node`) with one running container `id`, owned
/// by ReplicaSet `rs`; returns its uid.
fn create_pod(
    kube: &KubeApiServer,
    name: &str,
    node: &str,
    ip: &str,
    id: &str,
    rs: &(String, String),
) -> Result<String> {
    let out = kube.send(
        "POST",
        "/api/v1/namespaces/shop/pods",
        &json!({
            "metadata": {"name": name, "labels": {"app": "api"}, "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs.0, "uid": rs.1, "controller": true
            }]},
            "spec": {"nodeName": node, "containers": [{"name": "web", "image": "api:1"}]}
        }),
    )?;
    let uid = serde_json::from_str::<serde_json::Value>(&out)?["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    kube.send(
        "PATCH",
        &format!("/api/v1/namespaces/shop/pods/{name}/status"),
        &json!({"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "containerStatuses": [{
                "name": "web", "image": "api:1", "imageID": "", "ready": true, "restartCount": 0,
                "containerID": format!("containerd://{id}"), "state": {"running": {}}
            }]
        }}),
    )?;
    Ok(uid)
}

/// Real processes in cgroups named as the kubelet names them (the
/// cgroupfs driver on a cgroup v1 hierarchy, the systemd driver on the
/// unified v2 one) serve real HTTP; the agent names their rows with the
/// pods, service, deployment and container the API server holds.
#[test]
fn rows_of_processes_in_pods_carry_the_pods_names() -> Result<()> {
    let dir = temp_dir("k8s-pods");
    let kube = KubeApiServer::start(&dir)?;
    let nats = Nats::start(&dir)?;
    let kc = kube.kubeconfig.to_string_lossy().into_owned();
    let _planner = Planner::start_with(&nats.url, "k1", &dir, &["--kubeconfig", &kc])?;
    kube.send(
        "POST",
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "shop"}}),
    )?;
    kube.send(
        "POST",
        "/api/v1/nodes",
        &json!({"metadata": {"name": "kn1"}}),
    )?;
    let dep = kube.send(
        "POST",
        "/apis/apps/v1/namespaces/shop/deployments",
        &json!({
            "metadata": {"name": "api"},
            "spec": {"selector": {"matchLabels": {"app": "api"}},
                     "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "web", "image": "api:1"}]}}}
        }),
    )?;
    let dep_uid = serde_json::from_str::<serde_json::Value>(&dep)?["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rs = kube.send(
        "POST",
        "/apis/apps/v1/namespaces/shop/replicasets",
        &json!({
            "metadata": {"name": "api-5d", "labels": {"app": "api"}, "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": dep_uid, "controller": true
            }]},
            "spec": {"selector": {"matchLabels": {"app": "api"}},
                     "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "web", "image": "api:1"}]}}}
        }),
    )?;
    let rs_uid = serde_json::from_str::<serde_json::Value>(&rs)?["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rs = ("api-5d".to_string(), rs_uid);
    let (id1, id2) = ("a1".repeat(32), "b2".repeat(32));
    let uid1 = create_pod(&kube, "api-1", "kn1", "10.1.0.5", &id1, &rs)?;
    let uid2 = create_pod(&kube, "api-2", "kn1", "10.1.0.6", &id2, &rs)?;
    kube.send(
        "POST",
        "/api/v1/namespaces/shop/services",
        &json!({"metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}}),
    )?;
    kube.send(
        "POST",
        "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
        &json!({
            "metadata": {"name": "api-x", "labels": {"kubernetes.io/service-name": "api"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.1.0.5"], "targetRef": {"kind": "Pod", "name": "api-1", "namespace": "shop", "uid": uid1}},
                {"addresses": ["10.1.0.6"], "targetRef": {"kind": "Pod", "name": "api-2", "namespace": "shop", "uid": uid2}}
            ]
        }),
    )?;
    let agent = Agent::start(&nats, "kn1", &dir, &["--kubeconfig", &kc])?;

    // Pod 1: cgroupfs driver, cgroup v1 (pids); pod 2: systemd driver, v2.
    let g1 = PodCgroup::create(
        "/sys/fs/cgroup/pids",
        &format!("kubepods/besteffort/pod{uid1}/{id1}"),
    )?;
    let g2 = PodCgroup::create(
        "/sys/fs/cgroup/unified",
        &format!(
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{id2}.scope",
            uid2.replace('-', "_")
        ),
    )?;
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), "ok")?;
    let mut servers = Vec::new();
    for g in [&g1, &g2] {
        let port = free_port();
        let p = Proc::spawn(
            "python http.server",
            std::process::Command::new("python3")
                .args([
                    "-m",
                    "http.server",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                ])
                .arg(&www),
            &dir.join(format!("http-{port}.log")),
        )?;
        g.add(p.pid())?;
        wait_for_port(port, Duration::from_secs(10))?;
        servers.push((p, port));
    }
    std::thread::sleep(Duration::from_secs(1));
    for (_, port) in &servers {
        for _ in 0..3 {
            run(std::process::Command::new("curl").args([
                "-s",
                "-o",
                "/dev/null",
                &format!("http://127.0.0.1:{port}/"),
            ]))?;
        }
    }
    let script = "import px\ndf = px.DataFrame('http_events', start_time='-5m')\ndf = df[df.trace_role == 2]\ndf.p = df.ctx['pod']\ndf.s = df.ctx['service']\ndf.d = df.ctx['deployment']\ndf.ns = df.ctx['namespace']\ndf.c = df.ctx['container']\ndf.id = df.ctx['pod_id']\npx.display(df.groupby(['p', 's', 'd', 'ns', 'c', 'id', 'local_port']).agg(n=('resp_status', px.count)), 'pods')\n";
    let start = Instant::now();
    loop {
        let out = loupe_run(&nats.url, &dir, script, &[])?;
        if out.code == 0 {
            let v = out.json()?;
            let rows: Vec<serde_json::Value> = v["tables"][0]["rows"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let want = |pod: &str, uid: &str, port: u16| {
                rows.iter().any(|r| {
                    r["p"] == pod
                        && r["s"] == "shop/api"
                        && r["d"] == "shop/api"
                        && r["ns"] == "shop"
                        && r["c"] == "web"
                        && r["id"] == uid
                        && r["local_port"] == port
                        && r["n"] == 3
                })
            };
            if want("shop/api-1", &uid1, servers[0].1) && want("shop/api-2", &uid2, servers[1].1) {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("the pods' rows are not named right: {rows:?}");
            }
        } else if start.elapsed() > Duration::from_secs(30) {
            panic!("{}{}", out.stdout, out.stderr);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(servers);
    drop(agent);
    Ok(())
}
