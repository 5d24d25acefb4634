//! Helpers for end-to-end tests: real processes on loopback ports the test
//! picks, each stopped (by pid) when its guard drops. Nothing here is faked:
//! the agent loads real eBPF, nats-server is the real server, and ground
//! truth comes from the other side (nginx's access log, the servers' own logs).

pub mod cluster;
pub mod kube;
pub mod otel;
pub mod servers;

use anyhow::{Context, Result, bail};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc> {
        let f = std::fs::File::create(log)?;
        let child = cmd
            .stdout(f.try_clone()?)
            .stderr(f)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Proc {
            child,
            name: name.into(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, and waits for it to end (SIGKILL after 3 s). Once it has
    /// been reaped, nothing is signalled (its pid may belong to another
    /// process by then).
    pub fn kill(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill_hard();
    }

    /// SIGKILL: the process gets no chance to say goodbye.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh temporary directory for one test: removed when the test passes,
/// kept (logs, configs, access logs) when it fails.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn temp_dir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("loupe-itest-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    TempDir(d)
}

/// A TCP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn wait_for_port(port: u16, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on 127.0.0.1:{port} after {timeout:?}")
}

/// The `loupe` binary: `$LOUPE_BIN`, else target/release/loupe, else target/debug/loupe.
pub fn loupe_bin() -> PathBuf {
    if let Ok(p) = std::env::var("LOUPE_BIN") {
        return p.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    for profile in ["release", "debug"] {
        let p = target.join(profile).join("loupe");
        if p.exists() {
            return p;
        }
    }
    panic!(
        "no loupe binary: run `cargo build --release -p loupe-nodes` first (the README's test command does)"
    );
}

/// The NATS credentials of this test process: one `loupe auth init` (a
/// key per role), which every nats-server the harness starts is
/// configured with, and every `loupe` it runs finds through
/// `$LOUPE_AUTH_DIR`: the tests run with auth on, as a cluster would.
pub fn auth_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("loupe-itest-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(loupe_bin())
            .args(["auth", "init"])
            .arg(&dir)
            .output()
            .expect("run loupe auth init");
        assert!(
            out.status.success(),
            "loupe auth init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// `-c FILE` of the harness's nats-server config (users and permissions).
pub fn nats_conf_args() -> [String; 2] {
    [
        "-c".into(),
        auth_dir()
            .join("nats-server.conf")
            .to_string_lossy()
            .into_owned(),
    ]
}

/// A `loupe` command that takes its role's credentials from [`auth_dir`].
pub fn loupe() -> Command {
    let mut c = Command::new(loupe_bin());
    c.env("LOUPE_AUTH_DIR", auth_dir());
    c
}

pub fn which(tool: &str) -> Result<PathBuf> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if p.is_empty() {
        bail!("{tool} not found: the README's test command installs it");
    }
    Ok(p.into())
}

/// A real nats-server on a loopback port.
pub struct Nats {
    pub url: String,
    _proc: Proc,
    /// The monitoring port, when started with it.
    pub monitor: Option<u16>,
}

impl Nats {
    pub fn start(dir: &Path) -> Result<Nats> {
        Self::start_on(dir, free_port())
    }

    pub fn start_on(dir: &Path, port: u16) -> Result<Nats> {
        let bin = which("nats-server")?;
        let p = Proc::spawn(
            "nats-server",
            Command::new(bin).args(nats_conf_args()).args([
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                // JetStream, for the cluster metadata bucket.
                "-js",
                "-sd",
                &dir.join(format!("js-{port}")).to_string_lossy(),
            ]),
            &dir.join("nats.log"),
        )?;
        wait_for_port(port, Duration::from_secs(10))?;
        Ok(Nats {
            url: format!("nats://127.0.0.1:{port}"),
            _proc: p,
            monitor: None,
        })
    }

    /// Stops the server (by pid); its JetStream store stays in `dir`.
    pub fn stop(&mut self) {
        self._proc.kill();
    }

    /// Starts the server again as it was: the same port, config and
    /// JetStream store (the buckets come back with it).
    pub fn restart(&mut self, dir: &Path) -> Result<()> {
        self._proc.kill();
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .context("the server's port")?;
        *self = Nats::start_on(dir, port)?;
        Ok(())
    }

    /// A server with its monitoring endpoint (`/varz`, `/connz`) on.
    pub fn start_monitored(dir: &Path) -> Result<Nats> {
        let bin = which("nats-server")?;
        let (port, http) = (free_port(), free_port());
        let p = Proc::spawn(
            "nats-server",
            Command::new(bin).args(nats_conf_args()).args([
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                &http.to_string(),
            ]),
            &dir.join("nats.log"),
        )?;
        wait_for_port(port, Duration::from_secs(10))?;
        wait_for_port(http, Duration::from_secs(10))?;
        Ok(Nats {
            url: format!("nats://127.0.0.1:{port}"),
            _proc: p,
            monitor: Some(http),
        })
    }

    /// A monitoring endpoint's JSON (`varz`, `connz?limit=1024`, ...), as
    /// the server counts: the ground truth of what crossed NATS.
    pub fn monitor(&self, path: &str) -> Result<serde_json::Value> {
        use std::io::{Read, Write};
        let Some(port) = self.monitor else {
            bail!("this nats-server was started without monitoring");
        };
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        write!(
            s,
            "GET /{path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        let json = body
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .ok_or_else(|| anyhow::anyhow!("no HTTP body from the monitor"))?;
        Ok(serde_json::from_str(json)?)
    }
}

/// `loupe sim-nodes`: `count` simulated nodes in one process (no eBPF),
/// named `PREFIX-NNNN` from index `first`.
pub struct SimNodes {
    pub proc: Proc,
    pub log: PathBuf,
}

impl SimNodes {
    pub fn start(
        nats_url: &str,
        dir: &Path,
        prefix: &str,
        first: usize,
        count: usize,
        rows: usize,
    ) -> Result<SimNodes> {
        Self::start_skewed(nats_url, dir, (prefix, first, count, rows), 0)
    }

    /// Nodes whose clock is `clock_offset_ms` off this host's.
    pub fn start_skewed(
        nats_url: &str,
        dir: &Path,
        (prefix, first, count, rows): (&str, usize, usize, usize),
        clock_offset_ms: i64,
    ) -> Result<SimNodes> {
        let log = dir.join(format!("sim-{prefix}-{first}.log"));
        let proc = Proc::spawn(
            "loupe sim-nodes",
            loupe().args([
                "sim-nodes",
                "--nats",
                nats_url,
                "--prefix",
                prefix,
                "--first",
                &first.to_string(),
                "--count",
                &count.to_string(),
                "--rows",
                &rows.to_string(),
                "--clock-offset-ms",
                &clock_offset_ms.to_string(),
            ]),
            &log,
        )?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("simulated nodes answering")
            {
                return Ok(SimNodes { proc, log });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "simulated nodes did not come up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    }
}

/// A loupe agent (real eBPF) connected to `nats`.
pub struct Agent {
    pub node: String,
    pub nats_url: String,
    pub proc: Proc,
    pub log: PathBuf,
}

impl Agent {
    pub fn start(nats: &Nats, node: &str, dir: &Path, extra: &[&str]) -> Result<Agent> {
        Self::start_with_url(&nats.url, node, dir, extra)
    }

    /// An agent told to use `nats_url`, whether or not a server answers there yet.
    pub fn start_with_url(nats_url: &str, node: &str, dir: &Path, extra: &[&str]) -> Result<Agent> {
        Self::start_env(nats_url, node, dir, extra, &[])
    }

    /// An agent with more in its environment (`LOUPE_FAULT`, ...).
    pub fn start_env(
        nats_url: &str,
        node: &str,
        dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Agent> {
        let log = dir.join(format!("agent-{node}.log"));
        let proc = Proc::spawn(
            "loupe agent",
            loupe()
                .args(["agent", "--node", node, "--nats", nats_url])
                .args(extra)
                .envs(env.iter().copied()),
            &log,
        )?;
        let a = Agent {
            node: node.into(),
            nats_url: nats_url.to_string(),
            proc,
            log,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if std::fs::read_to_string(&a.log)
                .unwrap_or_default()
                .contains("answering on NATS")
            {
                return Ok(a);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "agent did not come up: {}",
            std::fs::read_to_string(&a.log).unwrap_or_default()
        )
    }

    /// Rows of `table` as JSON objects (`loupe tail -o jsonl`), with the tail's stderr.
    pub fn tail(&self, columns: &str) -> Result<(Vec<serde_json::Value>, String)> {
        let out = loupe()
            .args([
                "tail",
                "-o",
                "jsonl",
                "--node",
                &self.node,
                "--nats",
                &self.nats_url,
                "--columns",
                columns,
            ])
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            bail!("loupe tail failed: {stderr}");
        }
        let mut rows = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            rows.push(
                serde_json::from_str(line).with_context(|| format!("bad jsonl line {line:?}"))?,
            );
        }
        Ok((rows, stderr))
    }

    /// Polls until `pred(rows)` holds or `timeout` passes; returns the last rows.
    pub fn tail_until(
        &self,
        columns: &str,
        timeout: Duration,
        pred: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Result<Vec<serde_json::Value>> {
        let start = Instant::now();
        loop {
            // A failed tail (agent not reachable yet) is retried until the timeout.
            match self.tail(columns) {
                Ok((rows, _)) if pred(&rows) || start.elapsed() > timeout => return Ok(rows),
                Err(e) if start.elapsed() > timeout => return Err(e),
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Real nginx (Debian) on a loopback port, IPv4 and IPv6, with an access log
/// of `method uri status` lines.
pub struct Nginx {
    pub port: u16,
    pub dir: PathBuf,
    pub proc: Proc,
}

impl Nginx {
    pub fn start(dir: &Path, upstream_port: Option<u16>) -> Result<Nginx> {
        let port = free_port();
        let root = dir.join("www");
        std::fs::create_dir_all(&root)?;
        std::fs::write(
            root.join("index.html"),
            "<html><body>hello from nginx</body></html>\n",
        )?;
        std::fs::write(root.join("big.bin"), vec![b'x'; 1 << 20])?;
        let upstream = upstream_port
            .map(|p| format!("location /slow {{ proxy_pass http://127.0.0.1:{p}; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}"))
            .unwrap_or_default();
        let conf = format!(
            r#"worker_processes 1;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    log_format truth '$request_method $request_uri $status $request_time $upstream_response_time';
    access_log {d}/access.log truth;
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    default_type application/octet-stream;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        listen [::1]:{port};
        root {root};
        location = /empty {{ return 204; }}
        location = /post {{ return 200 "posted\n"; }}
        {upstream}
    }}
}}
"#,
            d = dir.display(),
            root = root.display()
        );
        std::fs::create_dir_all(dir.join("tmp"))?;
        std::fs::write(dir.join("nginx.conf"), conf)?;
        let bin = which("nginx")?;
        let proc = Proc::spawn(
            "nginx",
            Command::new(bin)
                .arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .args(["-g", "daemon off;"]),
            &dir.join("nginx.out"),
        )?;
        wait_for_port(port, Duration::from_secs(10))?;
        Ok(Nginx {
            port,
            dir: dir.to_path_buf(),
            proc,
        })
    }

    /// nginx's own timings of the requests for `uri`, in ms (1 ms
    /// resolution): ($request_time, $upstream_response_time).
    pub fn timings(&self, uri: &str) -> Result<Vec<(f64, f64)>> {
        let text = std::fs::read_to_string(self.dir.join("access.log"))?;
        let mut out = Vec::new();
        for l in text.lines() {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() == 5 && f[1] == uri {
                out.push((
                    f[3].parse::<f64>()? * 1e3,
                    f[4].parse::<f64>().unwrap_or(f64::NAN) * 1e3,
                ));
            }
        }
        Ok(out)
    }

    /// Access-log lines as (method, uri, status).
    ///
    /// nginx writes a request's line after it sends the response, so a
    /// client can finish first: the log is read once it has stopped growing
    /// for 100 ms (at most 5 s), so the last request is not missed.
    pub fn access_log(&self) -> Result<Vec<(String, String, i64)>> {
        let path = self.dir.join("access.log");
        let start = std::time::Instant::now();
        let mut text = std::fs::read_to_string(&path)?;
        while start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(100));
            let again = std::fs::read_to_string(&path)?;
            if again.len() == text.len() {
                break;
            }
            text = again;
        }
        let mut out = Vec::new();
        for l in text.lines() {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() >= 3 {
                out.push((f[0].to_string(), f[1].to_string(), f[2].parse()?));
            }
        }
        Ok(out)
    }
}

/// Runs a command to completion; fails with its output if it fails.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// GETs `http://127.0.0.1:{port}{path}` with curl, `times` times in a row
/// (one connection each), failing on the first curl that fails.
pub fn get_times(port: u16, path: &str, times: usize) -> Result<()> {
    let url = format!("http://127.0.0.1:{port}{path}");
    for _ in 0..times {
        run(Command::new("curl").args(["-s", "-o", "/dev/null", &url]))?;
    }
    Ok(())
}

/// A peer built from upstream sources by `scripts/<script>` (which builds
/// it once per machine, then finds it cached, and prints its path).
pub fn cached_build(script: &str) -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(script);
    let out = Command::new(&script)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A `loupe planner` connected to `nats`.
pub struct Planner {
    pub name: String,
    pub proc: Proc,
    pub log: PathBuf,
}

impl Planner {
    pub fn start(nats_url: &str, name: &str, dir: &Path) -> Result<Planner> {
        Self::start_with(nats_url, name, dir, &[])
    }

    pub fn start_with(nats_url: &str, name: &str, dir: &Path, extra: &[&str]) -> Result<Planner> {
        Self::start_env(nats_url, name, dir, extra, &[])
    }

    /// A planner with more in its environment (`LOUPE_FAULT`, ...).
    pub fn start_env(
        nats_url: &str,
        name: &str,
        dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Planner> {
        let log = dir.join(format!("planner-{name}.log"));
        let proc = Proc::spawn(
            "loupe planner",
            loupe()
                .args(["planner", "--name", name, "--nats", nats_url])
                .args(extra)
                .envs(env.iter().copied()),
            &log,
        )?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("planning on")
            {
                return Ok(Planner {
                    name: name.into(),
                    proc,
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "planner did not come up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    }
}

/// What `loupe run` printed: its exit code, stdout and stderr.
pub struct RunOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("not JSON: {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// The table named `name` of a `loupe run -o json` answer (null if none).
pub fn table<'a>(answer: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    answer["tables"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .unwrap_or(&serde_json::Value::Null)
}

/// `loupe run -f script -o json --nats url [extra...]`, the script written to `dir`.
pub fn loupe_run(nats_url: &str, dir: &Path, script: &str, extra: &[&str]) -> Result<RunOutput> {
    let path = dir.join(format!("q{}.pxl", free_port()));
    std::fs::write(&path, script)?;
    let out = loupe()
        .arg("run")
        .arg("-f")
        .arg(&path)
        .args(["-o", "json", "--nats", nats_url])
        .args(extra)
        .output()?;
    Ok(RunOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Each running agent's live fragment count, as `loupe check` reports it.
pub fn fragments_active(nats_url: &str) -> Result<Vec<u64>> {
    let out = run(loupe().args(["check", "--nats", nats_url]))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split("fragments active ").nth(1))
        .filter_map(|n| n.trim().parse().ok())
        .collect())
}
