//! Many nodes on one machine: network namespaces made by the test (one per
//! simulated node's workload), and a NATS cluster of several servers.
//!
//! The kernel is shared, so each agent is told which namespaces are its
//! node's (`loupe agent --netns NAME`): it observes only their processes.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Proc, free_port, wait_for_port, which};

/// A network namespace made by the test (`ip netns add`), with its
/// loopback up; deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `loupe-it-<pid>-<tag>`: unique to this test process.
    pub fn create(tag: &str) -> Result<Netns> {
        let name = format!("loupe-it-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        crate::run(Command::new("ip").args(["netns", "add", &name]))
            .with_context(|| format!("ip netns add {name}"))?;
        let ns = Netns { name };
        crate::run(ns.exec("ip").args(["link", "set", "lo", "up"]))?;
        Ok(ns)
    }

    /// `program` run inside the namespace.
    pub fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A veth pair between two namespaces the test made, each end with its
/// address (/24), up: two hosts (or pods) on one link. `tag` keeps the
/// interface names of one test apart.
pub fn veth(a: &Netns, a_ip: &str, b: &Netns, b_ip: &str, tag: &str) -> Result<()> {
    let (ea, eb) = (
        format!("lp{}{tag}a", std::process::id() % 100_000),
        format!("lp{}{tag}b", std::process::id() % 100_000),
    );
    crate::run(Command::new("ip").args(["link", "add", &ea, "type", "veth", "peer", "name", &eb]))?;
    for (ns, e, ip) in [(a, &ea, a_ip), (b, &eb, b_ip)] {
        crate::run(Command::new("ip").args(["link", "set", e, "netns", &ns.name]))?;
        crate::run(
            ns.exec("ip")
                .args(["addr", "add", &format!("{ip}/24"), "dev", e]),
        )?;
        crate::run(ns.exec("ip").args(["link", "set", e, "up"]))?;
    }
    Ok(())
}

/// A cluster of nats-servers on loopback, each routed to the others.
pub struct NatsCluster {
    /// Client URL of each server.
    pub urls: Vec<String>,
    procs: Vec<Proc>,
    /// Each server's arguments and log, to restart it as it was.
    args: Vec<(Vec<String>, std::path::PathBuf)>,
}

impl NatsCluster {
    pub fn start(dir: &Path, servers: usize) -> Result<NatsCluster> {
        let bin = which("nats-server")?;
        let ports: Vec<(u16, u16)> = (0..servers).map(|_| (free_port(), free_port())).collect();
        let mut procs = Vec::new();
        let mut args = Vec::new();
        for (i, (client, route)) in ports.iter().enumerate() {
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, r))| format!("nats://127.0.0.1:{r}"))
                .collect();
            let a: Vec<String> = vec![
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                client.to_string(),
                "-n".into(),
                format!("loupe-it-{i}"),
                "--cluster_name".into(),
                "loupe-it".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{route}"),
                "--routes".into(),
                routes.join(","),
            ];
            let log = dir.join(format!("nats-{i}.log"));
            procs.push(Proc::spawn(
                "nats-server",
                Command::new(&bin).args(crate::nats_conf_args()).args(&a),
                &log,
            )?);
            args.push((a, log));
        }
        for (client, _) in &ports {
            wait_for_port(*client, Duration::from_secs(10))?;
        }
        let c = NatsCluster {
            urls: ports
                .iter()
                .map(|(c, _)| format!("nats://127.0.0.1:{c}"))
                .collect(),
            procs,
            args,
        };
        // Routes form within a second or two; every server must see the others.
        let t = std::time::Instant::now();
        loop {
            let formed = (0..servers).all(|i| {
                std::fs::read_to_string(dir.join(format!("nats-{i}.log")))
                    .map(|l| l.matches("Route connection created").count() >= servers - 1)
                    .unwrap_or(false)
            });
            if formed {
                return Ok(c);
            }
            if t.elapsed() > Duration::from_secs(15) {
                bail!(
                    "nats cluster routes did not form in 15 s (logs in {})",
                    dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops server `i` at once (SIGKILL): its clients must fail over.
    pub fn kill(&mut self, i: usize) {
        self.procs[i].kill_hard();
    }

    /// Starts server `i` again with its old ports and routes.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        let (a, log) = &self.args[i];
        let log = log.with_extension("restarted.log");
        self.procs[i] = Proc::spawn(
            "nats-server",
            Command::new(which("nats-server")?)
                .args(crate::nats_conf_args())
                .args(a),
            &log,
        )?;
        let port: u16 = a[3].parse()?;
        wait_for_port(port, Duration::from_secs(10))
    }
}
