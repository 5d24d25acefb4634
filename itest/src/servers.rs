//! Real database and DNS servers for end-to-end tests: PostgreSQL 15,
//! MariaDB 10.11, Redis 7 and dnsmasq (Debian 12 packages), each started as
//! a process of the test on a loopback port it picked, with its data, config
//! and logs in the test's temporary directory, and stopped by pid when its
//! guard drops. No container, no system service, no default port.
//!
//! Each server has client-driving helpers that go over TCP/UDP on 127.0.0.1
//! (what the agent traces) and ground-truth readers that ask the server
//! itself: `pg_stat_statements`, `SHOW GLOBAL STATUS LIKE 'Com_%'`, `INFO
//! commandstats`, dnsmasq's `--log-queries` lines. The readers talk over the
//! server's unix socket, which the agent does not trace, and subtract what
//! their own reads add to the counters, so a reading is what the clients did.

use crate::{Proc, free_port, run};
use anyhow::{Context, Result, bail};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long a server may take to accept its first client.
const READY: Duration = Duration::from_secs(30);

/// itest/tests/scripts: the Python clients the helpers run.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

/// The last `n` lines of a log file (or why it cannot be read).
pub fn log_tail(path: &Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            let lines: Vec<&str> = t.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// Polls `ready` every 100 ms until it says yes, the server exits, or
/// [`READY`] passes; the error shows the server's log tail.
fn wait_ready(proc: &mut Proc, log: &Path, mut ready: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < READY {
        if ready() {
            return Ok(());
        }
        if !proc.alive() {
            bail!(
                "{} exited before it was ready; {}:\n{}",
                proc.name,
                log.display(),
                log_tail(log, 30)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{} not ready after {READY:?}; {}:\n{}",
        proc.name,
        log.display(),
        log_tail(log, 30)
    )
}

/// Sends `sig` to the server and waits up to `timeout` for it to exit; the
/// `Proc` guard then does what is left (SIGTERM, SIGKILL).
fn stop(proc: &mut Proc, sig: i32, timeout: Duration) {
    if !proc.alive() {
        return;
    }
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(proc.pid() as i32, sig) };
    let start = Instant::now();
    while start.elapsed() < timeout && proc.alive() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a command to completion and returns its output whatever its exit code.
fn output(cmd: &mut Command) -> Result<Output> {
    cmd.output().with_context(|| format!("running {cmd:?}"))
}

/// uid and gid of a system user, from /etc/passwd.
fn system_user(name: &str) -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == name {
            return Ok((f[2].parse()?, f[3].parse()?));
        }
    }
    bail!("no system user {name}: the README's test command installs postgresql, which adds it")
}

fn nonzero(m: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    m.into_iter().filter(|(_, v)| *v != 0).collect()
}

// ---------------------------------------------------------------- PostgreSQL

/// PostgreSQL 15 (Debian, /usr/lib/postgresql/15/bin), run as the `postgres`
/// system user (it refuses root) on 127.0.0.1:`port`, trust authentication,
/// with `pg_stat_statements` loaded and tracking every statement. Its log
/// (stderr) is `pg.log` in the directory.
pub struct Postgres {
    pub port: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
    sock_dir: PathBuf,
    pub proc: Proc,
}

impl Postgres {
    pub const BIN: &'static str = "/usr/lib/postgresql/15/bin";

    /// A PostgreSQL 15 program by its full path (not the pg_wrapper in /usr/bin).
    pub fn tool(name: &str) -> PathBuf {
        Path::new(Self::BIN).join(name)
    }

    pub fn start(dir: &Path) -> Result<Postgres> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let bin = Path::new(Self::BIN);
        if !bin.join("postgres").exists() {
            bail!(
                "{}/postgres not found: the README's test command installs postgresql (15)",
                Self::BIN
            );
        }
        let (uid, gid) = system_user("postgres")?;
        let sock_dir = dir.join("sock");
        std::fs::create_dir_all(&sock_dir)?;
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
        std::os::unix::fs::chown(&sock_dir, Some(uid), Some(gid))?;
        let data = dir.join("data");
        run(Command::new(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["--auth=trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            .current_dir(dir)
            .uid(uid)
            .gid(gid))
        .context("initdb")?;
        let port = free_port();
        let log = dir.join("pg.log");
        let mut proc = Proc::spawn(
            "postgres",
            Command::new(bin.join("postgres"))
                .arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!("unix_socket_directories={}", sock_dir.display()))
                .args(["-c", "shared_preload_libraries=pg_stat_statements"])
                .args(["-c", "pg_stat_statements.track=all"])
                .args(["-c", "pg_stat_statements.max=10000"])
                .args(["-c", "fsync=off", "-c", "max_connections=50"])
                .current_dir(dir)
                .uid(uid)
                .gid(gid),
            &log,
        )?;
        let probe = Self::local_cmd(&sock_dir, port, "SELECT 1");
        wait_ready(&mut proc, &log, || {
            Command::new(Self::tool("psql"))
                .args(&probe)
                .output()
                .is_ok_and(|o| o.status.success())
        })?;
        let pg = Postgres {
            port,
            dir: dir.to_path_buf(),
            log,
            sock_dir,
            proc,
        };
        pg.local("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")?;
        Ok(pg)
    }

    fn local_cmd(sock_dir: &Path, port: u16, sql: &str) -> Vec<String> {
        [
            "-X",
            "-q",
            "-A",
            "-t",
            "-h",
            &sock_dir.display().to_string(),
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ]
        .map(String::from)
        .to_vec()
    }

    /// `psql -c sql` over the unix socket (not traced): setup and ground truth.
    pub fn local(&self, sql: &str) -> Result<String> {
        run(Command::new(Self::tool("psql"))
            .args(Self::local_cmd(&self.sock_dir, self.port, sql))
            .env("PGCONNECT_TIMEOUT", "10"))
    }

    /// A `psql` over TCP 127.0.0.1 with each of `sqls` as its own `-c`
    /// (one simple-protocol Query each, on one connection).
    pub fn psql_cmd(&self, sqls: &[&str]) -> Command {
        let mut c = Command::new(Self::tool("psql"));
        c.args(["-X", "-q", "-A", "-t", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .env("PGCONNECT_TIMEOUT", "10");
        for s in sqls {
            c.args(["-c", s]);
        }
        c
    }

    /// `psql` over TCP; fails if any statement fails.
    pub fn psql(&self, sqls: &[&str]) -> Result<String> {
        run(self.psql_cmd(sqls).args(["-v", "ON_ERROR_STOP=1"]))
    }

    /// `psql` over TCP; returns the output whatever the exit code.
    pub fn psql_output(&self, sqls: &[&str]) -> Result<Output> {
        output(&mut self.psql_cmd(sqls))
    }

    /// `pgbench -h 127.0.0.1 ... postgres`.
    pub fn pgbench(&self, args: &[&str]) -> Result<String> {
        run(Command::new(Self::tool("pgbench"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(args)
            .arg("postgres")
            .env("PGCONNECT_TIMEOUT", "10"))
    }

    /// One of `itest/tests/scripts/pg_client.py`'s bad clients (`garbage`,
    /// `midsession`, `abort SQL`); returns what it printed.
    pub fn bad_client(&self, mode: &str, sql: Option<&str>) -> Result<String> {
        run(Command::new("python3")
            .arg(scripts_dir().join("pg_client.py"))
            .arg(mode)
            .arg(self.port.to_string())
            .args(sql))
    }

    /// `pg_stat_statements_reset()`: ground truth starts now.
    pub fn reset_stats(&self) -> Result<()> {
        self.local("SELECT pg_stat_statements_reset()").map(drop)
    }

    /// Ground truth: `calls` of every top-level statement in
    /// `pg_stat_statements`, keyed by [`sql_key`] (entries of the same key
    /// summed), without the statements that read or reset it.
    pub fn statement_calls(&self) -> Result<BTreeMap<String, i64>> {
        let out = run(Command::new(Self::tool("psql"))
            .args(Self::local_cmd(
                &self.sock_dir,
                self.port,
                "SELECT calls, query FROM pg_stat_statements \
                 WHERE toplevel AND query NOT LIKE '%pg_stat_statements%'",
            ))
            .args(["--field-separator", "\u{1f}", "--record-separator-zero"]))?;
        let mut m = BTreeMap::new();
        for rec in out.split('\0').filter(|r| !r.trim().is_empty()) {
            let (calls, query) = rec
                .split_once('\u{1f}')
                .with_context(|| format!("bad pg_stat_statements record {rec:?}"))?;
            *m.entry(sql_key(query)).or_insert(0) += calls.trim().parse::<i64>()?;
        }
        Ok(nonzero(m))
    }

    /// Lines of the server's log that contain `needle` (e.g. its ERROR lines).
    pub fn log_count(&self, needle: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for clients).
        stop(&mut self.proc, libc::SIGINT, Duration::from_secs(10));
    }
}

/// The comparable shape of a SQL statement: every literal `?`, on either side.
///
/// `pg_stat_statements` writes constants as `$1`, `$2`, ... but keeps some
/// (GROUP BY ordinals, utility statements' literals); Loupe writes `?` and
/// keeps `true`/`false`/`NULL` and a sign before a number. Both sides go
/// through this one function: quoted strings, numbers, `$N`, `true`, `false`
/// and `NULL` become `?`, a sign right before a `?` that follows an operator,
/// `(` or `,` goes, runs of white space become one space, a trailing `;` goes.
///
/// ```
/// use loupe_itest::servers::sql_key;
/// assert_eq!(
///     sql_key("UPDATE t SET a = a + $1 WHERE id = $2"),
///     sql_key("UPDATE t SET a = a + -? WHERE id = ?;"),
/// );
/// assert_eq!(sql_key("select f(true) group by 1 limit $3"), "select f(?) group by ? limit ?");
/// ```
pub fn sql_key(sql: &str) -> String {
    let b = sql.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut space = false;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        let prev_ident = out.as_bytes().last().is_some_and(|&p| ident(p));
        if c == b'\'' {
            // A string literal ('' and \ escapes stay inside).
            i += 1;
            while i < b.len() {
                if b[i] == b'\\' || (b[i] == b'\'' && b.get(i + 1) == Some(&b'\'')) {
                    i += 2;
                } else if b[i] == b'\'' {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            out.push('?');
        } else if c == b'"' {
            let end = sql[i + 1..].find('"').map_or(b.len(), |e| i + 2 + e);
            out.push_str(&sql[i..end]);
            i = end;
        } else if (c == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
            || (c.is_ascii_digit() && !prev_ident)
        {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push('?');
        } else if ident(c) {
            let start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            let word = &sql[start..i];
            if !prev_ident
                && ["true", "false", "null"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
            {
                out.push('?');
            } else {
                out.push_str(word);
            }
        } else {
            let len = sql[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&sql[i..i + len]);
            i += len;
        }
        // `-?` after an operator, `(` or `,` (or at the start): a signed literal.
        if out.ends_with('?') && out.len() >= 2 && out.as_bytes()[out.len() - 2] == b'-' {
            let before = out[..out.len() - 2].trim_end();
            if before.is_empty()
                || before.ends_with(['+', '-', '*', '/', '=', '<', '>', '(', ',', '%'])
            {
                out.truncate(out.len() - 2);
                out.push('?');
            }
        }
    }
    let trimmed = out.trim_end().trim_end_matches(';').trim_end();
    trimmed.to_string()
}

// ------------------------------------------------------------------- MariaDB

/// MariaDB 10.11 (`mariadbd`) on 127.0.0.1:`port`, with a fresh data dir
/// (`mariadb-install-db`), the unix socket `sock` for setup and ground
/// truth, and a user [`Mariadb::USER`]@127.0.0.1 (no password, all
/// privileges) for the clients, which connect over TCP.
pub struct Mariadb {
    pub port: u16,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub proc: Proc,
    /// `SHOW GLOBAL STATUS` reads we made.
    reads: std::cell::Cell<i64>,
}

impl Mariadb {
    pub const USER: &'static str = "loupe";

    pub fn start(dir: &Path) -> Result<Mariadb> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let daemon = crate::which("mariadbd")
            .context("mariadbd: the README's test command installs mariadb-server")?;
        let data = dir.join("data");
        run(Command::new(crate::which("mariadb-install-db")?)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ]))
        .context("mariadb-install-db")?;
        let port = free_port();
        let socket = dir.join("sock");
        let log = dir.join("mariadb.err");
        let mut proc = Proc::spawn(
            "mariadbd",
            Command::new(daemon)
                .arg("--no-defaults")
                .arg("--user=root")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--port={port}"))
                .arg("--bind-address=127.0.0.1")
                .arg("--skip-name-resolve")
                .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
                .arg(format!("--log-error={}", log.display()))
                .args([
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=32M",
                    "--max-connections=100",
                ]),
            &dir.join("mariadbd.out"),
        )?;
        let probe = |sock: &Path| {
            Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", sock.display()))
                .args(["-u", "root", "-e", "SELECT 1"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        wait_ready(&mut proc, &log, || probe(&socket))?;
        let m = Mariadb {
            port,
            dir: dir.to_path_buf(),
            socket,
            log,
            proc,
            reads: std::cell::Cell::new(0),
        };
        m.local(&format!(
            "CREATE USER '{u}'@'127.0.0.1'; GRANT ALL PRIVILEGES ON *.* TO '{u}'@'127.0.0.1'",
            u = Self::USER
        ))?;
        Ok(m)
    }

    /// `mariadb -e sql` as root over the unix socket (not traced).
    pub fn local(&self, sql: &str) -> Result<String> {
        run(Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-u", "root", "-N", "-B", "-e", sql]))
    }

    /// The `mariadb` client over TCP 127.0.0.1; it sends each `;`-separated
    /// statement of `sql` as its own COM_QUERY and stops at the first error.
    pub fn client_cmd(&self, sql: &str) -> Command {
        let mut c = Command::new("mariadb");
        c.args(["--no-defaults", "--protocol=tcp", "-h", "127.0.0.1"])
            .args(["-P", &self.port.to_string(), "-u", Self::USER])
            .args(["--connect-timeout=10", "-N", "-B", "-e", sql]);
        c
    }

    pub fn client(&self, sql: &str) -> Result<String> {
        run(&mut self.client_cmd(sql))
    }

    /// The client, whatever its exit code (for statements meant to fail).
    pub fn client_output(&self, sql: &str) -> Result<Output> {
        output(&mut self.client_cmd(sql))
    }

    /// `mysqlslap` over TCP with `args` after the connection options.
    pub fn mysqlslap(&self, args: &[&str]) -> Result<String> {
        run(Command::new("mysqlslap")
            .args(["--no-defaults", "--protocol=tcp", "-h", "127.0.0.1"])
            .args(["-P", &self.port.to_string(), "-u", Self::USER])
            .args(args))
    }

    /// Server-side prepared statements (`itest/tests/scripts/mysql_prepared.py`,
    /// mysql-connector-python): `n` executions each of an INSERT into and a
    /// SELECT from `loupe.items`, which must exist.
    pub fn prepared(&self, n: usize) -> Result<String> {
        run(Command::new("python3")
            .arg(scripts_dir().join("mysql_prepared.py"))
            .arg(self.port.to_string())
            .arg(Self::USER)
            .arg(n.to_string()))
    }

    /// Every `Com_*` counter of `SHOW GLOBAL STATUS`, read over the unix
    /// socket, without our own reads: each adds 1 to `Com_show_status`
    /// (counted before the statement runs, so it is in its own answer).
    pub fn com_counters(&self) -> Result<BTreeMap<String, i64>> {
        let out = self.local("SHOW GLOBAL STATUS LIKE 'Com\\_%'")?;
        self.reads.set(self.reads.get() + 1);
        let mut m = BTreeMap::new();
        for l in out.lines() {
            if let Some((k, v)) = l.split_once('\t')
                && k.starts_with("Com_")
            {
                m.insert(k.to_string(), v.trim().parse::<i64>()?);
            }
        }
        if m.is_empty() {
            bail!("no Com_ counters in {out:?}");
        }
        *m.entry("Com_show_status".into()).or_insert(0) -= self.reads.get();
        Ok(m)
    }

    /// Ground truth: the counters that moved since `before` (a
    /// [`Mariadb::com_counters`]).
    pub fn com_deltas(&self, before: &BTreeMap<String, i64>) -> Result<BTreeMap<String, i64>> {
        let after = self.com_counters()?;
        let d: BTreeMap<String, i64> = after
            .iter()
            .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
            .collect();
        Ok(nonzero(d))
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        // SIGTERM is a normal shutdown; InnoDB may take a few seconds.
        stop(&mut self.proc, libc::SIGTERM, Duration::from_secs(15));
    }
}

/// The `Com_*` counters one MySQL-protocol command moves, as MariaDB 10.11
/// counts them: `cmd` is the COM_ byte, `sql` the statement (the prepared
/// statement's text for COM_STMT_EXECUTE). `Ok(vec![])` for commands no
/// counter sees (COM_QUIT); `Err` for what this small table does not know.
///
/// - COM_QUERY (3): the counter of its first keywords (below).
/// - COM_STMT_EXECUTE (23): `Com_stmt_execute` and the statement's counter
///   (an executed prepared SELECT is also a `Com_select`).
/// - COM_INIT_DB (2) `Com_change_db`, COM_PING (14) `Com_admin_commands`,
///   COM_STMT_PREPARE (22), _CLOSE (25), _RESET (26) their `Com_stmt_*`.
pub fn mysql_com_counters(cmd: i64, sql: &str) -> Result<Vec<&'static str>, String> {
    let statement = || -> Result<&'static str, String> {
        let words: Vec<String> = sql
            .split_whitespace()
            .take(3)
            .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
            .collect();
        let w = |i: usize| words.get(i).map_or("", String::as_str);
        Ok(match (w(0), w(1)) {
            ("SELECT", _) => "Com_select",
            ("INSERT", _) => "Com_insert",
            ("UPDATE", _) => "Com_update",
            ("DELETE", _) => "Com_delete",
            ("REPLACE", _) => "Com_replace",
            ("SET", _) => "Com_set_option",
            ("USE", _) => "Com_change_db",
            ("BEGIN", _) | ("START", "TRANSACTION") => "Com_begin",
            ("COMMIT", _) => "Com_commit",
            ("ROLLBACK", _) => "Com_rollback",
            ("CREATE", "TABLE") => "Com_create_table",
            ("CREATE", "DATABASE" | "SCHEMA") => "Com_create_db",
            ("DROP", "TABLE") => "Com_drop_table",
            ("DROP", "DATABASE" | "SCHEMA") => "Com_drop_db",
            ("SHOW", "STATUS") => "Com_show_status",
            ("SHOW", "GLOBAL" | "SESSION") if w(2) == "STATUS" => "Com_show_status",
            _ => return Err(format!("unmapped statement {sql:?}")),
        })
    };
    match cmd {
        1 => Ok(vec![]),
        2 => Ok(vec!["Com_change_db"]),
        3 => Ok(vec![statement()?]),
        14 => Ok(vec!["Com_admin_commands"]),
        22 => Ok(vec!["Com_stmt_prepare"]),
        23 => Ok(vec!["Com_stmt_execute", statement()?]),
        25 => Ok(vec!["Com_stmt_close"]),
        26 => Ok(vec!["Com_stmt_reset"]),
        _ => Err(format!("unmapped command {cmd} {sql:?}")),
    }
}

// --------------------------------------------------------------------- Redis

/// redis-server (7) on 127.0.0.1:`port`, no persistence, plus a unix socket
/// for ground truth. Its log is `redis.log` in the directory.
pub struct Redis {
    pub port: u16,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub proc: Proc,
    /// Calls our own commands over the socket added since the last reset,
    /// keyed like [`Redis::command_calls`].
    own: RefCell<BTreeMap<String, i64>>,
}

impl Redis {
    pub fn start(dir: &Path) -> Result<Redis> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let bin = crate::which("redis-server")
            .context("redis-server: the README's test command installs redis-server")?;
        let port = free_port();
        let socket = dir.join("redis.sock");
        let log = dir.join("redis.log");
        let mut proc = Proc::spawn(
            "redis-server",
            Command::new(bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir)
                .arg("--unixsocket")
                .arg(&socket)
                .args(["--unixsocketperm", "700", "--daemonize", "no"]),
            &log,
        )?;
        let probe = |s: &Path| {
            Command::new("redis-cli")
                .arg("-s")
                .arg(s)
                .arg("PING")
                .output()
                .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"PONG"))
        };
        wait_ready(&mut proc, &log, || probe(&socket))?;
        let r = Redis {
            port,
            dir: dir.to_path_buf(),
            socket,
            log,
            proc,
            own: RefCell::new(BTreeMap::new()),
        };
        // The probe that got a PONG (earlier ones found no socket).
        r.own.borrow_mut().insert("PING".into(), 1);
        Ok(r)
    }

    fn local(&self, args: &[&str]) -> Result<String> {
        run(Command::new("redis-cli")
            .arg("-s")
            .arg(&self.socket)
            .args(args))
    }

    /// `redis-cli -h 127.0.0.1 -p port args...` (one command, one connection).
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        run(Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args))
    }

    /// `redis-cli` reading commands from stdin, one per line, on one
    /// connection. Redis-cli then also sends `COMMAND DOCS` first.
    pub fn cli_stdin(&self, input: &str) -> Result<String> {
        use std::io::Write;
        let mut child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("redis-cli stdin")?
            .write_all(input.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("redis-cli failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `redis-benchmark -h 127.0.0.1 -p port args...`. It also sends
    /// `CONFIG GET save` and `CONFIG GET appendonly` once.
    pub fn benchmark(&self, args: &[&str]) -> Result<String> {
        run(Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args))
    }

    /// A `redis-cli SUBSCRIBE channel` over TCP, returned once subscribed;
    /// its output (`subscribe`, then `message channel payload` lines) goes
    /// to `<dir>/subscriber-<channel>.out`.
    pub fn subscriber(&self, channel: &str) -> Result<(Proc, PathBuf)> {
        let out = self.dir.join(format!("subscriber-{channel}.out"));
        let mut p = Proc::spawn(
            "redis-cli subscribe",
            Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["SUBSCRIBE", channel]),
            &out,
        )?;
        let want = format!("subscribe\n{channel}\n1\n");
        wait_ready(&mut p, &out, || {
            std::fs::read_to_string(&out).is_ok_and(|t| t.contains(&want))
        })?;
        Ok((p, out))
    }

    /// `CONFIG RESETSTAT` (over the socket): ground truth starts now.
    pub fn reset_stats(&self) -> Result<()> {
        self.local(&["CONFIG", "RESETSTAT"])?;
        // RESETSTAT is counted after it ran, so it is in the fresh stats.
        *self.own.borrow_mut() = BTreeMap::from([("CONFIG RESETSTAT".to_string(), 1)]);
        Ok(())
    }

    /// Ground truth: `INFO commandstats` as command -> calls +
    /// rejected_calls (a command refused before it ran, e.g. for its arity,
    /// still got an error reply), keyed the way Loupe writes `req_cmd`:
    /// `cmdstat_config|get` is `CONFIG GET`. Our own commands over the
    /// socket (this INFO, the reset) are taken out.
    pub fn command_calls(&self) -> Result<BTreeMap<String, i64>> {
        let text = self.local(&["INFO", "commandstats"])?;
        let mut m = BTreeMap::new();
        for l in text.lines() {
            let Some(rest) = l.trim().strip_prefix("cmdstat_") else {
                continue;
            };
            let (name, fields) = rest
                .split_once(':')
                .with_context(|| format!("bad commandstats line {l:?}"))?;
            let mut n = 0;
            for f in fields.split(',') {
                if let Some((k, v)) = f.split_once('=')
                    && (k == "calls" || k == "rejected_calls")
                {
                    n += v.parse::<i64>()?;
                }
            }
            m.insert(name.replace('|', " ").to_ascii_uppercase(), n);
        }
        for (k, v) in self.own.borrow().iter() {
            *m.entry(k.clone()).or_insert(0) -= v;
        }
        // This INFO is counted after it answered: in the next reading.
        *self.own.borrow_mut().entry("INFO".into()).or_insert(0) += 1;
        Ok(nonzero(m))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        stop(&mut self.proc, libc::SIGTERM, Duration::from_secs(5));
    }
}

// ------------------------------------------------------------------- dnsmasq

/// dnsmasq on 127.0.0.1:`port` (UDP and TCP) answering only from local
/// data, so nothing upstream is ever asked, and logging every query
/// (`--log-queries=extra`) to `dns.log`:
///
/// | name | answer |
/// |------|--------|
/// | `a.loupe.test` | A 10.0.0.1, AAAA fd00::1 |
/// | `www.loupe.test` | CNAME a.loupe.test |
/// | `t.loupe.test` | TXT "hello loupe" |
/// | `_http._tcp.loupe.test` | SRV 0 0 80 a.loupe.test |
/// | `1.0.0.10.in-addr.arpa` | PTR a.loupe.test |
/// | `nx.loupe.test` and below | NXDOMAIN |
/// | anything else | REFUSED (no upstream) |
pub struct Dnsmasq {
    pub port: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub proc: Proc,
}

impl Dnsmasq {
    pub fn start(dir: &Path) -> Result<Dnsmasq> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let bin = crate::which("dnsmasq")
            .context("dnsmasq: the README's test command installs dnsmasq-base")?;
        let port = free_port();
        let log = dir.join("dns.log");
        let mut proc = Proc::spawn(
            "dnsmasq",
            Command::new(bin)
                .args([
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--user=root",
                ])
                .args(["--no-resolv", "--no-hosts", "--no-poll"])
                .arg(format!("--port={port}"))
                .args(["--listen-address=127.0.0.1", "--bind-interfaces"])
                .arg("--log-queries=extra")
                .arg(format!("--log-facility={}", log.display()))
                .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
                .args([
                    "--address=/nx.loupe.test/",
                    "--host-record=a.loupe.test,10.0.0.1,fd00::1",
                    "--cname=www.loupe.test,a.loupe.test",
                    "--txt-record=t.loupe.test,hello loupe",
                    "--srv-host=_http._tcp.loupe.test,a.loupe.test,80",
                    "--ptr-record=1.0.0.10.in-addr.arpa,a.loupe.test",
                ]),
            &dir.join("dnsmasq.out"),
        )?;
        // dnsmasq binds its sockets before it logs that it started.
        wait_ready(&mut proc, &log, || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.contains("started, version"))
        })?;
        Ok(Dnsmasq {
            port,
            dir: dir.to_path_buf(),
            log,
            proc,
        })
    }

    /// `dig @127.0.0.1 -p port +tries=1 args...` (add `+tcp` for TCP).
    pub fn dig(&self, args: &[&str]) -> Result<String> {
        run(Command::new("dig")
            .args(["@127.0.0.1", "-p", &self.port.to_string()])
            .args(["+tries=1", "+time=3"])
            .args(args))
    }

    /// The resolver-library client (`itest/tests/scripts/dns_client.py`,
    /// dnspython): eight queries, UDP and TCP, two NXDOMAIN.
    pub fn resolver(&self) -> Result<String> {
        run(Command::new("python3")
            .arg(scripts_dir().join("dns_client.py"))
            .arg(self.port.to_string()))
    }

    /// Ground truth: the queries dnsmasq logged, as `"name TYPE rcode
    /// transport"` -> count. `rcode` is the answer dnsmasq logged for it: 3
    /// for `is NXDOMAIN`, 5 for `is REFUSED`, 2 for `is SERVFAIL`, else 0
    /// (also NODATA). dnsmasq serves each TCP connection in a forked child,
    /// so a query logged under another pid than the server's came over TCP.
    pub fn queries(&self) -> Result<BTreeMap<String, i64>> {
        let text = std::fs::read_to_string(&self.log)?;
        let main_pid = self.proc.pid().to_string();
        // (pid, serial) -> (name, type, rcode) for the queries, in log order.
        let mut open: BTreeMap<(String, String), (String, String, Option<i64>)> = BTreeMap::new();
        let mut order = Vec::new();
        for l in text.lines() {
            // `Dec  1 10:20:07 dnsmasq[2975]: 1 127.0.0.1/45210 query[A] a.loupe.test from 127.0.0.1`
            let Some(start) = l.find("dnsmasq[") else {
                continue;
            };
            let rest = &l[start + "dnsmasq[".len()..];
            let Some((pid, rest)) = rest.split_once("]: ") else {
                continue;
            };
            let f: Vec<&str> = rest.split(' ').collect();
            if f.len() < 4 || !f[0].bytes().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let key = (pid.to_string(), f[0].to_string());
            if let Some(ty) = f[2]
                .strip_prefix("query[")
                .and_then(|t| t.strip_suffix(']'))
            {
                open.insert(key.clone(), (f[3].to_string(), ty.to_string(), None));
                order.push(key);
            } else if let Some(q) = open.get_mut(&key)
                && q.2.is_none()
            {
                let answer = f[2..].join(" ");
                q.2 = Some(if answer.contains(" is NXDOMAIN") {
                    3
                } else if answer.contains(" is REFUSED") {
                    5
                } else if answer.contains(" is SERVFAIL") {
                    2
                } else {
                    0
                });
            }
        }
        let mut m = BTreeMap::new();
        for key in order {
            let (name, ty, rcode) = &open[&key];
            let transport = if key.0 == main_pid { "udp" } else { "tcp" };
            let rcode = rcode.unwrap_or(-1);
            *m.entry(format!("{name} {ty} {rcode} {transport}"))
                .or_insert(0) += 1;
        }
        Ok(m)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        stop(&mut self.proc, libc::SIGTERM, Duration::from_secs(5));
    }
}

