//! Kubernetes (issue 12), against a real kube-apiserver and etcd built
//! from upstream modules (`scripts/kube/build.sh`): no kubelet, no
//! controller-manager; the test writes the objects a cluster would have.

use std::time::{Duration, Instant};

use anyhow::Result;
use loupe_itest::cluster::{Netns, veth};
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

fn uid_of(created: &str) -> Result<String> {
    Ok(
        serde_json::from_str::<serde_json::Value>(created)?["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// A pod bound to `node` in namespace `ns`, labelled `app=<app>`, running
/// one container `id` at `ip`; returns its uid.
fn running_pod(
    kube: &KubeApiServer,
    ns: &str,
    name: &str,
    node: &str,
    app: &str,
    ip: &str,
    id: &str,
) -> Result<String> {
    let uid = uid_of(&kube.send(
        "POST",
        &format!("/api/v1/namespaces/{ns}/pods"),
        &json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": format!("{app}:1")}]}
        }),
    )?)?;
    kube.send(
        "PATCH",
        &format!("/api/v1/namespaces/{ns}/pods/{name}/status"),
        &json!({"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{
                "name": "main", "image": format!("{app}:1"), "imageID": "", "ready": true, "restartCount": 0,
                "containerID": format!("containerd://{id}"), "state": {"running": {}}
            }]
        }}),
    )?;
    Ok(uid)
}

