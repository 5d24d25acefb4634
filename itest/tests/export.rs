//! `px.export` end to end: a real nats-server, planner and agent (eBPF)
//! watching a real nginx, exporting to a real OpenTelemetry Collector
//! (built from the upstream Go modules). What the collector received
//! (its file exporter's OTLP JSON) must equal the query's own answer,
//! over gRPC and over HTTP/protobuf; a stopped collector costs retries and
//! counted losses, never the answer.
//!
//! Needs root (eBPF). Run through the README's test command.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use loupe_itest::otel::{Collector, gauge_points, spans, summary_points};
use loupe_itest::*;
use serde_json::{Value, json};

/// Per path of /exp: requests, the latest time and latency, displayed and
/// exported per row as two gauges and a summary (attributes: the route
/// and a constant).
fn script(endpoint: &str) -> String {
    format!(
        r#"import px
df = px.DataFrame('http_events', start_time='-5m')
df = df[px.contains(df.req_path, '/exp/')]
df = df[df.trace_role == 2]
df = df.groupby(['req_path']).agg(requests=('resp_status', px.count), time_=('time_', px.max), mean_ns=('resp_latency', px.mean),
                                  sum_ns=('resp_latency', px.sum), lat=('resp_latency', px.quantiles))
df.p50 = px.pluck_float64(df.lat, 'p50')
df.p99 = px.pluck_float64(df.lat, 'p99')
df = df.drop('lat')
df.svc = 'exp-nginx'
df.cluster = px.vizier_name()
df.cluster_id = px.vizier_id()
px.display(df, 'answer')
px.export(df, px.otel.Data(
    resource={{'service.name': df.svc, 'deployment.environment': 'itest',
              'k8s.cluster.name': df.cluster, 'px.cluster.id': df.cluster_id}},
    data=[
        px.otel.metric.Gauge(name='http.requests', description='requests per path', value=df.requests,
                             attributes={{'http.route': df.req_path, 'source': 'loupe'}}),
        px.otel.metric.Gauge(name='http.latency.mean', value=df.mean_ns, attributes={{'http.route': df.req_path}}),
        px.otel.metric.Summary(name='http.latency', count=df.requests, sum=df.sum_ns, unit='ns',
                               quantile_values={{0.5: df.p50, 0.99: df.p99}}, attributes={{'http.route': df.req_path}}),
    ],
    {endpoint}
))
"#
    )
}

fn curl_paths(port: u16, paths: &[(&str, usize)]) -> Result<()> {
    for (path, n) in paths {
        get_times(port, path, *n)?;
    }
    Ok(())
}

/// The answer's rows by route: (requests, time ns, mean ns).
fn answer_rows(answer: &Value) -> BTreeMap<String, (i64, u64, f64)> {
    table(answer, "answer")["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["req_path"].as_str().unwrap().to_string(),
                (
                    r["requests"].as_i64().unwrap(),
                    time_ns(&r["time_"]),
                    r["mean_ns"].as_f64().unwrap(),
                ),
            )
        })
        .collect()
}