/// A UDP "DNS server" on 127.0.0.1:`port` that reads queries and never
/// answers (`itest/tests/scripts/silent_udp.py`), so clients time out; it
/// logs each datagram it got.
pub struct SilentDns {
    pub port: u16,
    pub log: PathBuf,
    pub proc: Proc,
}

impl SilentDns {
    pub fn start(dir: &Path) -> Result<SilentDns> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = free_port();
        let log = dir.join("silent.log");
        let out = dir.join("silent.out");
        let mut proc = Proc::spawn(
            "silent_udp.py",
            Command::new("python3")
                .arg(scripts_dir().join("silent_udp.py"))
                .arg(port.to_string())
                .arg(&log),
            &out,
        )?;
        wait_ready(&mut proc, &out, || {
            std::fs::read_to_string(&out).is_ok_and(|t| t.contains("listening"))
        })?;
        Ok(SilentDns { port, log, proc })
    }

    /// One `dig` query that gets no answer (dig gives up after 1 s and
    /// exits 9: that is the point, so its exit code is not checked).
    pub fn dig(&self, name: &str, ty: &str) -> Result<()> {
        output(
            Command::new("dig")
                .args(["@127.0.0.1", "-p", &self.port.to_string()])
                .args(["+tries=1", "+time=1", name, ty]),
        )
        .map(drop)
    }

    /// Ground truth: the datagrams it read, as `"name TYPE"` -> count.
    pub fn received(&self) -> Result<BTreeMap<String, i64>> {
        let mut m = BTreeMap::new();
        for l in std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
        {
            *m.entry(l.trim().to_string()).or_insert(0) += 1;
        }
        Ok(m)
    }
}
