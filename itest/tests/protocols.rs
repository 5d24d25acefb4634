//! Database and DNS protocols end to end (issue 5): real PostgreSQL 15,
//! MariaDB 10.11, Redis 7 and dnsmasq started by the test on loopback ports
//! it picked, driven by their own tools (pgbench, psql, mysqlslap, the
//! mariadb client, mysql-connector-python, redis-benchmark, redis-cli, dig,
//! dnspython) over TCP/UDP on 127.0.0.1, with the real agent (eBPF) watching.
//!
//! Ground truth is the server's own account, never Loupe's:
//! `pg_stat_statements` calls, MariaDB's `Com_*` status deltas, Redis's
//! `INFO commandstats`, dnsmasq's `--log-queries` lines (and, for a server
//! that never answers, the datagrams it read). Each test polls `loupe run`
//! with a script of `tests/scripts/` until Loupe's server-side rows match,
//! or 30 s pass, then asserts equality with a diff.
//!
//! `harness_*` need no agent: they check the servers and the ground-truth
//! readers themselves. Needs root (eBPF; the servers' data dirs). Run
//! through the README's test command.

use anyhow::{Result, bail};
use loupe_itest::servers::*;
use loupe_itest::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long Loupe may take to show what the servers counted.
const CONVERGE: Duration = Duration::from_secs(30);

