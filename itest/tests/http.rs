//! The HTTP data path end to end: real nginx, curl, wrk and Python clients
//! and servers, a real nats-server and the real agent (eBPF). Ground truth is
//! nginx's access log and the Python server's own log.
//!
//! Needs root (eBPF). Run through the README's test command.

use anyhow::Result;
use loupe_itest::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const COLUMNS: &str = "req_method,req_path,resp_status,trace_role,local_port,remote_port,remote_addr,resp_latency,resp_body_size,req_body_size,cmdline,pid,req_headers";

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}
fn i(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or(-1)
}

fn scripts() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts"))
}

fn multiset(
    it: impl Iterator<Item = (String, String, i64)>,
) -> BTreeMap<(String, String, i64), usize> {
    let mut m = BTreeMap::new();
    for k in it {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

#[test]
fn http_rows_match_the_servers_own_records() -> Result<()> {
    let dir = temp_dir("http");
    let nats = Nats::start(&dir)?;
    let mut agent = Agent::start(&nats, "itest-http", &dir, &[])?;

    let odd_port = free_port();
    let odd_log = dir.join("odd.log");
    let _odd = Proc::spawn(
        "odd_server.py",
        Command::new("python3")
            .arg(scripts().join("odd_server.py"))
            .arg(odd_port.to_string())
            .arg(&odd_log),
        &dir.join("odd.out"),
    )?;
    wait_for_port(odd_port, Duration::from_secs(10))?;
    let nginx = Nginx::start(&dir.join("nginx"), Some(odd_port))?;
    let p = nginx.port;
    let base = format!("http://127.0.0.1:{p}");

    // curl: each invocation is one request; (method, path, status) expected.
    type Expect = (&'static str, &'static str, i64);
    let curls: Vec<(Vec<String>, Expect)> = vec![
        (vec![format!("{base}/")], ("GET", "/", 200)),
        (vec![format!("{base}/missing")], ("GET", "/missing", 404)),
        (vec![format!("{base}/empty")], ("GET", "/empty", 204)),
        (
            vec!["-I".into(), format!("{base}/index.html")],
            ("HEAD", "/index.html", 200),
        ),
        (
            vec!["-d".into(), "secret=1".into(), format!("{base}/post")],
            ("POST", "/post", 200),
        ),
        (
            vec![
                "-H".into(),
                "Authorization: Bearer hunter2".into(),
                format!("{base}/auth"),
            ],
            ("GET", "/auth", 404),
        ),
        (
            vec!["-g".into(), format!("http://[::1]:{p}/v6")],
            ("GET", "/v6", 404),
        ),
        (vec![format!("{base}/big.bin")], ("GET", "/big.bin", 200)),
    ];
    for (args, _) in &curls {
        run(Command::new("curl")
            .args(["-s", "-o", "/dev/null"])
            .args(args))?;
    }
    for _ in 0..5 {
        run(Command::new("curl").args(["-s", "-o", "/dev/null", &format!("{base}/slow")]))?;
    }
    for _ in 0..2 {
        run(Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{odd_port}/chunked"),
        ]))?;
    }
    // The server closes mid-response: curl fails, that is the point.
    let _ = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-m",
            "5",
            &format!("http://127.0.0.1:{odd_port}/closed"),
        ])
        .output()?;
    run(Command::new("python3")
        .arg(scripts().join("clients.py"))
        .args(["pipeline", &p.to_string()]))?;
    run(Command::new("python3")
        .arg(scripts().join("clients.py"))
        .args(["onebyte", &p.to_string()]))?;
    let udp_port = free_port();
    run(Command::new("python3")
        .arg(scripts().join("clients.py"))
        .args(["udp", &udp_port.to_string()]))?;
    // Load: one wrk thread, bounded in time.
    run(Command::new("wrk").args(["-t1", "-c4", "-d2s", &format!("{base}/index.html")]))?;

    std::thread::sleep(Duration::from_millis(500));
    let truth = nginx.access_log()?;
    assert!(
        truth.len() > 1000,
        "wrk drove only {} requests",
        truth.len()
    );
    let server_rows = |rows: &[Value]| -> Vec<Value> {
        rows.iter()
            .filter(|r| i(r, "trace_role") == 2 && i(r, "local_port") == p as i64)
            .cloned()
            .collect()
    };
    agent.tail_until(COLUMNS, Duration::from_secs(30), |rows| {
        server_rows(rows).len() >= truth.len()
    })?;
    std::thread::sleep(Duration::from_millis(1000));
    let (rows, tail_stderr) = agent.tail(COLUMNS)?;
    assert!(
        agent.proc.alive(),
        "agent died: {}",
        std::fs::read_to_string(&agent.log)?
    );

    // 1. Every request nginx logged appears exactly once as a server-side row.
    let seen = multiset(
        server_rows(&rows)
            .iter()
            .map(|r| (s(r, "req_method"), s(r, "req_path"), i(r, "resp_status"))),
    );
    let want = multiset(truth.iter().cloned());
    if seen != want {
        let mut diff = Vec::new();
        for (k, n) in &want {
            let got = seen.get(k).copied().unwrap_or(0);
            if got != *n {
                diff.push(format!("{k:?}: nginx {n}, rows {got}"));
            }
        }
        for (k, n) in &seen {
            if !want.contains_key(k) {
                diff.push(format!("{k:?}: nginx 0, rows {n}"));
            }
        }
        panic!(
            "server rows differ from nginx's access log ({} lines):\n{}\n{tail_stderr}",
            truth.len(),
            diff.join("\n")
        );
    }

    // 2. curl's requests also appear as client-side rows (curl says who it is
    // in User-Agent; its short life can beat a /proc read of its cmdline).
    let curl_rows: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            i(r, "trace_role") == 1
                && i(r, "remote_port") == p as i64
                && s(r, "req_headers").contains("\"curl/")
        })
        .collect();
    let mut want_curl: Vec<(String, String, i64)> = curls
        .iter()
        .map(|(_, (m, path, st))| (m.to_string(), path.to_string(), *st))
        .collect();
    want_curl.extend((0..5).map(|_| ("GET".to_string(), "/slow".to_string(), 200)));
    assert_eq!(
        multiset(curl_rows.iter().map(|r| (
            s(r, "req_method"),
            s(r, "req_path"),
            i(r, "resp_status")
        ))),
        multiset(want_curl.into_iter())
    );
    // The process is named even when curl exited before /proc was read
    // (the kernel's comm and start time travel with the connection).
    for r in &curl_rows {
        assert!(s(r, "cmdline").starts_with("curl"), "{r}");
    }

    // 3. Latency. The Python upstream takes a known 200 ms: its server rows
    // show it within 10 %. nginx's rows are held to nginx's own clock: the
    // server side to $request_time, the client side (to the upstream) to
    // $upstream_response_time, within 10 % (and nginx's 1 ms resolution).
    let slow: Vec<&Value> = rows
        .iter()
        .filter(|r| s(r, "req_path") == "/slow")
        .collect();
    let lat = |r: &&Value| i(r, "resp_latency") as f64 / 1e6;
    let upstream: Vec<f64> = slow
        .iter()
        .filter(|r| i(r, "trace_role") == 2 && i(r, "local_port") == odd_port as i64)
        .map(lat)
        .collect();
    assert_eq!(upstream.len(), 5, "python upstream's server rows");
    for ms in &upstream {
        assert!(
            (180.0..=220.0).contains(ms),
            "upstream latency {ms} ms not within 200 ms ±10 %"
        );
    }
    let mut timings = nginx.timings("/slow")?;
    assert_eq!(timings.len(), 5);
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let close = |ours: f64, theirs: f64| (ours - theirs).abs() <= theirs * 0.10 + 1.0;
    let nginx_server = sorted(
        slow.iter()
            .filter(|r| i(r, "trace_role") == 2 && i(r, "local_port") == p as i64)
            .map(lat)
            .collect(),
    );
    let request_time = sorted(timings.iter().map(|t| t.0).collect());
    assert_eq!(nginx_server.len(), 5);
    for (ours, theirs) in nginx_server.iter().zip(&request_time) {
        assert!(
            close(*ours, *theirs),
            "nginx server side: ours {ours} ms, nginx $request_time {theirs} ms"
        );
    }
    let nginx_client = sorted(
        slow.iter()
            .filter(|r| i(r, "trace_role") == 1 && i(r, "remote_port") == odd_port as i64)
            .map(lat)
            .collect(),
    );
    timings.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(nginx_client.len(), 5);
    for (ours, theirs) in nginx_client.iter().zip(timings.iter().map(|t| t.1)) {
        assert!(
            close(*ours, theirs),
            "nginx to upstream: ours {ours} ms, nginx $upstream_response_time {theirs} ms"
        );
    }

    // 4. Chunked body: decoded size, on the server and the client side.
    let chunked: Vec<&Value> = rows
        .iter()
        .filter(|r| s(r, "req_path") == "/chunked")
        .collect();
    assert_eq!(
        chunked.len(),
        4,
        "2 requests x (server + client): {chunked:?}"
    );
    assert!(
        chunked
            .iter()
            .all(|r| i(r, "resp_status") == 200 && i(r, "resp_body_size") == 11),
        "{chunked:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&odd_log)?
            .lines()
            .filter(|l| *l == "GET /chunked")
            .count(),
        2
    );

    // 5. A 1 MB body (nginx sends it with sendfile: a gap of known length).
    let big: Vec<&Value> = rows
        .iter()
        .filter(|r| s(r, "req_path") == "/big.bin")
        .collect();
    assert_eq!(big.len(), 2, "server and client rows: {big:?}");
    assert!(
        big.iter().all(|r| i(r, "resp_body_size") == 1 << 20),
        "{big:?}"
    );

    // 6. IPv6 loopback.
    let v6: Vec<&Value> = rows.iter().filter(|r| s(r, "req_path") == "/v6").collect();
    assert_eq!(v6.len(), 2, "{v6:?}");
    assert!(v6.iter().all(|r| s(r, "remote_addr") == "::1"), "{v6:?}");

    // 7. Pipelined requests and a request written one byte per syscall: the
    // server side is covered by (1); the Python client side too.
    for path in ["/pipe1", "/pipe2", "/pipe3", "/onebyte"] {
        let client = rows
            .iter()
            .filter(|r| s(r, "req_path") == path && i(r, "trace_role") == 1)
            .count();
        assert_eq!(client, 1, "client row for {path}");
    }

    // 8. Closed mid-response: no complete response was seen, so no row claims one.
    let closed: Vec<&Value> = rows
        .iter()
        .filter(|r| s(r, "req_path") == "/closed")
        .collect();
    assert!(
        closed.is_empty(),
        "a truncated response must not become a row: {closed:?}"
    );

    // 9. Non-HTTP UDP: ignored, no rows, agent alive (checked above).
    assert!(
        rows.iter().all(
            |r| i(r, "remote_port") != udp_port as i64 && i(r, "local_port") != udp_port as i64
        )
    );

    // 10. Redaction: header values masked, bodies never stored.
    let auth = rows
        .iter()
        .find(|r| s(r, "req_path") == "/auth")
        .expect("auth row");
    assert!(!s(auth, "req_headers").contains("hunter2"), "{auth}");
    assert!(s(auth, "req_headers").contains("Authorization"), "{auth}");
    let post = rows
        .iter()
        .find(|r| s(r, "req_path") == "/post")
        .expect("post row");
    assert_eq!(i(post, "req_body_size"), 8);

    drop(nginx);
    Ok(())
}

