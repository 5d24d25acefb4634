//! Roles against a real nats-server started with the config `loupe auth
//! init --tls` wrote: anonymous connections are refused; a reader cannot
//! publish on any node subject or join the planners' queue group; a node's
//! agent cannot read plans, results or another node's deploys; planners
//! answer plans; a query runs end to end over TLS with every process on its
//! own role; no seed appears in any process's argv, environment or log.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use loupe_itest::*;

struct Client {
    nats: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
}

/// A client with the seed of `creds`, trusting the CA of `dir`.
async fn connect(url: &str, dir: &std::path::Path, creds: &str) -> Result<Client> {
    let text = std::fs::read_to_string(dir.join(creds))?;
    let seed = text
        .lines()
        .find(|l| l.starts_with("SU"))
        .ok_or_else(|| anyhow::anyhow!("no seed in {creds}"))?
        .to_string();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    let nats = async_nats::ConnectOptions::with_nkey(seed)
        .add_root_certificates(dir.join("ca.pem"))
        .require_tls(true)
        .event_callback(move |ev| {
            let e2 = e2.clone();
            async move {
                if let async_nats::Event::ServerError(e) = ev {
                    e2.lock().unwrap().push(e.to_string());
                }
            }
        })
        .connect(url)
        .await?;
    Ok(Client { nats, errors })
}

impl Client {
    /// Publishes and flushes; the server's refusal (if any) comes back as
    /// an error event soon after.
    async fn refused_publish(&self, subject: &str) -> Result<bool> {
        self.errors.lock().unwrap().clear();
        self.nats.publish(subject.to_string(), "x".into()).await?;
        self.nats.flush().await?;
        Ok(self.violation("Publish").await)
    }

    async fn refused_subscribe(&self, subject: &str, queue: Option<&str>) -> Result<bool> {
        self.errors.lock().unwrap().clear();
        let _s = match queue {
            Some(q) => {
                self.nats
                    .queue_subscribe(subject.to_string(), q.to_string())
                    .await?
            }
            None => self.nats.subscribe(subject.to_string()).await?,
        };
        self.nats.flush().await?;
        Ok(self.violation("Subscription").await)
    }