fn script(name: &str) -> Result<String> {
    Ok(std::fs::read_to_string(scripts_dir().join(name))?)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn table<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["tables"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .unwrap_or(&Value::Null)
}

fn rows<'a>(answer: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> {
    table(answer, name)["rows"].as_array().into_iter().flatten()
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn n(v: &Value) -> i64 {
    v["n"].as_i64().unwrap_or(0)
}

/// Every key whose count differs, one line each.
fn diff(truth: &BTreeMap<String, i64>, loupe: &BTreeMap<String, i64>) -> String {
    let mut out = String::new();
    for k in truth
        .keys()
        .chain(loupe.keys().filter(|k| !truth.contains_key(*k)))
    {
        let (a, b) = (truth.get(k).copied(), loupe.get(k).copied());
        if a != b {
            out.push_str(&format!(
                "  {k:?}: server {}, loupe {}\n",
                a.unwrap_or(0),
                b.unwrap_or(0)
            ));
        }
    }
    out
}

/// Runs `script` with `args` until `extract(answer) == truth` or
/// [`CONVERGE`] passes; returns the last extraction, answer and stderr.
fn poll(
    nats: &Nats,
    dir: &Path,
    script: &str,
    args: &[(&str, String)],
    truth: &BTreeMap<String, i64>,
    extract: impl Fn(&Value) -> BTreeMap<String, i64>,
) -> Result<(BTreeMap<String, i64>, Value, String)> {
    let mut extra = Vec::new();
    for (k, v) in args {
        extra.push("--arg".to_string());
        extra.push(format!("{k}={v}"));
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let start = Instant::now();
    loop {
        let out = loupe_run(&nats.url, dir, script, &extra)?;
        if out.code != 0 {
            bail!("loupe run failed ({}): {}", out.code, out.stderr);
        }
        let answer = out.json()?;
        let got = extract(&answer);
        if &got == truth || start.elapsed() > CONVERGE {
            return Ok((got, answer, out.stderr));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The `processes` table: every row came from `binary`, and there are as
/// many as in `table`.
fn check_processes(answer: &Value, table_name: &str, binary: &str) {
    let total: i64 = rows(answer, table_name).map(n).sum();
    let mut by_proc = 0;
    for r in rows(answer, "processes") {
        let cmdline = s(r, "cmdline");
        assert!(
            cmdline.contains(binary),
            "a {table_name} row on the server's port from {cmdline:?}, not {binary}"
        );
        by_proc += n(r);
    }
    assert_eq!(by_proc, total, "rows per process add up to all rows");
}

/// Nats, a planner and an agent, then a second for the servers to start.
struct Loupe {
    nats: Nats,
    _planner: Planner,
    agent: Agent,
}

fn loupe(dir: &Path, node: &str) -> Result<Loupe> {
    let nats = Nats::start(dir)?;
    let planner = Planner::start(&nats.url, "p1", dir)?;
    let agent = Agent::start(&nats, node, dir, &[])?;
    Ok(Loupe {
        nats,
        _planner: planner,
        agent,
    })
}

/// The agent attaches to new processes' sockets; let it settle before traffic.
fn settle() {
    std::thread::sleep(Duration::from_secs(1));
}

// ---------------------------------------------------------------- PostgreSQL

/// The measured PostgreSQL workload: pgbench's TPC-B in the simple and the
/// extended query protocol, its SELECT-only script with prepared statements,
/// psql statements (one failing), and the bad clients. Returns the statement
/// that failed.
///
/// Not TPC-B with `-M prepared`: pg_stat_statements 15 counts an Execute
/// of a prepared utility statement (its BEGIN and END) only the first time
/// on each connection, while the server runs it every time.
/// 50 000 rows of 1 000 bytes.
const BIG_RESULT: &str = "SELECT repeat('x', 1000) AS loupe_big FROM generate_series(1, 50000)";

fn drive_postgres(pg: &Postgres, tx: &str) -> Result<&'static str> {
    for mode in ["simple", "extended"] {
        pg.pgbench(&["-c", "2", "-t", tx, "-M", mode])?;
    }
    pg.pgbench(&["-c", "2", "-t", tx, "-M", "prepared", "-S", "-n"])?;
    pg.psql(&[
        "CREATE TABLE loupe_items (id serial PRIMARY KEY, name text, n int)",
        "INSERT INTO loupe_items (name, n) VALUES ('a', 1)",
        "INSERT INTO loupe_items (name, n) VALUES ('b', 2)",
        "INSERT INTO loupe_items (name, n) VALUES ('it''s', -3)",
        "UPDATE loupe_items SET n = n + 10 WHERE name = 'a'",
        "SELECT name, n FROM loupe_items WHERE n > 0 ORDER BY n",
        "DELETE FROM loupe_items WHERE n < 0",
    ])?;
    let failing = "SELECT * FROM loupe_missing";
    let out = pg.psql_output(&[failing])?;
    assert!(!out.status.success(), "{failing} should fail");
    // Bad input on the same port: not a startup packet; a bad message type
    // after a good startup; a client that hangs up in the middle of a result.
    pg.bad_client("garbage", None)?;
    pg.bad_client("midsession", None)?;
    pg.bad_client(
        "abort",
        Some("SELECT generate_series(1, 2000000) AS loupe_aborted"),
    )?;
    // The server still answers, and that is counted too.
    pg.psql(&["SELECT count(*) FROM loupe_items"])?;
    // A 50 MB result set, read to its end: one row, its rows counted, its
    // DataRows never buffered (they go past the capture cap as gaps).
    let big = pg.psql(&[BIG_RESULT])?;
    assert!(big.len() > 50_000_000, "{} bytes", big.len());
    Ok(failing)
}

/// pgbench's tables, then an empty `pg_stat_statements`.
fn prepare_postgres(pg: &Postgres) -> Result<()> {
    pg.pgbench(&["-i", "-s", "1", "-q"])?;
    pg.reset_stats()
}

#[test]
fn pgsql_rows_match_pg_stat_statements() -> Result<()> {
    let dir = temp_dir("pgsql");
    let mut l = loupe(&dir, "itest-pgsql")?;
    let pg = Postgres::start(&dir.join("pg"))?;
    settle();
    prepare_postgres(&pg)?;
    // Rows from here on: pgbench -i and the reset are before.
    std::thread::sleep(Duration::from_millis(500));
    let start = now_ns();
    std::thread::sleep(Duration::from_millis(500));
    let failing = drive_postgres(&pg, "50")?;
    let truth = pg.statement_calls()?;
    let errors = pg.log_count("ERROR:  relation \"loupe_missing\" does not exist") as i64;
    assert_eq!(errors, 1, "{}", log_tail(&pg.log, 20));

    // Loupe's side: every row with an OK status but a Parse that only
    // prepared (PostgreSQL counts neither failed nor aborted statements,
    // nor a prepare). One execution is one row in the extended protocol
    // too: its Parse, Bind and Describe are folded into its Execute, so no
    // row of them is left to count. Rows that read pg_stat_statements are
    // left out on both sides.
    let extract = |a: &Value| {
        let mut m = BTreeMap::new();
        for r in rows(a, "statements") {
            let (cmd, body) = (s(r, "req_cmd"), s(r, "req_body"));
            if cmd != "Parse" && s(r, "resp_status") == "OK" && !body.contains("pg_stat_statements")
            {
                *m.entry(sql_key(&body)).or_insert(0) += n(r);
            }
        }
        m
    };
    let args = [("start", start.to_string()), ("port", pg.port.to_string())];
    let (got, answer, stderr) = poll(
        &l.nats,
        &dir,
        &script("pgsql_statements.pxl")?,
        &args,
        &truth,
        extract,
    )?;
    assert!(
        got == truth,
        "rows per statement != pg_stat_statements calls:\n{}stderr: {stderr}",
        diff(&truth, &got)
    );
    let folded: Vec<String> = rows(&answer, "statements")
        .filter(|r| matches!(s(r, "req_cmd").as_str(), "Bind" | "Describe"))
        .map(|r| format!("{} {}", s(r, "req_cmd"), s(r, "req_body")))
        .collect();
    assert!(
        folded.is_empty(),
        "Bind/Describe rows left unfolded: {folded:?}"
    );
    let loupe_errors: i64 = rows(&answer, "statements")
        .filter(|r| s(r, "resp_status") == "ERROR" && s(r, "req_body").contains("loupe_missing"))
        .map(n)
        .sum();
    assert_eq!(
        loupe_errors, errors,
        "ERROR rows for {failing:?} = the server's ERROR lines"
    );
    let aborted_ok: i64 = rows(&answer, "statements")
        .filter(|r| s(r, "resp_status") == "OK" && s(r, "req_body").contains("loupe_aborted"))
        .map(n)
        .sum();
    assert_eq!(aborted_ok, 0, "the aborted statement did not complete");
    let big_rows: Vec<i64> = rows(&answer, "statements")
        .filter(|r| s(r, "req_body").contains("loupe_big"))
        .map(|r| r["rows"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(big_rows, [50_000], "the 50 MB result's row count");
    check_processes(&answer, "statements", "postgres");
    // Garbage and hang-ups did not take the agent down (it answered above).
    assert!(
        l.agent.proc.alive(),
        "agent died: {}",
        log_tail(&l.agent.log, 30)
    );
    let agent_log = std::fs::read_to_string(&l.agent.log)?;
    assert!(!agent_log.contains("panicked"), "{agent_log}");
    Ok(())
}

// ------------------------------------------------------------------- MariaDB

/// The measured MariaDB workload: the mariadb client (one statement
/// failing), mysqlslap, and prepared statements.
fn drive_mariadb(db: &Mariadb, prepared: usize) -> Result<()> {
    db.client(
        "CREATE DATABASE loupe; \
         CREATE TABLE loupe.items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40), n INT); \
         INSERT INTO loupe.items (name, n) VALUES ('a', 1), ('b', 2); \
         INSERT INTO loupe.items (name, n) VALUES ('it''s', -3); \
         UPDATE loupe.items SET n = n + 10 WHERE name = 'a'; \
         SELECT name, n FROM loupe.items WHERE n > 0 ORDER BY n; \
         DELETE FROM loupe.items WHERE n < 0",
    )?;
    let out = db.client_output("SELECT * FROM loupe.missing")?;
    assert!(!out.status.success(), "a missing table should fail");
    db.mysqlslap(&[
        "--concurrency=2",
        "--iterations=2",
        "--number-of-queries=200",
        "--auto-generate-sql",
        "--auto-generate-sql-load-type=mixed",
        "--auto-generate-sql-add-autoincrement",
    ])?;
    db.prepared(prepared)?;
    Ok(())
}

#[test]
fn mysql_rows_match_com_counters() -> Result<()> {
    let dir = temp_dir("mysql");
    let l = loupe(&dir, "itest-mysql")?;
    let db = Mariadb::start(&dir.join("mariadb"))?;
    settle();
    let before = db.com_counters()?;
    let start = now_ns();
    std::thread::sleep(Duration::from_millis(500));
    drive_mariadb(&db, 20)?;
    let truth = db.com_deltas(&before)?;

    // Loupe's side: each row's command (and statement) mapped to the
    // counters MariaDB moves for it; what the table does not know shows up
    // in the diff under its own key.
    let extract = |a: &Value| {
        let mut m = BTreeMap::new();
        for r in rows(a, "commands") {
            let cmd = r["req_cmd"].as_i64().unwrap_or(-1);
            match mysql_com_counters(cmd, &s(r, "req_body")) {
                Ok(counters) => {
                    for c in counters {
                        *m.entry(c.to_string()).or_insert(0) += n(r);
                    }
                }
                Err(unknown) => *m.entry(unknown).or_insert(0) += n(r),
            }
        }
        m
    };
    let args = [("start", start.to_string()), ("port", db.port.to_string())];
    let (got, answer, stderr) = poll(
        &l.nats,
        &dir,
        &script("mysql_commands.pxl")?,
        &args,
        &truth,
        extract,
    )?;
    assert!(
        got == truth,
        "rows per command != Com_ deltas:\n{}stderr: {stderr}",
        diff(&truth, &got)
    );
    let errors: i64 = rows(&answer, "commands")
        .filter(|r| r["resp_status"] == 3 && s(r, "req_body").contains("loupe.missing"))
        .map(n)
        .sum();
    assert_eq!(errors, 1, "the failed SELECT is an error row");
    check_processes(&answer, "commands", "mariadbd");
    Ok(())
}

// --------------------------------------------------------------------- Redis

/// The measured Redis workload: redis-benchmark, plain redis-cli commands
/// (one refused for its arity), MULTI/EXEC, a CONFIG subcommand, pub/sub.
fn drive_redis(r: &Redis, requests: &str) -> Result<()> {
    r.benchmark(&["-t", "set,get,incr,lpush", "-n", requests, "-P", "16", "-q"])?;
    r.cli(&["SET", "loupe:k", "v"])?;
    r.cli(&["GET", "loupe:k"])?;
    r.cli(&["HSET", "loupe:h", "f", "1", "g", "2"])?;
    r.cli(&["HGETALL", "loupe:h"])?;
    r.cli(&["LRANGE", "mylist", "0", "9"])?;
    r.cli(&["EXPIRE", "loupe:k", "100"])?;
    r.cli(&["DEL", "loupe:k", "loupe:nope"])?;
    r.cli(&["CONFIG", "GET", "maxmemory"])?;
    // Refused before it runs (arity): an error reply, a rejected call.
    let refused = r.cli(&["GET"])?;
    assert!(refused.contains("wrong number of arguments"), "{refused}");
    let tx = r.cli_stdin("MULTI\nSET loupe:a 1\nINCR loupe:a\nEXEC\n")?;
    assert!(tx.contains("QUEUED"), "{tx}");
    let (mut sub, out) = r.subscriber("loupe-ch")?;
    assert_eq!(r.cli(&["PUBLISH", "loupe-ch", "hello"])?.trim(), "1");
    let t = Instant::now();
    while !std::fs::read_to_string(&out)?.contains("hello") && t.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(std::fs::read_to_string(&out)?.contains("message\nloupe-ch\nhello"));
    sub.kill();
    Ok(())
}

#[test]
fn redis_rows_match_commandstats() -> Result<()> {
    let dir = temp_dir("redis");
    let l = loupe(&dir, "itest-redis")?;
    let r = Redis::start(&dir.join("redis"))?;
    settle();
    r.reset_stats()?;
    let start = now_ns();
    std::thread::sleep(Duration::from_millis(500));
    drive_redis(&r, "2000")?;
    let truth = r.command_calls()?;

    let extract = |a: &Value| {
        let mut m = BTreeMap::new();
        for row in rows(a, "commands") {
            // Pub/sub messages are rows too (Pixie's `PUSH PUB`), but no command.
            if s(row, "req_cmd").starts_with("PUSH") {
                continue;
            }
            *m.entry(s(row, "req_cmd")).or_insert(0) += n(row);
        }
        m
    };
    let args = [("start", start.to_string()), ("port", r.port.to_string())];
    let (got, answer, stderr) = poll(
        &l.nats,
        &dir,
        &script("redis_commands.pxl")?,
        &args,
        &truth,
        extract,
    )?;
    assert!(
        got == truth,
        "rows per command != INFO commandstats:\n{}stderr: {stderr}",
        diff(&truth, &got)
    );
    check_processes(&answer, "commands", "redis-server");
    Ok(())
}

// ------------------------------------------------------------------- dnsmasq

/// The measured DNS workload: dig over UDP and TCP, every record kind, two
/// NXDOMAIN, one REFUSED, the dnspython client; and two queries to a server
/// that never answers.
fn drive_dns(dns: &Dnsmasq, silent: &SilentDns) -> Result<()> {
    for q in [
        &["a.loupe.test", "A"][..],
        &["a.loupe.test", "AAAA"],
        &["www.loupe.test", "A"],
        &["t.loupe.test", "TXT"],
        &["_http._tcp.loupe.test", "SRV"],
        &["-x", "10.0.0.1"],
        &["x.nx.loupe.test", "A"],
        &["other.example", "A"],
    ] {
        dns.dig(q)?;
    }
    for q in [
        &["+tcp", "a.loupe.test", "A"][..],
        &["+tcp", "t.loupe.test", "TXT"],
        &["+tcp", "nx.loupe.test", "MX"],
    ] {
        dns.dig(q)?;
    }
    dns.resolver()?;
    silent.dig("silent.loupe.test", "A")?;
    silent.dig("silent.loupe.test", "AAAA")?;
    Ok(())
}

#[test]
fn dns_rows_match_dnsmasq_log_and_unanswered_queries_time_out() -> Result<()> {
    let dir = temp_dir("dns");
    let l = loupe(&dir, "itest-dns")?;
    let dns = Dnsmasq::start(&dir.join("dnsmasq"))?;
    let silent = SilentDns::start(&dir)?;
    settle();
    let start = now_ns();
    std::thread::sleep(Duration::from_millis(500));
    drive_dns(&dns, &silent)?;
    std::thread::sleep(Duration::from_millis(300));
    // Truth: the server's log, then the silent server's, under one map with
    // the silent ones marked as the agent must mark them after 5 s.
    let mut truth = dns.queries()?;
    for (k, v) in silent.received()? {
        truth.insert(format!("unanswered {k} timed_out=true rcode=-1"), v);
    }

    let extract = |a: &Value| {
        let mut m = BTreeMap::new();
        for r in rows(a, "queries") {
            let name = s(r, "query_name")
                .trim_end_matches('.')
                .to_ascii_lowercase();
            let k = format!(
                "{name} {} {} {}",
                s(r, "query_type"),
                s(r, "resp_code"),
                s(r, "transport")
            );
            *m.entry(k).or_insert(0) += n(r);
        }
        for r in rows(a, "timeouts") {
            let name = s(r, "query_name")
                .trim_end_matches('.')
                .to_ascii_lowercase();
            let k = format!(
                "unanswered {name} {} timed_out={} rcode={}",
                s(r, "query_type"),
                s(r, "timed_out"),
                s(r, "resp_code")
            );
            *m.entry(k).or_insert(0) += n(r);
        }
        m
    };
    let args = [
        ("start", start.to_string()),
        ("port", dns.port.to_string()),
        ("silent", silent.port.to_string()),
    ];
    let (got, answer, stderr) = poll(
        &l.nats,
        &dir,
        &script("dns_queries.pxl")?,
        &args,
        &truth,
        extract,
    )?;
    assert!(
        got == truth,
        "rows per (name, type, rcode, transport) != dnsmasq's log lines:\n{}stderr: {stderr}",
        diff(&truth, &got)
    );
    check_processes(&answer, "queries", "dnsmasq");
    Ok(())
}

// ------------------------------------------------------- the harness alone

/// Prints a ground-truth reading, one `key = n` line each.
fn show(what: &str, m: &BTreeMap<String, i64>) {
    eprintln!("{what}:");
    for (k, v) in m {
        eprintln!("  {k} = {v}");
    }
}

#[test]
fn harness_ground_truth() -> Result<()> {
    let dir = temp_dir("harness");

    // PostgreSQL: pgbench's TPC-B statements, once per transaction and
    // mode; the failed and the aborted statement are not counted.
    let pg = Postgres::start(&dir.join("pg"))?;
    prepare_postgres(&pg)?;
    drive_postgres(&pg, "10")?;
    let calls = pg.statement_calls()?;
    show("pg_stat_statements", &calls);
    let tpcb = "UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?";
    assert_eq!(calls.get(tpcb), Some(&40), "2 clients x 10 tx x 2 modes");
    assert_eq!(calls.get("BEGIN"), Some(&40));
    assert_eq!(
        calls.get("SELECT abalance FROM pgbench_accounts WHERE aid = ?"),
        Some(&60),
        "TPC-B's SELECT, and 20 of pgbench -S -M prepared"
    );
    assert_eq!(
        calls.get("INSERT INTO loupe_items (name, n) VALUES (?, ?)"),
        Some(&3)
    );
    assert!(
        !calls
            .keys()
            .any(|k| k.contains("loupe_missing") || k.contains("loupe_aborted")),
        "{calls:?}"
    );
    assert_eq!(
        pg.log_count("ERROR:  relation \"loupe_missing\" does not exist"),
        1
    );
    assert!(pg.log_count("invalid frontend message type") >= 1);
    assert!(pg.log_count("connection to client lost") >= 1);
    assert_eq!(
        pg.statement_calls()?,
        calls,
        "reading the ground truth does not change it"
    );
    drop(pg);

    // MariaDB: Com_ deltas of the same workload the mysql test drives.
    let db = Mariadb::start(&dir.join("mariadb"))?;
    let before = db.com_counters()?;
    drive_mariadb(&db, 5)?;
    let com = db.com_deltas(&before)?;
    show("Com_ deltas", &com);
    let get = |k: &str| com.get(k).copied().unwrap_or(0);
    assert_eq!(get("Com_stmt_prepare"), 2, "one per prepared statement");
    assert_eq!(get("Com_stmt_execute"), 10);
    assert_eq!(
        get("Com_stmt_reset"),
        10,
        "mysql-connector resets before each execute"
    );
    assert_eq!(get("Com_stmt_close"), 2);
    assert_eq!(
        get("Com_admin_commands"),
        2,
        "mysql-connector pings per cursor"
    );
    assert_eq!(
        get("Com_create_db"),
        1 + 2,
        "ours and mysqlslap's per iteration"
    );
    assert!(get("Com_insert") > 200 && get("Com_select") > 5, "{com:?}");
    assert!(
        get("Com_drop_db") >= 2 && get("Com_change_db") >= 1,
        "{com:?}"
    );
    assert_eq!(get("Com_show_status"), 0, "our own reads are taken out");
    assert_eq!(
        db.com_deltas(&before)?,
        com,
        "reading the ground truth does not change it"
    );
    for key in com.keys() {
        assert!(key.starts_with("Com_"), "{key}");
    }
    drop(db);

    // Redis: commandstats after a reset, without our own INFO and RESETSTAT.
    let r = Redis::start(&dir.join("redis"))?;
    r.reset_stats()?;
    // A multiple of the pipeline (16): redis-benchmark rounds up to one.
    drive_redis(&r, "512")?;
    let cmds = r.command_calls()?;
    show("commandstats", &cmds);
    assert_eq!(cmds.get("SET"), Some(&(512 + 2)), "benchmark, cli, MULTI");
    assert_eq!(
        cmds.get("GET"),
        Some(&(512 + 1 + 1)),
        "benchmark, cli, refused"
    );
    assert_eq!(cmds.get("INCR"), Some(&(512 + 1)));
    assert_eq!(cmds.get("LPUSH"), Some(&512));
    assert_eq!(
        cmds.get("CONFIG GET"),
        Some(&3),
        "redis-benchmark's two, ours"
    );
    for k in ["MULTI", "EXEC", "PUBLISH", "SUBSCRIBE", "COMMAND DOCS"] {
        assert_eq!(cmds.get(k), Some(&1), "{k}");
    }
    assert!(
        !cmds.contains_key("INFO") && !cmds.contains_key("CONFIG RESETSTAT"),
        "{cmds:?}"
    );
    assert_eq!(
        r.command_calls()?,
        cmds,
        "reading the ground truth does not change it"
    );
    drop(r);

    // dnsmasq: one log entry per query, transport from the pid, rcodes.
    let dns = Dnsmasq::start(&dir.join("dnsmasq"))?;
    let silent = SilentDns::start(&dir)?;
    drive_dns(&dns, &silent)?;
    std::thread::sleep(Duration::from_millis(300));
    let q = dns.queries()?;
    show("dnsmasq queries", &q);
    let get = |k: &str| q.get(k).copied().unwrap_or(0);
    assert_eq!(get("a.loupe.test A 0 udp"), 2, "dig and dnspython");
    assert_eq!(get("a.loupe.test A 0 tcp"), 1);
    assert_eq!(get("t.loupe.test TXT 0 tcp"), 2, "dig +tcp and dnspython");
    assert_eq!(get("x.nx.loupe.test A 3 udp"), 1);
    assert_eq!(get("nx.loupe.test MX 3 tcp"), 1);
    assert_eq!(get("lib.nx.loupe.test AAAA 3 tcp"), 1);
    assert_eq!(get("other.example A 5 udp"), 1, "no upstream: REFUSED");
    assert_eq!(get("1.0.0.10.in-addr.arpa PTR 0 udp"), 2);
    assert_eq!(
        q.values().sum::<i64>(),
        11 + 8,
        "11 digs, 8 dnspython queries"
    );
    let lost = silent.received()?;
    show("silent server", &lost);
    assert_eq!(
        lost,
        BTreeMap::from([
            ("silent.loupe.test A".to_string(), 1),
            ("silent.loupe.test AAAA".to_string(), 1)
        ])
    );
    Ok(())
}

/// The keys both sides are compared under, on the shapes the servers and
/// Loupe's normaliser write.
#[test]
fn harness_keys_and_counter_mapping() {
    for (pg, loupe) in [
        (
            "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
            "UPDATE pgbench_accounts SET abalance = abalance + -? WHERE aid = ?;",
        ),
        (
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, -?, CURRENT_TIMESTAMP);",
        ),
        (
            "select o.n from t where f(pg_catalog.current_schemas($1)) group by 1, 2 order by 1 asc limit $3",
            "select o.n from t where f(pg_catalog.current_schemas(true)) group by ?, ? order by ? asc limit ?",
        ),
        ("BEGIN", "BEGIN;"),
        ("SELECT a  FROM\n t1", "SELECT a FROM t1"),
        ("SET x = 'it''s'", "SET x = ?"),
    ] {
        assert_eq!(sql_key(pg), sql_key(loupe), "{pg:?} vs {loupe:?}");
    }
    assert_eq!(sql_key("SELECT a - ? FROM t"), "SELECT a - ? FROM t");
    assert_eq!(
        sql_key("SELECT x1, \"Y 2\" FROM t2"),
        "SELECT x1, \"Y 2\" FROM t2"
    );

    let m = |cmd, sql| mysql_com_counters(cmd, sql);
    assert_eq!(m(3, "SELECT ?"), Ok(vec!["Com_select"]));
    assert_eq!(m(3, "CREATE SCHEMA `mysqlslap`"), Ok(vec!["Com_create_db"]));
    assert_eq!(
        m(3, "DROP SCHEMA IF EXISTS `mysqlslap`"),
        Ok(vec!["Com_drop_db"])
    );
    assert_eq!(m(3, "set names ?"), Ok(vec!["Com_set_option"]));
    assert_eq!(
        m(3, "SHOW GLOBAL STATUS LIKE ?"),
        Ok(vec!["Com_show_status"])
    );
    assert_eq!(
        m(23, "SELECT name FROM t WHERE n >= ?"),
        Ok(vec!["Com_stmt_execute", "Com_select"])
    );
    assert_eq!(m(1, ""), Ok(vec![]));
    assert!(m(3, "selec ?").is_err());
    assert!(m(99, "").is_err());
}

// ------------------------------------------------------- no traced protocol

/// `loupe check`'s line "connections: N inferred, M of no traced protocol
/// (B bytes left in the kernel)" as (N, M, B).
fn check_connections(nats: &Nats) -> Result<(u64, u64, u64)> {
    let out = run(loupe_itest::loupe().args(["check", "--nats", &nats.url]))?;
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("connections:"))
        .unwrap_or_default();
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect();
    match nums[..] {
        [a, b, c] => Ok((a, b, c)),
        _ => bail!("no connections line in loupe check:\n{out}"),
    }
}

#[test]
fn connections_of_no_traced_protocol_stop_being_copied_by_the_kernel() -> Result<()> {
    let dir = temp_dir("untraced");
    let l = loupe(&dir, "itest-untraced")?;
    settle();
    // What moves anyway on connections of no traced protocol (NATS: the
    // agent's heartbeats, the planner's and loupe check's own messages),
    // per second, measured idle over a span like the test's own.
    let (_, _, idle_start) = check_connections(&l.nats)?;
    let idle = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let (_, ignored_before, untraced_before) = check_connections(&l.nats)?;
    let background = (untraced_before - idle_start) as f64 / idle.elapsed().as_secs_f64();
    let started = Instant::now();
    // 300 KB each way through the socket, 1000 bytes every 5 ms: the agent
    // gives up on both ends after a few writes and marks them in the kernel.
    let sent = 300 * 1000;
    let out = run(std::process::Command::new("python3")
        .arg(scripts_dir().join("garbage_tcp.py"))
        .args(["300", "5"]))?;
    assert_eq!(out.trim(), sent.to_string(), "the server read it all");
    // The kernel counters are sampled every second.
    std::thread::sleep(Duration::from_millis(2500));
    let (_, ignored, untraced) = check_connections(&l.nats)?;
    assert!(
        ignored >= ignored_before + 2,
        "both ends ignored: {ignored_before} -> {ignored}"
    );
    // Both ends together moved 2 x 300 KB; all but the first writes of each
    // stayed in the kernel, plus what NATS moved meanwhile (twice its idle
    // rate, and 64 KiB, of slack: never a second copy of the 600 KB).
    let left = untraced - untraced_before;
    let noise = 2.0 * background * started.elapsed().as_secs_f64() + f64::from(64 << 10);
    eprintln!(
        "untraced: {left} bytes left in the kernel, {background:.0} B/s idle, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        left > sent && (left as f64) <= 2.0 * sent as f64 + noise,
        "{left} bytes left in the kernel of {} moved ({background:.0} B/s besides, idle)",
        2 * sent
    );
    Ok(())
}

// ------------------------------------------------------------------ Redaction

/// Every row of `table` the agent holds, as it stores them.
fn tail_all(l: &Loupe, table: &str) -> Result<Vec<Value>> {
    let out = run(loupe_itest::loupe().args([
        "tail",
        "--table",
        table,
        "-o",
        "jsonl",
        "--limit",
        "100000",
        "--nats",
        &l.nats.url,
    ]))?;
    Ok(out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Secrets sent to real servers by real clients, that the servers saw (they
/// echo them back, or log them), never reach the store: PostgreSQL strings
/// as the server reads them (a backslash does not escape in '...'), dollar
/// quotes and comments; MariaDB's double-quoted and backslash-escaped
/// strings; an HTTP query string's values and secret-bearing headers.
#[test]
fn secrets_never_reach_the_store_on_real_traffic() -> Result<()> {
    let dir = temp_dir("secrets");
    let l = loupe(&dir, "itest-secrets")?;
    let pg = Postgres::start(&dir.join("pg"))?;
    let db = Mariadb::start(&dir.join("db"))?;
    let nginx = Nginx::start(&dir, None)?;
    settle();
    let echoed = pg.psql(&[
        r"SELECT 'x\' AS loupe_r1, 'pw-secret-1' AS loupe_r1b",
        "SELECT 1 AS loupe_r2 /* pw-secret-2 */",
        "SELECT 2 AS loupe_r3 -- pw-secret-3",
        "SELECT $q$pw-secret-4$q$ AS loupe_r4",
        r"SELECT E'pw-secret-5\'' AS loupe_r5",
    ])?;
    // The server read the strings as strings: the secrets came back.
    for s in ["pw-secret-1", "pw-secret-4", "pw-secret-5'"] {
        assert!(echoed.contains(s), "{echoed}");
    }
    // A password in the command line of a client (a connection URL). The
    // client stays a second after it connects, so the agent reads its
    // command line rather than finding it gone (then only `comm` is known).
    run(std::process::Command::new(Postgres::tool("psql"))
        .arg(format!(
            "postgresql://postgres:pw-secret-12@127.0.0.1:{}/postgres",
            pg.port
        ))
        .args([
            "-X",
            "-q",
            "-c",
            "SELECT pg_sleep(1)",
            "-c",
            "SELECT 3 AS loupe_r12",
        ]))?;
    let echoed =
        db.client(r#"SELECT "pw-secret-6" AS loupe_r6; SELECT 'a\'b', 'pw-secret-7' AS loupe_r7"#)?;
    assert!(
        echoed.contains("pw-secret-6") && echoed.contains("pw-secret-7"),
        "{echoed}"
    );
    let url = format!(
        "http://127.0.0.1:{}/index.html?user=pw-secret-8&remember",
        nginx.port
    );
    run(std::process::Command::new("curl").args([
        "-s",
        "-o",
        "/dev/null",
        "-H",
        "X-Api-Key: pw-secret-9",
        "-H",
        "X-Session-Id: pw-secret-10",
        "-H",
        "Authorization: Bearer pw-secret-11",
        &url,
    ]))?;
    // nginx writes its log line after the response is sent, so curl can
    // return first: wait for the line rather than race it.
    let seen = Instant::now();
    while !nginx
        .access_log()?
        .iter()
        .any(|(_, path, _)| path.contains("pw-secret-8"))
    {
        assert!(
            seen.elapsed() < Duration::from_secs(10),
            "nginx saw the query string"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let want_pg = [
        "SELECT ? AS loupe_r1, ? AS loupe_r1b",
        "SELECT ? AS loupe_r2",
        "SELECT ? AS loupe_r3",
        "SELECT ? AS loupe_r4",
        "SELECT ? AS loupe_r5",
        "SELECT ? AS loupe_r12",
    ];
    let start = Instant::now();
    loop {
        let pgsql = tail_all(&l, "pgsql_events")?;
        let mysql = tail_all(&l, "mysql_events")?;
        let http = tail_all(&l, "http_events")?;
        let bodies: Vec<String> = pgsql.iter().map(|r| s(r, "req_body")).collect();
        let have_pg = want_pg.iter().all(|w| bodies.iter().any(|b| b == w));
        let have_my = mysql
            .iter()
            .any(|r| s(r, "req_body") == "SELECT ? AS loupe_r6")
            && mysql
                .iter()
                .any(|r| s(r, "req_body") == "SELECT ?, ? AS loupe_r7");
        let have_http = http
            .iter()
            .any(|r| s(r, "req_path") == "/index.html?user=<redacted>&remember");
        if have_pg && have_my && have_http {
            // The command line keeps the SQL a client was given (`-c …`), whose
            // literals are the user's own; its password-like arguments are
            // masked. Every other column holds no secret at all.
            for (table, rows) in [
                ("pgsql_events", &pgsql),
                ("mysql_events", &mysql),
                ("http_events", &http),
            ] {
                for r in rows.iter() {
                    let mut r = r.clone();
                    let cmdline = s(&r, "cmdline");
                    assert!(!cmdline.contains("pw-secret-12"), "{cmdline}");
                    r["cmdline"] = Value::Null;
                    let text = r.to_string();
                    assert!(
                        !text.contains("pw-secret"),
                        "a secret stored in {table}: {text}"
                    );
                }
            }
            assert!(
                pgsql.iter().any(|r| s(r, "cmdline")
                    .contains("postgresql://postgres:<redacted>@127.0.0.1")),
                "the URL's password masked in cmdline"
            );
            let h = http
                .iter()
                .find(|r| s(r, "req_path").starts_with("/index.html?user="))
                .unwrap();
            let headers = s(h, "req_headers");
            for name in ["X-Api-Key", "X-Session-Id", "Authorization"] {
                assert!(headers.contains(name), "{headers}");
            }
            assert_eq!(headers.matches("<redacted>").count(), 3, "{headers}");
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!(
                "the statements did not all become rows: pgsql {bodies:?}; mysql {:?}; http {:?}",
                mysql.iter().map(|r| s(r, "req_body")).collect::<Vec<_>>(),
                http.iter().map(|r| s(r, "req_path")).collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// An operator widens capture per table in the agent's config file, and
/// only there: what the file keeps is kept on real traffic, every other
/// table and header stays redacted, `loupe check` says what is widened,
/// and a typo in the file stops the agent with the line it is on.
#[test]
fn the_agent_config_widens_capture_per_table_and_nothing_else() -> Result<()> {
    let dir = temp_dir("widened");
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        "[capture.http_events]\nquery_values = true\nheaders = [\"X-Session-Id\"]\nbody_bytes = 16\n\n[capture.pgsql_events]\nliterals = true\n",
    )?;
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[capture.http_events]\nquery_value = true\n")?;
    let nats = Nats::start(&dir)?;
    let out = loupe_itest::loupe()
        .args(["agent", "--node", "bad", "--nats", &nats.url, "--config"])
        .arg(&bad)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("bad.toml") && stderr.contains("line 2") && stderr.contains("query_value"),
        "{stderr}"
    );
    let planner = Planner::start(&nats.url, "p1", &dir)?;
    let agent = Agent::start(
        &nats,
        "itest-widened",
        &dir,
        &["--config", config.to_str().unwrap()],
    )?;
    let l = Loupe {
        nats,
        _planner: planner,
        agent,
    };
    let pg = Postgres::start(&dir.join("pg"))?;
    let db = Mariadb::start(&dir.join("db"))?;
    let nginx = Nginx::start(&dir, None)?;
    settle();
    pg.psql(&["SELECT 'kept-literal-1' AS loupe_w1"])?;
    db.client("SELECT 'hidden-literal-2' AS loupe_w2")?;
    run(std::process::Command::new("curl").args([
        "-s",
        "-o",
        "/dev/null",
        "-H",
        "X-Session-Id: kept-session-3",
        "-H",
        "Authorization: Bearer hidden-4",
        "--data-binary",
        "body-kept-5-and-not-this",
        &format!("http://127.0.0.1:{}/index.html?user=kept-6", nginx.port),
    ]))?;

    let start = Instant::now();
    loop {
        let pgsql = tail_all(&l, "pgsql_events")?;
        let mysql = tail_all(&l, "mysql_events")?;
        let http: Vec<Value> = tail_all(&l, "http_events")?
            .into_iter()
            .filter(|r| s(r, "req_path").starts_with("/index.html?user="))
            .collect();
        let have_pg = pgsql
            .iter()
            .any(|r| s(r, "req_body") == "SELECT 'kept-literal-1' AS loupe_w1");
        let have_my = mysql
            .iter()
            .any(|r| s(r, "req_body") == "SELECT ? AS loupe_w2");
        if have_pg && have_my && !http.is_empty() {
            // (The client's own command line holds the SQL it was given:
            // its argv, masked for passwords only.)
            for r in &mysql {
                let mut r = r.clone();
                r["cmdline"] = Value::Null;
                assert!(!r.to_string().contains("hidden-literal-2"), "{r}");
            }
            for r in &http {
                // curl's own argv, when read before it exited, holds its
                // body; its Authorization header is masked there too.
                let cmdline = s(r, "cmdline");
                assert!(!cmdline.contains("hidden-4"), "{cmdline}");
                let mut r = r.clone();
                r["cmdline"] = Value::Null;
                assert_eq!(s(&r, "req_path"), "/index.html?user=kept-6");
                let headers = s(&r, "req_headers");
                assert!(headers.contains("kept-session-3"), "{headers}");
                assert!(!r.to_string().contains("hidden-4"), "{r}");
                assert!(!r.to_string().contains("not-this"), "{r}");
            }
            assert!(
                http.iter().any(|r| s(r, "req_body") == "body-kept-5-and-"),
                "{http:?}"
            );
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!(
                "the statements did not all become rows: pgsql {:?}; mysql {:?}; http {http:?}",
                pgsql.iter().map(|r| s(r, "req_body")).collect::<Vec<_>>(),
                mysql.iter().map(|r| s(r, "req_body")).collect::<Vec<_>>(),
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let check = run(loupe_itest::loupe().args(["check", "--nats", &l.nats.url]))?;
    assert!(
        check.contains("capture widened by the agent's config: http_events: query values, headers X-Session-Id, 16 body bytes; pgsql_events: SQL literals"),
        "{check}"
    );
    Ok(())
}