#[test]
fn tail_without_nats_names_the_url() -> Result<()> {
    let url = format!("nats://127.0.0.1:{}", free_port());
    let out = loupe().args(["tail", "--nats", &url]).output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&url) && err.contains("cannot reach nats-server"),
        "{err}"
    );
    Ok(())
}

/// Python's http.server on a loopback port, serving `files` from `dir/www`.
fn file_server(dir: &Path, files: &[(&str, &[u8])]) -> Result<(Proc, u16)> {
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    for (name, body) in files {
        std::fs::write(www.join(name), body)?;
    }
    let port = free_port();
    let server = Proc::spawn(
        "python http.server",
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(&www),
        &dir.join("py.log"),
    )?;
    wait_for_port(port, Duration::from_secs(10))?;
    Ok((server, port))
}

#[test]
fn full_ring_buffer_is_counted_and_shown() -> Result<()> {
    let dir = temp_dir("ring");
    let nats = Nats::start(&dir)?;
    // The smallest ring and the largest capture per syscall: 64 KiB writes
    // cannot all fit, so the kernel must drop, count, and keep going.
    let agent = Agent::start(
        &nats,
        "itest-ring",
        &dir,
        &["--ring-kib", "64", "--payload-cap", "65536"],
    )?;
    let (_server, port) = file_server(&dir, &[("big", &vec![b'y'; 4 << 20])])?;
    for _ in 0..5 {
        run(Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{port}/big"),
        ]))?;
    }
    // The kernel counters are sampled every second.
    std::thread::sleep(Duration::from_millis(2500));
    let (_, stderr) = agent.tail("req_path")?;
    let drops: u64 = stderr
        .split("kernel drops ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(drops > 0, "tail shows no kernel drops: {stderr}");
    let check = run(loupe().args(["check", "--nats", &nats.url]))?;
    let line = check
        .lines()
        .find(|l| l.contains("loupe_capture_ringbuf_dropped_events_total"))
        .unwrap_or_default();
    assert!(
        line.split_whitespace()
            .last()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            > 0,
        "{check}"
    );
    let log = std::fs::read_to_string(&agent.log)?;
    assert!(
        log.contains("ring buffer full"),
        "agent log says nothing of the drops: {log}"
    );
    Ok(())
}