/// A `time_` cell of JSON output (RFC 3339 text, or ns).
fn time_ns(v: &Value) -> u64 {
    if let Some(n) = v.as_u64() {
        return n;
    }
    let s = v.as_str().unwrap_or("");
    // 2026-12-04T21:00:00.123456789Z
    let out = Command::new("date")
        .args(["-u", "-d", s, "+%s%N"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Checks that what `docs` hold for this run equals the answer.
fn assert_exported_equals_answer(docs: &[Value], answer: &Value) {
    let rows = answer_rows(answer);
    assert_eq!(rows.len(), 2, "{answer}");
    let points = gauge_points(docs);
    for (route, (requests, t, mean)) in &rows {
        let of = |name: &str| {
            points
                .iter()
                .filter(|p| p.1 == name && p.3.get("http.route") == Some(&json!(route)))
                .collect::<Vec<_>>()
        };
        let req = of("http.requests");
        assert_eq!(req.len(), 1, "one point per row: {req:?}");
        let (res, _, unit, attrs, time, value) = req[0];
        assert_eq!(res["service.name"], json!("exp-nginx"));
        assert_eq!(res["deployment.environment"], json!("itest"));
        // Pixie's px.vizier_name() and px.vizier_id(), bound by the planner.
        assert_eq!(res["k8s.cluster.name"], json!("loupe"));
        assert_eq!(
            res["px.cluster.id"].as_str().map(str::len),
            Some(36),
            "{res:?}"
        );
        assert_eq!(attrs["source"], json!("loupe"));
        assert_eq!(unit, "");
        assert_eq!(*value, *requests as f64);
        assert_eq!(*time, *t, "the row's time_ is the point's time");
        let lat = of("http.latency.mean");
        assert_eq!(lat.len(), 1);
        // The latency's semantic type gives the unit.
        assert_eq!(lat[0].2, "ns");
        assert!(
            (lat[0].5 - mean).abs() <= 1e-6 * mean.abs(),
            "{lat:?} vs {mean}"
        );
        // The summary: count, sum and quantiles as the answer has them.
        let row = table(answer, "answer")["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["req_path"] == json!(route))
            .unwrap()
            .clone();
        let sums: Vec<&Value> = summary_points(docs)
            .into_iter()
            .filter(|(name, p)| {
                name == "http.latency"
                    && loupe_itest::otel::attrs(&p["attributes"]).get("http.route")
                        == Some(&json!(route))
            })
            .map(|(_, p)| p)
            .collect();
        assert_eq!(sums.len(), 1, "{sums:?}");
        let p = sums[0];
        assert_eq!(p["count"], json!(requests.to_string()), "{p}");
        assert_eq!(p["sum"].as_f64(), row["sum_ns"].as_f64(), "{p}");
        assert_eq!(p["timeUnixNano"], json!(t.to_string()));
        let q: Vec<(f64, f64)> = p["quantileValues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["quantile"].as_f64().unwrap(),
                    v["value"].as_f64().unwrap_or(0.0),
                )
            })
            .collect();
        assert_eq!(
            q,
            vec![
                (0.5, row["p50"].as_f64().unwrap()),
                (0.99, row["p99"].as_f64().unwrap())
            ],
            "{p}"
        );
    }
}

#[test]
fn what_a_query_exports_is_its_answer_over_grpc_and_http() -> Result<()> {
    let dir = temp_dir("export");
    let nats = Nats::start(&dir)?;
    let collector = Collector::start(&dir)?;
    // Scripts that name no endpoint go where the planner's environment
    // says, by the OpenTelemetry conventions: here HTTP/protobuf.
    let http_base = format!("http://127.0.0.1:{}", collector.http_port);
    let _planner = Planner::start_env(
        &nats.url,
        "p1",
        &dir,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", http_base.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-loupe-test=1"),
        ],
    )?;
    let _agent = Agent::start(&nats, "itest-export", &dir, &[])?;
    let nginx = Nginx::start(&dir.join("nginx"), None)?;
    curl_paths(nginx.port, &[("/exp/a", 7), ("/exp/b", 3)])?;
    std::thread::sleep(Duration::from_secs(2));

    // gRPC, the script's own endpoint (Pixie's form: host:port).
    let grpc = format!(
        "endpoint=px.otel.Endpoint(url='127.0.0.1:{}', insecure=True, timeout=10),",
        collector.grpc_port
    );
    let out = loupe_run(&nats.url, &dir, &script(&grpc), &[])?;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let answer = out.json()?;
    let rows = answer_rows(&answer);
    assert_eq!(rows["/exp/a"].0, 7, "{answer}");
    assert_eq!(rows["/exp/b"].0, 3, "{answer}");
    let x = &answer["exports"][0];
    assert_eq!(x["protocol"], "grpc", "{x}");
    assert_eq!(x["rows"], 2);
    assert_eq!(x["points"], 6);
    assert_eq!(x["delivered"], 6, "{x}");
    assert_eq!(x["lost"], 0);
    assert!(out.stderr.contains("6 delivered"), "{}", out.stderr);
    let docs = collector.wait_for(Duration::from_secs(10), |d| gauge_points(d).len() >= 4)?;
    assert_eq!(gauge_points(&docs).len(), 4, "{docs:?}");
    assert_exported_equals_answer(&docs, &answer);

    // HTTP/protobuf, from the planner's environment.
    let before = collector.received()?.len();
    let out = loupe_run(&nats.url, &dir, &script(""), &[])?;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let answer = out.json()?;
    let x = &answer["exports"][0];
    assert_eq!(x["protocol"], "http/protobuf", "{x}");
    assert_eq!(
        x["endpoint"],
        format!("{http_base}/v1/metrics"),
        "the signal's path is added to the base URL"
    );
    assert_eq!(x["delivered"], 6, "{x}");
    let docs = collector.wait_for(Duration::from_secs(10), |d| {
        gauge_points(&d[before.min(d.len())..]).len() >= 4
    })?;
    assert_exported_equals_answer(&docs[before..], &answer);

    // Spans: one per request, SERVER kind, start = end - latency.
    let spans_script = r#"import px
df = px.DataFrame('http_events', start_time='-5m')
df = df[px.contains(df.req_path, '/exp/')]
df = df[df.trace_role == 2]
df.start = df.time_ - df.resp_latency
df.svc = 'exp-nginx'
px.display(df[['req_path', 'start', 'time_', 'resp_status']], 'answer')
px.export(df, px.otel.Data(
    resource={'service.name': df.svc},
    data=[px.otel.trace.Span(name=df.req_path, start_time=df.start, end_time=df.time_,
                             attributes={'http.status_code': df.resp_status})],
))
"#;
    let before = collector.received()?.len();
    let out = loupe_run(&nats.url, &dir, spans_script, &[])?;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let answer = out.json()?;
    assert_eq!(
        answer["exports"][0]["delivered"], 10,
        "{}",
        answer["exports"]
    );
    let docs = collector.wait_for(Duration::from_secs(10), |d| {
        spans(&d[before.min(d.len())..]).len() >= 10
    })?;
    let got = spans(&docs[before..]);
    assert_eq!(got.len(), 10);
    let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
    for (res, s) in &got {
        assert_eq!(res["service.name"], json!("exp-nginx"));
        assert_eq!(s["kind"], json!(2), "SPAN_KIND_SERVER by default: {s}");
        assert_eq!(s["traceId"].as_str().unwrap().len(), 32);
        assert_eq!(s["spanId"].as_str().unwrap().len(), 16);
        let st: u64 = s["startTimeUnixNano"].as_str().unwrap().parse()?;
        let et: u64 = s["endTimeUnixNano"].as_str().unwrap().parse()?;
        assert!(st <= et);
        *by_path
            .entry(s["name"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(by_path["/exp/a"], 7);
    assert_eq!(by_path["/exp/b"], 3);
    Ok(())
}

#[test]
fn a_stopped_collector_costs_retries_and_counted_losses_never_the_answer() -> Result<()> {
    let dir = temp_dir("export-loss");
    let nats = Nats::start(&dir)?;
    let mut collector = Collector::start(&dir)?;
    let planner = Planner::start(&nats.url, "p1", &dir)?;
    let _agent = Agent::start(&nats, "itest-export-loss", &dir, &[])?;
    let nginx = Nginx::start(&dir.join("nginx"), None)?;
    curl_paths(nginx.port, &[("/exp/a", 4), ("/exp/b", 2)])?;
    std::thread::sleep(Duration::from_secs(2));
    let grpc = format!(
        "endpoint=px.otel.Endpoint(url='127.0.0.1:{}', insecure=True, timeout=3),",
        collector.grpc_port
    );

    // The collector is down for the whole export: every point is lost,
    // after retries, and the answer is whole.
    collector.stop();
    let out = loupe_run(&nats.url, &dir, &script(&grpc), &[])?;
    assert_eq!(
        out.code, 4,
        "exit 4: exported points lost\n{}\n{}",
        out.stdout, out.stderr
    );
    let answer = out.json()?;
    let rows = answer_rows(&answer);
    assert_eq!((rows["/exp/a"].0, rows["/exp/b"].0), (4, 2), "{answer}");
    let x = &answer["exports"][0];
    assert_eq!(x["points"], 6, "{x}");
    assert_eq!(x["lost"], 6, "{x}");
    assert_eq!(x["delivered"], 0, "{x}");
    assert!(x["retries"].as_u64().unwrap() >= 2, "{x}");
    assert!(x["error"].as_str().unwrap().contains("Unavailable"), "{x}");
    assert!(out.stderr.contains("LOST 6"), "{}", out.stderr);
    assert!(
        answer["error"].is_null(),
        "the query itself succeeded: {answer}"
    );

    // The collector comes back while the export retries: delivered late,
    // nothing lost.
    let restart = std::thread::spawn(move || -> Result<Collector> {
        std::thread::sleep(Duration::from_millis(1500));
        collector.restart()?;
        Ok(collector)
    });
    let slow = format!(
        "endpoint=px.otel.Endpoint(url='127.0.0.1:{}', insecure=True, timeout=15),",
        restart_port(&grpc)
    );
    let out = loupe_run(&nats.url, &dir, &script(&slow), &[])?;
    let collector = restart.join().expect("restart thread")?;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let answer = out.json()?;
    let x = &answer["exports"][0];
    assert_eq!(x["delivered"], 6, "{x}");
    assert_eq!(x["lost"], 0, "{x}");
    assert!(x["retries"].as_u64().unwrap() >= 1, "it retried: {x}");
    let docs = collector.wait_for(Duration::from_secs(10), |d| gauge_points(d).len() >= 4)?;
    assert_exported_equals_answer(&docs, &answer);

    // The planner counts what its exports lost and delivered.
    let log = std::fs::read_to_string(&planner.log)?;
    assert!(log.contains("export lost points"), "{log}");
    Ok(())
}

/// The port of an endpoint argument written by this test.
fn restart_port(endpoint: &str) -> u16 {
    endpoint
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// Requests to /sched/ in the window [px.plugin.start_time, end_time),
/// one gauge per run, its window in the point (start as an attribute,
/// end as its time).
const SCHEDULED: &str = r#"import px
df = px.DataFrame('http_events', start_time=px.plugin.start_time, end_time=px.plugin.end_time)
df = df[px.contains(df.req_path, '/sched/')]
df = df[df.trace_role == 2]
df.svc = 'sched'
df = df.groupby('svc').agg(requests=('resp_status', px.count))
df.time_ = px.plugin.end_time
df.window_start = px.plugin.start_time
px.export(df, px.otel.Data(
    resource={'service.name': df.svc},
    data=[px.otel.metric.Gauge(name='sched.requests', value=df.requests,
                               attributes={'window.start': df.window_start})],
    endpoint=px.otel.Endpoint(url='127.0.0.1:GRPC_PORT', insecure=True, timeout=5),
))
"#;

fn export_cmd(nats: &str, args: &[&str]) -> Result<RunOutput> {
    let out = loupe()
        .arg("export")
        .args(args)
        .args(["--nats", nats])
        .output()?;
    Ok(RunOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Every run's (window start, window end, requests) the collector got.
fn windows(docs: &[Value]) -> Vec<(u64, u64, f64)> {
    let mut w: Vec<(u64, u64, f64)> = gauge_points(docs)
        .into_iter()
        .filter(|p| p.1 == "sched.requests")
        .map(|p| (p.3["window.start"].as_u64().unwrap_or(0), p.4, p.5))
        .collect();
    w.sort_by_key(|x| (x.0, x.1));
    w
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn a_scheduled_export_runs_every_period_once_across_a_planner_kill() -> Result<()> {
    let dir = temp_dir("export-schedule");
    let nats = Nats::start(&dir)?;
    let collector = Collector::start(&dir)?;
    // p1's first scheduled run dies as it starts (a panic, caught): its
    // claim is held and never finished, as if its planner had died then.
    let mut p1 = Planner::start_env(
        &nats.url,
        "p1",
        &dir,
        &[],
        &[("LOUPE_FAULT", "planner-schedule:1")],
    )?;
    let p2 = Planner::start(&nats.url, "p2", &dir)?;
    let _agent = Agent::start(&nats, "itest-schedule", &dir, &[])?;
    let nginx = Nginx::start(&dir.join("nginx"), None)?;
    let script = dir.join("sched.pxl");
    std::fs::write(
        &script,
        SCHEDULED.replace("GRPC_PORT", &collector.grpc_port.to_string()),
    )?;
    let script = script.to_str().unwrap();

    // A script that exports nothing, or does not compile, is refused at once.
    let plain = dir.join("plain.pxl");
    std::fs::write(
        &plain,
        "import px\npx.display(px.DataFrame('http_events'))\n",
    )?;
    let out = export_cmd(&nats.url, &["add", "nope", "-f", plain.to_str().unwrap()])?;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("exports nothing"), "{}", out.stderr);

    let out = export_cmd(&nats.url, &["add", "sched", "-f", script, "--every", "2s"])?;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let added = wall_ns();
    let out = export_cmd(&nats.url, &["add", "sched", "-f", script, "--every", "2s"])?;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("exists"), "{}", out.stderr);

    // Steady traffic until after the kill (at most 40 s).
    let port = nginx.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let traffic = std::thread::spawn(move || -> Result<usize> {
        let start = std::time::Instant::now();
        let mut n = 0;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed)
            && start.elapsed() < Duration::from_secs(40)
        {
            run(Command::new("curl").args([
                "-s",
                "-o",
                "/dev/null",
                &format!("http://127.0.0.1:{port}/sched/{n}"),
            ]))?;
            n += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(n)
    });
    // When p1 holds the claim it will never finish, SIGKILL it: p2 must
    // run that window again once the claim lapses, and go on.
    let start = std::time::Instant::now();
    loop {
        let out = export_cmd(&nats.url, &["list", "-o", "json"])?;
        let list: Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        if list["schedules"][0]["running_on"] == "p1" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "p1 never held a claim: {}",
            out.stdout
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    p1.proc.kill_hard();
    let killed = wall_ns();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = traffic.join().expect("traffic")?;

    // Windows until every request is in one (a window with no request
    // exports no row), from the planner left.
    let docs = collector.wait_for(Duration::from_secs(60), |d| {
        windows(d).iter().map(|x| x.2).sum::<f64>() >= sent as f64
    })?;
    let w = windows(&docs);
    eprintln!("windows (start, end, requests): {w:?}; killed at {killed}");
    // Exactly once: no window twice, each starting where the last ended,
    // the first where the schedule was added.
    for pair in w.windows(2) {
        assert_ne!(pair[0], pair[1], "a window exported twice: {w:?}");
        assert_eq!(pair[0].1, pair[1].0, "a gap or an overlap: {w:?}");
    }
    assert!(
        w[0].0 <= added && added - w[0].0 < 5_000_000_000,
        "{w:?} {added}"
    );
    // (A late run covers everything since the last: after the lapsed
    // claim, one window to now.)
    assert!(w.len() >= 2, "{w:?}");
    // Every request nginx logged is in exactly one window.
    let logged = nginx
        .access_log()?
        .into_iter()
        .filter(|(_, p, _)| p.starts_with("/sched/"))
        .count();
    assert_eq!(logged, sent);
    let exported: f64 = w.iter().map(|x| x.2).sum();
    assert_eq!(exported, logged as f64, "{w:?}");
    // The planner left ran the lapsed window and those after the kill.
    let p2_log = std::fs::read_to_string(&p2.log)?;
    assert!(p2_log.contains("scheduled export ran"), "{p2_log}");
    assert!(w.iter().any(|x| x.1 > killed));
    let p1_log = std::fs::read_to_string(&p1.log)?;
    assert!(
        p1_log.contains("a fault injected in planner-schedule"),
        "{p1_log}"
    );

    // The list says what ran; rm stops it.
    let out = export_cmd(&nats.url, &["list", "-o", "json"])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list: Value = serde_json::from_str(&out.stdout)?;
    let s = &list["schedules"][0];
    assert_eq!(s["name"], "sched");
    assert_eq!(s["every_s"], 2.0);
    assert!(s["runs"].as_u64().unwrap() >= w.len() as u64, "{s}");
    assert_eq!(s["last"]["lost"], 0, "{s}");
    let out = export_cmd(&nats.url, &["rm", "sched"])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let n = windows(&collector.received()?).len();
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        windows(&collector.received()?).len() <= n + 1,
        "runs after rm"
    );
    let out = export_cmd(&nats.url, &["list"])?;
    assert!(out.stdout.contains("no export schedules"), "{}", out.stdout);
    Ok(())
}

#[test]
fn http_traffic_becomes_server_and_client_spans_linked_by_traceparent() -> Result<()> {
    let dir = temp_dir("export-spans");
    let nats = Nats::start(&dir)?;
    let collector = Collector::start(&dir)?;
    // The bundled script names no endpoint: the planner's environment does.
    let endpoint = format!("http://127.0.0.1:{}", collector.grpc_port);
    let _planner = Planner::start_env(
        &nats.url,
        "p1",
        &dir,
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    )?;
    let _agent = Agent::start(&nats, "itest-spans", &dir, &[])?;
    let nginx = Nginx::start(&dir.join("nginx"), None)?;
    let (tid, pid) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let (tid2, pid2) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", nginx.port);
    for _ in 0..3 {
        run(Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            "-H",
            &format!("traceparent: 00-{tid}-{pid}-01"),
            &url("/span/traced"),
        ]))?;
    }
    // Go's net/http sends the name as Traceparent.
    run(Command::new("curl").args([
        "-s",
        "-o",
        "/dev/null",
        "-H",
        &format!("Traceparent: 00-{tid2}-{pid2}-01"),
        &url("/span/go"),
    ]))?;
    get_times(nginx.port, "/span/plain", 2)?;
    std::thread::sleep(Duration::from_secs(2));
    let out = loupe()
        .args([
            "run",
            "px/otel_http_spans",
            "-o",
            "json",
            "--nats",
            &nats.url,
        ])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let answer: Value = serde_json::from_slice(&out.stdout)?;
    let exports = answer["exports"].as_array().cloned().unwrap_or_default();
    assert_eq!(exports.len(), 2, "{answer}");
    assert!(exports.iter().all(|x| x["lost"] == 0), "{answer}");

    let want = |docs: &[Value]| {
        spans(docs)
            .iter()
            .filter(|(_, s)| s["name"].as_str().is_some_and(|n| n.contains("/span/")))
            .count()
            >= 12
    };
    let docs = collector.wait_for(Duration::from_secs(10), want)?;
    let got: Vec<(std::collections::BTreeMap<String, Value>, Value)> = spans(&docs)
        .into_iter()
        .filter(|(_, s)| s["name"].as_str().is_some_and(|n| n.contains("/span/")))
        .collect();
    let logged = nginx
        .access_log()?
        .into_iter()
        .filter(|(_, p, _)| p.starts_with("/span/"))
        .count();
    assert_eq!(logged, 6);
    let kind = |k: i64| -> Vec<&Value> {
        got.iter()
            .filter(|(_, s)| s["kind"] == json!(k))
            .map(|(_, s)| s)
            .collect()
    };
    let (server, client) = (kind(2), kind(3));
    assert_eq!(
        server.len(),
        logged,
        "a SERVER span per request nginx logged: {got:?}"
    );
    assert_eq!(
        client.len(),
        logged,
        "a CLIENT span per curl request: {got:?}"
    );
    for (res, s) in &got {
        assert!(
            res["service.name"].as_str().is_some_and(|n| !n.is_empty()),
            "{res:?}"
        );
        let a = loupe_itest::otel::attrs(&s["attributes"]);
        assert_eq!(a["http.request.method"], json!("GET"));
        assert_eq!(a["http.response.status_code"], json!(404), "{a:?}");
        assert_eq!(
            s["name"],
            json!(format!("GET {}", a["url.path"].as_str().unwrap()))
        );
    }
    let on = |spans: &[&Value], path: &str| -> Vec<Value> {
        spans
            .iter()
            .filter(|s| s["name"] == json!(format!("GET {path}")))
            .map(|s| (*s).clone())
            .collect()
    };
    // Traced requests join the caller's trace on both sides.
    for (path, t, p) in [("/span/traced", tid, pid), ("/span/go", tid2, pid2)] {
        for s in on(&server, path) {
            assert_eq!(s["traceId"], json!(t), "{s}");
            assert_eq!(s["parentSpanId"], json!(p), "{s}");
            assert_ne!(s["spanId"], json!(p));
        }
        for s in on(&client, path) {
            assert_eq!(s["traceId"], json!(t), "{s}");
            assert_eq!(s["spanId"], json!(p), "{s}");
        }
    }
    // Others start traces of their own.
    for s in on(&server, "/span/plain") {
        assert_eq!(s["traceId"].as_str().unwrap().len(), 32);
        assert_ne!(s["traceId"], json!(tid));
        assert!(s["parentSpanId"].as_str().unwrap_or("").is_empty(), "{s}");
    }
    Ok(())
}