/// A Service `ns/name` with `cluster_ip`, and the EndpointSlice that says
/// which pods back it.
fn service(
    kube: &KubeApiServer,
    ns: &str,
    name: &str,
    cluster_ip: &str,
    pods: &[(&str, &str, &str)],
) -> Result<()> {
    kube.send(
        "POST",
        &format!("/api/v1/namespaces/{ns}/services"),
        &json!({"metadata": {"name": name}, "spec": {"clusterIP": cluster_ip, "selector": {"app": name}, "ports": [{"port": 8080}]}}),
    )?;
    let endpoints: Vec<serde_json::Value> = pods
        .iter()
        .map(|(ip, pod, uid)| {
            json!({"addresses": [ip], "targetRef": {"kind": "Pod", "name": pod, "namespace": ns, "uid": uid}})
        })
        .collect();
    kube.send(
        "POST",
        &format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
        &json!({
            "metadata": {"name": format!("{name}-x"), "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": endpoints,
        }),
    )?;
    Ok(())
}

/// A python HTTP server inside `ns` on `ip:port`, in `cgroup`.
fn http_server(
    dir: &std::path::Path,
    ns: &Netns,
    ip: &str,
    port: u16,
    cgroup: &PodCgroup,
) -> Result<Proc> {
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), "ok")?;
    let p = Proc::spawn(
        "python http.server",
        ns.exec("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                ip,
                "--directory",
            ])
            .arg(&www),
        &dir.join(format!("http-{ip}-{port}.log")),
    )?;
    cgroup.add(p.pid())?;
    let start = Instant::now();
    while run(ns.exec("python3").args([
        "-c",
        &format!("import socket; socket.create_connection(('{ip}', {port}), 1)"),
    ]))
    .is_err()
    {
        if start.elapsed() > Duration::from_secs(10) {
            panic!("the server in {} never listened", ns.name);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(p)
}

/// A client process in `ns`, put in `cgroup` before it connects (`ip
/// netns exec` mounts a sysfs of its own, so the test moves it), making
/// `n` requests to `url`, then lingering a second, so the agent reads its
/// metadata while it lives.
fn client(
    dir: &std::path::Path,
    ns: &Netns,
    cgroup: &PodCgroup,
    url: &str,
    n: usize,
) -> Result<()> {
    let log = dir.join(format!("client-{}.log", free_port()));
    let mut p = Proc::spawn(
        "python client",
        ns.exec("python3").args([
            "-c",
            &format!(
                "import time, urllib.request\ntime.sleep(1)\nfor _ in range({n}):\n    urllib.request.urlopen('{url}').read()\ntime.sleep(1)\n"
            ),
        ]),
        &log,
    )?;
    cgroup.add(p.pid())?;
    let start = Instant::now();
    loop {
        if let Some(status) = p.child.try_wait()? {
            assert!(
                status.success(),
                "the client failed: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            panic!("the client did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `script` until `ok` holds of its JSON answer (30 s at most).
fn answer_until(
    nats: &Nats,
    dir: &std::path::Path,
    script: &str,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> Result<serde_json::Value> {
    let start = Instant::now();
    loop {
        let out = loupe_run(&nats.url, dir, script, &[])?;
        if out.code == 0 {
            let v = out.json()?;
            if ok(&v) {
                return Ok(v);
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("{what}: {}", serde_json::to_string_pretty(&v["tables"])?);
            }
        } else if start.elapsed() > Duration::from_secs(30) {
            panic!("{what}: {}{}", out.stdout, out.stderr);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn rows(v: &serde_json::Value, table: usize) -> Vec<serde_json::Value> {
    v["tables"][table]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Pods with their own network namespaces and addresses talk over a veth:
/// the caller's rows name the callee pod by IP (`px.ip_to_pod_id`) at the
/// row's time, also after the pod is deleted and its IP goes to a new pod;
/// the namespace filter, `ctx['pod']` and Pixie's dependency idiom answer
/// from the real API server's objects.
#[test]
fn pods_name_their_peers_by_ip_at_the_rows_time() -> Result<()> {
    let dir = temp_dir("k8s-ips");
    let kube = KubeApiServer::start(&dir)?;
    let nats = Nats::start(&dir)?;
    let kc = kube.kubeconfig.to_string_lossy().into_owned();
    let _planner = Planner::start_with(&nats.url, "k1", &dir, &["--kubeconfig", &kc])?;
    for ns in ["shop", "web"] {
        kube.send(
            "POST",
            "/api/v1/namespaces",
            &json!({"metadata": {"name": ns}}),
        )?;
    }
    kube.send(
        "POST",
        "/api/v1/nodes",
        &json!({"metadata": {"name": "kn1"}}),
    )?;
    let (id_api1, id_api3, id_front) = ("a1".repeat(32), "a3".repeat(32), "f0".repeat(32));
    let api1 = running_pod(&kube, "shop", "api-1", "kn1", "api", "10.1.0.5", &id_api1)?;
    let front = running_pod(
        &kube, "web", "front-1", "kn1", "front", "10.1.0.7", &id_front,
    )?;
    service(
        &kube,
        "shop",
        "api",
        "10.96.0.50",
        &[("10.1.0.5", "api-1", &api1)],
    )?;
    service(
        &kube,
        "web",
        "front",
        "10.96.0.51",
        &[("10.1.0.7", "front-1", &front)],
    )?;
    let _agent = Agent::start(&nats, "kn1", &dir, &["--kubeconfig", &kc])?;

    let (pod_ns_front, pod_ns_api) = (Netns::create("front")?, Netns::create("api")?);
    veth(&pod_ns_front, "10.1.0.7", &pod_ns_api, "10.1.0.5", "p")?;
    let g_front = PodCgroup::create(
        "/sys/fs/cgroup/pids",
        &format!("kubepods/besteffort/pod{front}/{id_front}"),
    )?;
    let g_api1 = PodCgroup::create(
        "/sys/fs/cgroup/pids",
        &format!("kubepods/besteffort/pod{api1}/{id_api1}"),
    )?;
    let mut server = http_server(&dir, &pod_ns_api, "10.1.0.5", 8080, &g_api1)?;
    std::thread::sleep(Duration::from_secs(1));
    client(&dir, &pod_ns_front, &g_front, "http://10.1.0.5:8080/", 4)?;

    // The caller's side: its rows name the callee by IP.
    let callees = "import px\ndf = px.DataFrame('http_events', start_time='-5m')\ndf = df[df.trace_role == 1]\ndf = df[df.ctx['namespace'] == 'web']\ndf.caller = df.ctx['pod']\ndf.callee_id = px.ip_to_pod_id(df.remote_addr)\ndf.callee = px.pod_id_to_pod_name(df.callee_id)\ndf.callee_service = px.pod_id_to_service_name(df.callee_id)\npx.display(df.groupby(['caller', 'callee', 'callee_id', 'callee_service']).agg(n=('remote_addr', px.count)), 'callees')\n";
    answer_until(&nats, &dir, callees, "the callee is named by IP", |v| {
        let r = rows(v, 0);
        r.len() == 1
            && r[0]["caller"] == "web/front-1"
            && r[0]["callee"] == "shop/api-1"
            && r[0]["callee_id"] == api1.as_str()
            && r[0]["callee_service"] == "shop/api"
            && r[0]["n"] == 4
    })?;

    // Pixie's dependency idiom, from the callee's side: who calls whom,
    // by service; filtered to the callee's namespace.
    let deps = "import px\ndf = px.DataFrame('http_events', start_time='-5m')\ndf = df[df.trace_role == 2]\ndf = df[df.ctx['namespace'] == 'shop']\ndf.requestor = px.pod_id_to_service_name(px.ip_to_pod_id(df.remote_addr))\ndf.responder = df.ctx['service']\npx.display(df.groupby(['requestor', 'responder']).agg(n=('latency', px.count)), 'edges')\n";
    answer_until(&nats, &dir, deps, "the dependency edge", |v| {
        let r = rows(v, 0);
        r.len() == 1
            && r[0]["requestor"] == "web/front"
            && r[0]["responder"] == "shop/api"
            && r[0]["n"] == 4
    })?;

    // api-1 goes (a forced delete: no kubelet to confirm it) and its IP is
    // given to a new pod, api-3, with a new server process.
    std::thread::sleep(Duration::from_millis(1500));
    kube.send(
        "DELETE",
        "/api/v1/namespaces/shop/pods/api-1",
        &json!({"gracePeriodSeconds": 0}),
    )?;
    server.kill();
    drop(g_api1);
    std::thread::sleep(Duration::from_millis(1500));
    let api3 = running_pod(&kube, "shop", "api-3", "kn1", "api", "10.1.0.5", &id_api3)?;
    let g_api3 = PodCgroup::create(
        "/sys/fs/cgroup/pids",
        &format!("kubepods/besteffort/pod{api3}/{id_api3}"),
    )?;
    let _server3 = http_server(&dir, &pod_ns_api, "10.1.0.5", 8080, &g_api3)?;
    std::thread::sleep(Duration::from_millis(1500));
    client(&dir, &pod_ns_front, &g_front, "http://10.1.0.5:8080/", 3)?;
    answer_until(
        &nats,
        &dir,
        callees,
        "rows before the reuse name api-1, after it api-3",
        |v| {
            let r = rows(v, 0);
            let n = |pod: &str, uid: &str| {
                r.iter()
                    .find(|x| x["callee"] == pod && x["callee_id"] == uid)
                    .map(|x| x["n"].clone())
            };
            r.len() == 2
                && n("shop/api-1", &api1) == Some(json!(4))
                && n("shop/api-3", &api3) == Some(json!(3))
        },
    )?;
    Ok(())
}

/// `loupe nodes -o json` and its exit code.
fn nodes_json(nats: &Nats) -> Result<(i32, serde_json::Value, String)> {
    let out = loupe()
        .args(["nodes", "-o", "json", "--nats", &nats.url])
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let start = Instant::now();
    let mut last_err = String::new();
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = e.to_string(),
        }
        if start.elapsed() > Duration::from_secs(secs) {
            panic!("{what} (after {secs} s) {last_err}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The seed's first check: every schedulable Linux node of the cluster
/// has a reporting agent, or `loupe nodes` says which has none and why
/// (no agent pod and a taint, an agent pod crash-looping) and exits 1.
/// The metadata outlives the API server and NATS: its age grows while the
/// API server is away, the watches resume when it is back, and agents
/// pick up again after NATS restarts.
#[test]
fn nodes_without_agents_are_named_and_metadata_survives_restarts() -> Result<()> {
    let dir = temp_dir("k8s-cover");
    let mut kube = KubeApiServer::start(&dir)?;
    let mut nats = Nats::start(&dir)?;
    let kc = kube.kubeconfig.to_string_lossy().into_owned();
    let _planner = Planner::start_with(&nats.url, "k1", &dir, &["--kubeconfig", &kc])?;
    for ns in ["loupe", "shop"] {
        kube.send(
            "POST",
            "/api/v1/namespaces",
            &json!({"metadata": {"name": ns}}),
        )?;
    }
    kube.send(
        "POST",
        "/api/v1/nodes",
        &json!({"metadata": {"name": "kn1"}}),
    )?;
    kube.send(
        "POST",
        "/api/v1/nodes",
        &json!({"metadata": {"name": "kn2"}, "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
    )?;
    kube.send(
        "POST",
        "/api/v1/nodes",
        &json!({"metadata": {"name": "kn3"}}),
    )?;
    kube.send(
        "POST",
        "/api/v1/nodes",
        &json!({"metadata": {"name": "kn4"}, "spec": {"unschedulable": true}}),
    )?;
    // kn3's agent pod crash-loops.
    kube.send(
        "POST",
        "/api/v1/namespaces/loupe/pods",
        &json!({
            "metadata": {"name": "loupe-agent-x7", "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "loupe-agent",
                "uid": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "controller": true
            }]},
            "spec": {"nodeName": "kn3", "containers": [{"name": "agent", "image": "loupe:1"}]}
        }),
    )?;
    kube.send(
        "PATCH",
        "/api/v1/namespaces/loupe/pods/loupe-agent-x7/status",
        &json!({"status": {"phase": "Running", "containerStatuses": [{
            "name": "agent", "image": "loupe:1", "imageID": "", "ready": false, "restartCount": 7,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}
        }]}}),
    )?;
    let _agent = Agent::start(&nats, "kn1", &dir, &["--kubeconfig", &kc])?;

    let (code, v, stderr) = until("loupe nodes lists the cluster's four nodes", 60, || {
        let (code, v, stderr) = nodes_json(&nats)?;
        let n = v["cluster"]["nodes"].as_array().map_or(0, Vec::len);
        let kn1_ok = v["cluster"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["node"] == "kn1" && n["covered"] == true);
        Ok((n == 4 && kn1_ok).then_some((code, v, stderr)))
    })?;
    assert_eq!(code, 1, "{stderr}");
    let node = |name: &str| {
        v["cluster"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["node"] == name)
            .cloned()
            .unwrap_or_default()
    };
    let reason = |name: &str| {
        node(name)["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(reason("kn2").contains("dedicated=gpu:NoSchedule"), "{v}");
    assert!(
        reason("kn3").contains("loupe/loupe-agent-x7")
            && reason("kn3").contains("CrashLoopBackOff"),
        "{v}"
    );
    assert_eq!(node("kn4")["needs_agent"], false, "{v}");
    assert!(
        stderr.contains("kn2") && stderr.contains("kn3") && !stderr.contains("kn4 ("),
        "{stderr}"
    );

    let pods_seen = |nats: &Nats| -> Result<Option<u64>> {
        Ok(gauge(
            &check(nats)?,
            "loupe_metadata_objects{kind=\"pods\"}",
        ))
    };
    assert_eq!(pods_seen(&nats)?, Some(1));

    // The API server goes away: the state stays, and its age grows.
    kube.stop();
    until(
        "the metadata's age grows while the API server is away",
        60,
        || {
            let (_, v, _) = nodes_json(&nats)?;
            Ok(v["cluster"]["metadata_age_s"].as_f64().filter(|a| *a > 8.0))
        },
    )?;
    assert_eq!(pods_seen(&nats)?, Some(1), "the last known state is kept");
    kube.restart()?;
    running_pod(
        &kube,
        "shop",
        "late-1",
        "kn1",
        "late",
        "10.1.0.9",
        &"c1".repeat(32),
    )?;
    until(
        "the watches resume after the API server is back",
        60,
        || Ok((pods_seen(&nats)? == Some(2)).then_some(())),
    )?;
    until("the age is small again", 30, || {
        let (_, v, _) = nodes_json(&nats)?;
        Ok(v["cluster"]["metadata_age_s"].as_f64().filter(|a| *a < 8.0))
    })?;

    // NATS goes away and comes back (its JetStream store with it).
    nats.stop();
    std::thread::sleep(Duration::from_secs(2));
    nats.restart(&dir)?;
    running_pod(
        &kube,
        "shop",
        "late-2",
        "kn1",
        "late",
        "10.1.0.10",
        &"c2".repeat(32),
    )?;
    until("the agent follows again after NATS restarts", 60, || {
        let c = check(&nats)?;
        // Every process that reports (planner and agent) holds the pod.
        let seen: Vec<u64> = c
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("loupe_metadata_objects{kind=\"pods\"}")
            })
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        Ok((!seen.is_empty() && seen.iter().all(|n| *n == 3)).then_some(()))
    })?;
    Ok(())
}

/// The chart in k8s/deploy: `helm lint` passes, and `helm install` into
/// the real API server (no kubelet: objects are stored, no pod runs)
/// creates what it says, with the least RBAC: the planner may get, list
/// and watch the seven kinds and nothing else; the agent may do nothing.
#[test]
fn the_helm_chart_installs_into_a_real_api_server_with_least_privilege() -> Result<()> {
    let dir = temp_dir("k8s-helm");
    let kube = KubeApiServer::start(&dir)?;
    let helm = loupe_itest::kube::binaries()?.join("helm");
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/deploy/loupe");
    let lint = run(std::process::Command::new(&helm)
        .arg("lint")
        .arg(&chart)
        .args(["--strict"]))?;
    assert!(lint.contains("0 chart(s) failed"), "{lint}");

    // The credentials Secret, from `loupe auth init`, as the chart's
    // README says to make it.
    let auth = dir.join("auth");
    run(loupe().args(["auth", "init"]).arg(&auth))?;
    let mut data = serde_json::Map::new();
    for f in [
        "nats-server.conf",
        "agent.creds",
        "planner.creds",
        "reader.creds",
        "admin.creds",
        "users.json",
    ] {
        use base64::Engine;
        let b = std::fs::read(auth.join(f))?;
        data.insert(
            f.into(),
            base64::engine::general_purpose::STANDARD.encode(b).into(),
        );
    }
    let helm_env = |c: &mut std::process::Command| {
        c.env("HOME", dir.join("home"))
            .env("HELM_CACHE_HOME", dir.join("helm-cache"))
            .env("HELM_CONFIG_HOME", dir.join("helm-config"))
            .env("HELM_DATA_HOME", dir.join("helm-data"));
    };
    let mut install = std::process::Command::new(&helm);
    helm_env(&mut install);
    install.args(["install", "loupe"]).arg(&chart).args([
        "--namespace",
        "loupe",
        "--create-namespace",
        "--kubeconfig",
        &kube.kubeconfig.to_string_lossy(),
    ]);
    let out = run(&mut install)?;
    assert!(out.contains("STATUS: deployed"), "{out}");
    kube.send(
        "POST",
        "/api/v1/namespaces/loupe/secrets",
        &json!({"metadata": {"name": "loupe-auth"}, "data": data}),
    )?;

    let get =
        |path: &str| -> Result<serde_json::Value> { Ok(serde_json::from_str(&kube.get(path)?)?) };
    let ds = get("/apis/apps/v1/namespaces/loupe/daemonsets/loupe-agent")?;
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    assert_eq!(pod["containers"][0]["securityContext"]["privileged"], true);
    assert_eq!(pod["tolerations"][0]["operator"], "Exists");
    let env = pod["containers"][0]["env"].to_string();
    assert!(env.contains("spec.nodeName"), "{env}");
    let mounts = pod["containers"][0]["volumeMounts"].to_string();
    for m in ["/sys/kernel/tracing", "/sys/fs/bpf"] {
        assert!(mounts.contains(m), "{mounts}");
    }
    let planners = get("/apis/apps/v1/namespaces/loupe/deployments/loupe-planner")?;
    assert_eq!(planners["spec"]["replicas"], 2);
    get("/apis/policy/v1/namespaces/loupe/poddisruptionbudgets/loupe-planner")?;
    let nats = get("/apis/apps/v1/namespaces/loupe/statefulsets/loupe-nats")?;
    assert_eq!(nats["spec"]["replicas"], 3);
    for c in [&ds, &planners, &nats] {
        let limits = c["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].clone();
        assert!(limits.get("memory").is_some(), "{c}");
    }

    // The NATS config the chart renders, with the Secret's users
    // included, is one a real nats-server accepts.
    let cm = get("/api/v1/namespaces/loupe/configmaps/loupe-nats")?;
    let conf_dir = dir.join("nats-etc");
    std::fs::create_dir_all(conf_dir.join("auth"))?;
    std::fs::write(
        conf_dir.join("nats.conf"),
        cm["data"]["nats.conf"].as_str().unwrap_or_default(),
    )?;
    std::fs::copy(
        auth.join("nats-server.conf"),
        conf_dir.join("auth/nats-server.conf"),
    )?;
    let t = std::process::Command::new(which("nats-server")?)
        .arg("-c")
        .arg(conf_dir.join("nats.conf"))
        .arg("-t")
        .env("POD_NAME", "loupe-nats-0")
        .output()?;
    assert!(
        t.status.success(),
        "nats-server refused the chart's config: {}{}",
        String::from_utf8_lossy(&t.stdout),
        String::from_utf8_lossy(&t.stderr)
    );

    // What each service account may do, as the API server decides it.
    let may = |sa: &str, verb: &str, group: &str, resource: &str| -> Result<bool> {
        let r: serde_json::Value = serde_json::from_str(&kube.send(
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            &json!({"spec": {
                "user": format!("system:serviceaccount:loupe:{sa}"),
                "groups": ["system:serviceaccounts", "system:serviceaccounts:loupe", "system:authenticated"],
                "resourceAttributes": {"verb": verb, "group": group, "resource": resource}
            }}),
        )?)?;
        Ok(r["status"]["allowed"] == true)
    };
    for (group, resource) in [
        ("", "pods"),
        ("", "services"),
        ("", "nodes"),
        ("", "namespaces"),
        ("discovery.k8s.io", "endpointslices"),
        ("apps", "replicasets"),
        ("apps", "deployments"),
    ] {
        for verb in ["get", "list", "watch"] {
            assert!(
                may("loupe-planner", verb, group, resource)?,
                "planner {verb} {resource}"
            );
        }
        assert!(
            !may("loupe-planner", "create", group, resource)?,
            "planner create {resource}"
        );
        assert!(
            !may("loupe-agent", "list", group, resource)?,
            "agent list {resource}"
        );
    }
    assert!(!may("loupe-planner", "get", "", "secrets")?);
    assert!(!may("loupe-planner", "list", "", "configmaps")?);
    Ok(())
}