#[test]
fn agent_captures_before_nats_exists_and_answers_once_it_does() -> Result<()> {
    let dir = temp_dir("late-nats");
    let nats_port = free_port();
    // The agent starts against a URL where no server answers yet.
    let agent = Agent::start_with_url(
        &format!("nats://127.0.0.1:{nats_port}"),
        "itest-late",
        &dir,
        &[],
    )?;
    let (_server, port) = file_server(&dir, &[])?;
    for i in 0..3 {
        run(Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{port}/before-nats-{i}"),
        ]))?;
    }
    std::thread::sleep(Duration::from_millis(500));
    // Now the server comes up; the agent connects on its own.
    let _nats = Nats::start_on(&dir, nats_port)?;
    let rows = agent.tail_until(
        "req_path,trace_role,local_port",
        Duration::from_secs(20),
        |rows| {
            rows.iter()
                .filter(|r| i(r, "local_port") == port as i64)
                .count()
                >= 3
        },
    )?;
    let server: Vec<String> = rows
        .iter()
        .filter(|r| i(r, "local_port") == port as i64 && i(r, "trace_role") == 2)
        .map(|r| s(r, "req_path"))
        .collect();
    assert_eq!(
        server,
        vec!["/before-nats-0", "/before-nats-1", "/before-nats-2"]
    );
    let log = std::fs::read_to_string(&agent.log)?;
    assert!(log.contains("connected to NATS"), "{log}");
    Ok(())
}

#[test]
fn tail_with_no_agent_says_so_at_once() -> Result<()> {
    let dir = temp_dir("no-agent");
    let nats = Nats::start(&dir)?;
    let start = std::time::Instant::now();
    let out = loupe().args(["tail", "--nats", &nats.url]).output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no agent is listening") && err.contains(&nats.url),
        "{err}"
    );
    // "No responders" is an answer, not a timeout: no 5 s wait.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    Ok(())
}
