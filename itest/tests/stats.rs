//! The sampled tables (issue 13) against the other side's own numbers:
//! `conn_stats` against what a client and a server know they moved and the
//! network namespace's TCP counters (`/proc/net/snmp`) when nftables drops
//! data segments; `process_stats` against `/proc` read by the test for a
//! process that did known work; `network_stats` against `ip -s link` in the
//! namespace; then the seed's three questions on that traffic.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use loupe_itest::cluster::Netns;
use loupe_itest::servers::scripts_dir;
use loupe_itest::*;
use serde_json::Value;

/// Rows of a script's first table, once `ok(rows)` holds (or the last
/// rows when `timeout` passes, for the assertion's message).
fn rows_until(
    nats: &Nats,
    dir: &Path,
    script: &str,
    timeout: Duration,
    ok: impl Fn(&[Value]) -> bool,
) -> Result<Vec<Value>> {
    let start = Instant::now();
    loop {
        let out = loupe_run(&nats.url, dir, script, &[])?;
        let rows = if out.code == 0 {
            out.json()?["tables"][0]["rows"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if ok(&rows) {
            return Ok(rows);
        }
        if start.elapsed() > timeout {
            bail!(
                "timed out; last rows: {rows:?}\nexit {}: {}",
                out.code,
                out.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(700));
    }
}

fn wait_file(path: &Path, timeout: Duration) -> Result<Value> {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(v) = serde_json::from_str::<Value>(&s)
        {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            bail!("{} never written", path.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `Tcp:` counters of the namespace (`/proc/net/snmp` inside it).
fn tcp_mib(ns: &Netns) -> Result<std::collections::HashMap<String, i64>> {
    let text = run(ns.exec("cat").arg("/proc/net/snmp"))?;
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("Tcp:")).collect();
    if lines.len() != 2 {
        bail!("no Tcp lines in /proc/net/snmp: {text}");
    }
    Ok(lines[0]
        .split_whitespace()
        .zip(lines[1].split_whitespace())
        .skip(1)
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect())
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(-1)
}

#[test]
fn conn_stats_equal_what_the_peers_and_the_kernel_counted() -> Result<()> {
    let dir = temp_dir("connstats");
    let nats = Nats::start(&dir)?;
    let _planner = Planner::start(&nats.url, "p1", &dir)?;
    let ns = Netns::create("cs")?;
    // Small segments on loopback, and one data segment in ten dropped on
    // arrival (this kernel has no netem): the kernel retransmits.
    run(ns.exec("ip").args(["link", "set", "lo", "mtu", "1500"]))?;
    let rules = dir.join("lossy.nft");
    std::fs::write(
        &rules,
        "table inet lossy {\n  chain in {\n    type filter hook input priority 0;\n    tcp flags & (syn | rst | fin) == 0 meta length > 120 numgen random mod 10 == 0 counter drop\n  }\n}\n",
    )?;
    run(ns.exec("nft").arg("-f").arg(&rules)).context("nft (apt-get install nftables)")?;
    let _agent = Agent::start(&nats, "cs", &dir, &["--netns", &ns.name])?;
    let before = tcp_mib(&ns)?;

    let (conns, size, reset_every) = (24, 48_000, 4);
    let port = free_port();
    let peer = scripts_dir().join("conn_peer.py");
    let (srv_out, cli_out) = (dir.join("server.json"), dir.join("client.json"));
    let mut server = Proc::spawn(
        "conn_peer server",
        ns.exec("python3")
            .arg(&peer)
            .args([
                "server",
                &port.to_string(),
                &conns.to_string(),
                &reset_every.to_string(),
            ])
            .arg(&srv_out),
        &dir.join("server.log"),
    )?;
    let start = Instant::now();
    while run(ns.exec("python3").args([
        "-c",
        &format!("import socket; socket.socket().bind(('127.0.0.1', {port}))"),
    ]))
    .is_ok()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "server never bound"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut client = Proc::spawn(
        "conn_peer client",
        ns.exec("python3")
            .arg(&peer)
            .args([
                "client",
                &port.to_string(),
                &conns.to_string(),
                &size.to_string(),
            ])
            .arg(&cli_out),
        &dir.join("client.log"),
    )?;
    let srv = wait_file(&srv_out, Duration::from_secs(120))?;
    let cli = wait_file(&cli_out, Duration::from_secs(120))?;
    assert_eq!(int(&srv["resets"]), (conns / reset_every) as i64);
    assert_eq!(int(&cli["resets"]), int(&srv["resets"]), "{cli} {srv}");

    // Retransmits settle (the last segments of closed sockets too).
    let mut retrans = -1;
    let settle = Instant::now();
    loop {
        let now = tcp_mib(&ns)?["RetransSegs"] - before["RetransSegs"];
        if now == retrans && settle.elapsed() > Duration::from_secs(3) {
            break;
        }
        retrans = now;
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        retrans > 0,
        "nothing was retransmitted: the drop rule did not bite"
    );

    let script = format!(
        "import px\ndf = px.DataFrame('conn_stats', start_time='-5m')\ndf.pid = df.ctx['pid']\ndf = df[(df.pid == {}) | (df.pid == {})]\ndf = df.groupby(['pid', 'trace_role', 'remote_addr']).agg(opened=('conn_open', px.max), closed=('conn_close', px.max), active=('conn_active', px.min), sent=('bytes_sent', px.max), recv=('bytes_recv', px.max), retrans=('retransmits', px.max), rst_sent=('resets_sent', px.max), rst_recv=('resets_received', px.max), lost=('lost_bytes', px.max), family=('addr_family', px.max))\npx.display(df, 'conns')\n",
        python_pid(server.pid())?,
        python_pid(client.pid())?
    );
    let side = |rows: &[Value], role: i64| -> Option<Value> {
        rows.iter().find(|r| int(&r["trace_role"]) == role).cloned()
    };
    let expect = |rows: &[Value]| -> bool {
        let (Some(s), Some(c)) = (side(rows, 2), side(rows, 1)) else {
            return false;
        };
        rows.len() == 2
            && int(&s["opened"]) == conns as i64
            && int(&s["closed"]) == conns as i64
            && int(&c["opened"]) == conns as i64
            && int(&c["closed"]) == conns as i64
            && int(&s["sent"]) == int(&srv["sent"])
            && int(&s["recv"]) == int(&srv["recv"])
            && int(&c["sent"]) == int(&cli["sent"])
            && int(&c["recv"]) == int(&cli["recv"])
            && int(&s["rst_sent"]) == int(&srv["resets"])
            && int(&c["rst_recv"]) == int(&cli["resets"])
            && int(&s["retrans"]) + int(&c["retrans"]) == retrans
    };
    let rows = rows_until(&nats, &dir, &script, Duration::from_secs(40), expect)
        .with_context(|| format!("server {srv}, client {cli}, netns retransmits {retrans}"))?;
    for r in &rows {
        assert_eq!(r["remote_addr"], "127.0.0.1");
        assert_eq!(int(&r["active"]), 0);
        assert_eq!(int(&r["family"]), 1);
        assert_eq!(int(&r["lost"]), 0, "the agent saw every byte: {r}");
    }
    eprintln!("conn_stats: {rows:?}; netns RetransSegs {retrans}");

    // The seed's first question: which connections churn, reset or retransmit?
    let churn = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../actors/tests/queries/cases/seed_connection_churn.pxl"),
    )?;
    let rows = rows_until(&nats, &dir, &churn, Duration::from_secs(20), |rows| {
        rows.iter().any(|r| int(&r["resets"]) > 0)
    })?;
    // Growth between the window's first and last samples (Pixie's rate
    // idiom) is all of it: a new group's first row is its zeros at the
    // sample before, so even a burst between two samples counts.
    let resets: i64 = rows.iter().map(|r| int(&r["resets"])).sum();
    assert_eq!(
        resets,
        2 * int(&srv["resets"]),
        "sent and received: {rows:?}"
    );
    assert!(int(&rows[0]["resets"]) > 0, "sorted by resets: {rows:?}");
    for r in &rows {
        assert_eq!(int(&r["opened"]), conns as i64, "{rows:?}");
    }
    let retransmitted: i64 = rows.iter().map(|r| int(&r["retransmits"])).sum();
    assert_eq!(retransmitted, retrans, "{rows:?}");
    server.kill();
    client.kill();
    Ok(())
}

#[test]
fn process_stats_equal_proc_for_a_process_that_did_known_work() -> Result<()> {
    let dir = temp_dir("procstats");
    let nats = Nats::start(&dir)?;
    let _planner = Planner::start(&nats.url, "p1", &dir)?;
    let ns = Netns::create("ps")?;
    let _agent = Agent::start(&nats, "ps", &dir, &["--netns", &ns.name])?;
    let ready = dir.join("ready");
    let busy = scripts_dir().join("busy.py");
    let mut worker = Proc::spawn(
        "busy",
        ns.exec("python3")
            .arg(&busy)
            .args(["96", "0.7"])
            .arg(&ready),
        &dir.join("busy.log"),
    )?;
    let mut burner = Proc::spawn(
        "burner",
        ns.exec("python3")
            .arg(&busy)
            .args(["8", "-1"])
            .arg(dir.join("burner-ready")),
        &dir.join("burner.log"),
    )?;
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "busy.py never got ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // `ip netns exec` runs the program as its child: the worker is the
    // python process whose parent is the spawned pid, or that pid itself.
    let pid = python_pid(worker.pid())?;
    let ready_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64;
    let script = format!(
        "import px\ndf = px.DataFrame('process_stats', start_time='-2m')\ndf.pid = df.ctx['pid']\ndf = df[df.pid == {pid}]\ndf.t = px.int64(df.time_)\npx.display(df.sort('t', ascending=False).head(1), 'latest')\n"
    );
    let rows = rows_until(&nats, &dir, &script, Duration::from_secs(20), |rows| {
        rows.first()
            .is_some_and(|r| int(&r["t"]) > ready_ns + 1_500_000_000)
    })?;
    let row = &rows[0];
    // /proc as the test reads it (the process is idle: nothing moves).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let f: Vec<&str> = stat[stat.rfind(')').context("stat")? + 2..]
        .split_whitespace()
        .collect();
    let field = |n: usize| -> i64 { f[n - 3].parse().unwrap_or(-1) };
    // SAFETY: sysconf has no preconditions.
    let (hz, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let io: std::collections::HashMap<String, i64> =
        std::fs::read_to_string(format!("/proc/{pid}/io"))?
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect();
    let want = [
        ("minor_faults", field(10)),
        ("major_faults", field(12)),
        ("cpu_utime_ns", field(14) * 1_000_000_000 / hz),
        ("cpu_ktime_ns", field(15) * 1_000_000_000 / hz),
        ("num_threads", field(20)),
        ("vsize_bytes", field(23)),
        ("rss_bytes", field(24) * page),
        ("rchar_bytes", io["rchar"]),
        ("wchar_bytes", io["wchar"]),
        ("read_bytes", io["read_bytes"]),
        ("write_bytes", io["write_bytes"]),
    ];
    for (col, v) in want {
        assert_eq!(int(&row[col]), v, "{col}: {row}");
    }
    assert!(int(&row["rss_bytes"]) > 96 << 20, "{row}");
    assert!(
        int(&row["cpu_utime_ns"]) + int(&row["cpu_ktime_ns"]) >= 600_000_000,
        "{row}"
    );
    assert!(int(&row["rchar_bytes"]) >= 1 << 20 && int(&row["wchar_bytes"]) >= 2 << 20);

    // The seed's second question: which processes consume CPU or memory?
    let top = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../actors/tests/queries/cases/seed_top_processes.pxl"),
    )?;
    let burner_pid = python_pid(burner.pid())?;
    let rows = rows_until(&nats, &dir, &top, Duration::from_secs(20), |rows| {
        rows.first()
            .is_some_and(|r| int(&r["pid"]) == burner_pid as i64)
    })?;
    let cpu = rows[0]["cpu_pct"].as_f64().unwrap_or(0.0);
    assert!(
        cpu > 50.0 && cpu < 110.0,
        "a burner uses about one core: {rows:?}"
    );
    let out = loupe_run(&nats.url, &dir, &top, &[])?;
    let memory = &out.json()?["tables"][1]["rows"];
    assert_eq!(int(&memory[0]["pid"]), pid as i64, "{memory}");
    worker.kill();
    burner.kill();
    Ok(())
}

/// The python process `ip netns exec` started (its child, or itself).
fn python_pid(spawned: u32) -> Result<u32> {
    let start = Instant::now();
    loop {
        let comm = std::fs::read_to_string(format!("/proc/{spawned}/comm")).unwrap_or_default();
        if comm.trim().starts_with("python") {
            return Ok(spawned);
        }
        let children = std::fs::read_to_string(format!("/proc/{spawned}/task/{spawned}/children"))
            .unwrap_or_default();
        if let Some(c) = children.split_whitespace().next() {
            return Ok(c.parse()?);
        }
        if start.elapsed() > Duration::from_secs(5) {
            bail!("no python under pid {spawned}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn network_stats_equal_ip_link_in_the_namespace() -> Result<()> {
    let dir = temp_dir("netstats");
    let nats = Nats::start(&dir)?;
    let _planner = Planner::start(&nats.url, "p1", &dir)?;
    let (a, b) = (Netns::create("na")?, Netns::create("nb")?);
    // A pod's interface: eth0 in its namespace; quiet (no IPv6 chatter).
    let peer = format!("lp{}nsb", std::process::id() % 100_000);
    let tmp = format!("lp{}nsa", std::process::id() % 100_000);
    for ns in [&a, &b] {
        for k in ["all", "default"] {
            run(ns
                .exec("sysctl")
                .args(["-qw", &format!("net.ipv6.conf.{k}.disable_ipv6=1")]))?;
        }
    }
    run(std::process::Command::new("ip")
        .args(["link", "add", &tmp, "type", "veth", "peer", "name", &peer]))?;
    run(std::process::Command::new("ip").args(["link", "set", &tmp, "netns", &a.name]))?;
    run(std::process::Command::new("ip").args(["link", "set", &peer, "netns", &b.name]))?;
    run(a.exec("ip").args(["link", "set", &tmp, "name", "eth0"]))?;
    run(a
        .exec("ip")
        .args(["addr", "add", "10.7.0.1/24", "dev", "eth0"]))?;
    run(a.exec("ip").args(["link", "set", "eth0", "up"]))?;
    run(b
        .exec("ip")
        .args(["addr", "add", "10.7.0.2/24", "dev", &peer]))?;
    run(b.exec("ip").args(["link", "set", &peer, "up"]))?;
    let _agent = Agent::start(&nats, "na", &dir, &["--netns", &a.name])?;
    // A process lives in the namespace; it sends 200 datagrams of 1000
    // bytes to the other end (which answers with ICMP), then idles.
    let mut sender = Proc::spawn(
        "sender",
        a.exec("python3").args([
            "-c",
            "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(200):\n    s.sendto(b'x' * 1000, ('10.7.0.2', 9))\n    time.sleep(0.005)\nprint('sent', flush=True)\ntime.sleep(600)\n",
        ]),
        &dir.join("sender.log"),
    )?;
    let start = Instant::now();
    while !std::fs::read_to_string(dir.join("sender.log"))
        .unwrap_or_default()
        .contains("sent")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "sender never finished"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let sent_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64;
    let inode = std::fs::metadata(format!("/run/netns/{}", a.name))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))?;
    let pod_id = format!("na:netns:{inode}");
    let script = format!(
        "import px\ndf = px.DataFrame('network_stats', start_time='-2m')\ndf = df[df.pod_id == '{pod_id}']\ndf.t = px.int64(df.time_)\npx.display(df.sort('t', ascending=False).head(1), 'latest')\n"
    );
    let rows = rows_until(&nats, &dir, &script, Duration::from_secs(20), |rows| {
        rows.first()
            .is_some_and(|r| int(&r["t"]) > sent_at + 1_500_000_000)
    })?;
    let row = &rows[0];
    let link: Value = serde_json::from_str(&run(a
        .exec("ip")
        .args(["-s", "-j", "link", "show", "eth0"]))?)?;
    let st = &link[0]["stats64"];
    for (col, v) in [
        ("rx_bytes", &st["rx"]["bytes"]),
        ("rx_packets", &st["rx"]["packets"]),
        ("rx_errors", &st["rx"]["errors"]),
        ("rx_drops", &st["rx"]["dropped"]),
        ("tx_bytes", &st["tx"]["bytes"]),
        ("tx_packets", &st["tx"]["packets"]),
        ("tx_errors", &st["tx"]["errors"]),
        ("tx_drops", &st["tx"]["dropped"]),
    ] {
        assert_eq!(int(&row[col]), int(v), "{col}: {row} vs {st}");
    }
    assert!(
        int(&row["tx_packets"]) >= 200 && int(&row["tx_bytes"]) >= 200_000,
        "{row}"
    );

    // The seed's third question: which pods generate unusual volume?
    let talkers = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../actors/tests/queries/cases/seed_pod_bytes.pxl"),
    )?;
    let out = loupe_run(&nats.url, &dir, &talkers, &[])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let top = &out.json()?["tables"][1]["rows"];
    assert!(
        top.as_array()
            .is_some_and(|t| t.iter().any(|r| r["pod_id"] == pod_id.as_str())),
        "{top}"
    );
    sender.kill();
    Ok(())
}