    async fn violation(&self, what: &str) -> bool {
        for _ in 0..40 {
            if self
                .errors
                .lock()
                .unwrap()
                .iter()
                .any(|e| e.contains("Permissions Violation") && e.contains(what))
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }
}

#[test]
fn roles_hold_against_a_real_nats_server_over_tls() -> Result<()> {
    let dir = temp_dir("auth");
    let auth = dir.join("auth");
    run(Command::new(loupe_bin())
        .args(["auth", "init", "--tls", "--node", "n1"])
        .arg(&auth))?;
    // Written once: a second init would lock out every running process.
    let again = Command::new(loupe_bin())
        .args(["auth", "init"])
        .arg(&auth)
        .output()?;
    assert!(!again.status.success());
    let port = free_port();
    let _server = Proc::spawn(
        "nats-server",
        Command::new(which("nats-server")?)
            .arg("-c")
            .arg(auth.join("nats-server.conf"))
            .args(["-a", "127.0.0.1", "-p", &port.to_string()]),
        &dir.join("nats.log"),
    )?;
    wait_for_port(port, Duration::from_secs(10))?;
    let url = format!("tls://127.0.0.1:{port}");

    // Anonymous: refused, with a message that says so.
    let anon = Command::new(loupe_bin())
        .env_remove("LOUPE_AUTH_DIR")
        .args(["nodes", "--nats", &url, "--tls-ca"])
        .arg(auth.join("ca.pem"))
        .output()?;
    let err = String::from_utf8_lossy(&anon.stderr);
    assert!(!anon.status.success(), "{err}");
    assert!(err.to_lowercase().contains("authorization"), "{err}");

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let reader = connect(&url, &auth, "reader.creds").await?;
        for s in [
            "loupe.v1.node.n1.deploy",
            "loupe.v1.node.n1.heartbeat",
            "loupe.v1.q.abc.partial",
            "loupe.v1.q.abc.merge.0.0",
            "loupe.v1.node.n1.tap.rows",
            "loupe.v1.node.n1.taphold",
            "loupe.v1.audit",
        ] {
            assert!(
                reader.refused_publish(s).await?,
                "a reader published on {s}"
            );
        }
        assert!(
            reader
                .refused_subscribe("loupe.v1.plan", Some("loupe-planners"))
                .await?,
            "a reader joined the planners' queue group"
        );
        assert!(
            reader
                .refused_subscribe("loupe.v1.node.*.heartbeat", None)
                .await?
        );
        // What it may do: ask for plans and node lists.
        assert!(!reader.refused_publish("loupe.v1.plan").await?);

        let agent = connect(&url, &auth, "agent-n1.creds").await?;
        for s in [
            "loupe.v1.plan",
            "loupe.v1.live",
            "loupe.v1.q.abc.results",
            "loupe.v1.q.abc.partial",
            "loupe.v1.node.n2.deploy",
            "loupe.v1.node.*.deploy",
        ] {
            assert!(
                agent.refused_subscribe(s, None).await?,
                "node n1's agent subscribed to {s}"
            );
        }
        assert!(agent.refused_publish("loupe.v1.node.n2.heartbeat").await?);
        assert!(
            !agent
                .refused_subscribe("loupe.v1.node.n1.deploy", None)
                .await?
        );

        let planner = connect(&url, &auth, "planner.creds").await?;
        assert!(
            !planner
                .refused_subscribe("loupe.v1.plan", Some("loupe-planners"))
                .await?
        );
        assert!(
            planner
                .refused_publish("loupe.v1.node.n1.heartbeat")
                .await?
        );
        Ok::<_, anyhow::Error>(())
    })?;

    // The whole path over TLS, each process on its own role.
    let role_env = |c: &mut Command| {
        c.env("LOUPE_AUTH_DIR", &auth);
    };
    let mut p = Command::new(loupe_bin());
    p.args(["planner", "--name", "tp", "--nats", &url]);
    role_env(&mut p);
    let planner = Proc::spawn("planner", &mut p, &dir.join("planner.log"))?;
    let mut s = Command::new(loupe_bin());
    s.args([
        "sim-nodes",
        "--nats",
        &url,
        "--prefix",
        "t",
        "--first",
        "0",
        "--count",
        "3",
        "--rows",
        "100",
    ]);
    role_env(&mut s);
    let sims = Proc::spawn("sim-nodes", &mut s, &dir.join("sim.log"))?;
    let script = dir.join("count.pxl");
    std::fs::write(
        &script,
        "import px\ndf = px.DataFrame('http_events', start_time='-1h')\npx.display(df.groupby('service').agg(n=('resp_latency', px.count)), 'n')\n",
    )?;
    let mut answered = None;
    for _ in 0..40 {
        let mut r = Command::new(loupe_bin());
        r.args(["run", "-f"])
            .arg(&script)
            .args(["-o", "json", "--nats", &url]);
        role_env(&mut r);
        let out = r.output()?;
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            if v["nodes"]["answered"].as_array().map_or(0, |a| a.len()) == 3 {
                answered = Some(v);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let v = answered.ok_or_else(|| anyhow::anyhow!("no complete answer over TLS with auth"))?;
    assert_eq!(v["partial"], false);
    assert_eq!(v["tables"][0]["rows"][0]["n"], 300, "{v}");

    // The planner's audit line names the reader by its signed key, and the
    // script by its hash and first line.
    let sum = run(Command::new("sha256sum").arg(&script))?;
    let sum = sum
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let log = std::fs::read_to_string(dir.join("planner.log"))?;
    let line = log
        .lines()
        .filter_map(|l| l.find("{\"audit\"").map(|i| &l[i..]))
        .filter_map(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .rfind(|a| a["outcome"] == "complete")
        .ok_or_else(|| anyhow::anyhow!("no audit line in the planner's log:\n{log}"))?;
    assert_eq!(line["audit"], "query", "{line}");
    assert_eq!(line["requester"]["verified"], true, "{line}");
    assert_eq!(line["requester"]["role"], "reader", "{line}");
    assert_eq!(line["script_sha256"], sum.as_str(), "{line}");
    assert_eq!(line["first_line"], "import px", "{line}");
    assert_eq!(
        line["nodes_asked"].as_array().map(|a| a.len()),
        Some(3),
        "{line}"
    );
    assert_eq!(line["rows"], 1, "{line}");

    // No seed in argv, environment or logs.
    let seeds: Vec<String> = ["agent", "planner", "reader", "admin"]
        .iter()
        .map(|r| {
            std::fs::read_to_string(auth.join(format!("{r}.creds")))
                .unwrap()
                .lines()
                .find(|l| l.starts_with("SU"))
                .unwrap()
                .to_string()
        })
        .collect();
    for pid in [planner.pid(), sims.pid()] {
        for f in ["cmdline", "environ"] {
            let bytes = std::fs::read(format!("/proc/{pid}/{f}"))?;
            let text = String::from_utf8_lossy(&bytes);
            for s in &seeds {
                assert!(!text.contains(s.as_str()), "a seed in /proc/{pid}/{f}");
            }
        }
    }
    for log in ["planner.log", "sim.log", "nats.log"] {
        let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        for s in &seeds {
            assert!(!text.contains(s.as_str()), "a seed in {log}");
        }
    }
    // Credentials are readable by their owner only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(auth.join("reader.creds"))?
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "reader.creds is mode {mode:o}");
    Ok(())
}
