//! The demo workload: a few small HTTP/1.1 services that call each other,
//! each its own process with its own OpenTelemetry service name and
//! namespace (so the agent names them), one of them slow. Plain blocking
//! sockets and keep-alive connections; nothing here knows about Loupe.
//!
//! ```text
//! loadgen -> frontend -> catalog          (fast)
//!                     -> recommendations  (slow: ~120 ms)
//!                     -> cart -> catalog
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Frontend,
    Cart,
    Catalog,
    Recommendations,
    Loadgen,
}

#[derive(clap::Args, Debug)]
pub struct ServiceArgs {
    #[arg(long, value_enum)]
    role: Role,
    /// Port to listen on (127.0.0.1); none for the load generator.
    #[arg(long)]
    port: Option<u16>,
    /// Where a callee listens: --upstream catalog=8081 (repeatable).
    #[arg(long = "upstream", value_parser = parse_upstream)]
    upstreams: Vec<(String, u16)>,
    /// Load generator: requests per second (bounded).
    #[arg(long, default_value_t = 40)]
    rate: u32,
}

fn parse_upstream(s: &str) -> Result<(String, u16), String> {
    let (k, v) = s.split_once('=').ok_or("expected name=port")?;
    Ok((k.to_string(), v.parse().map_err(|_| "bad port")?))
}

/// One keep-alive connection to one upstream.
struct Client {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(port: u16) -> Self {
        Client { port, conn: None }
    }

    /// GET `path`; the status, or None when the upstream could not be reached.
    fn get(&mut self, path: &str) -> Option<u16> {
        for _ in 0..2 {
            if self.conn.is_none() {
                let s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                self.conn = Some(BufReader::new(s));
            }
            let conn = self.conn.as_mut()?;
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: loupe-demo\r\n\r\n",
                self.port
            );
            if conn.get_mut().write_all(req.as_bytes()).is_ok()
                && let Some(status) = read_response(conn)
            {
                return Some(status);
            }
            self.conn = None;
        }
        None
    }
}

fn read_response(r: &mut BufReader<TcpStream>) -> Option<u16> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut len = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(status)
}

fn respond(w: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        502 => "Bad Gateway",
        _ => "Internal Server Error",
    };
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    w.write_all(msg.as_bytes())
}

/// A small deterministic hash of a path, for choosing behaviour per id.
fn h(s: &str) -> u64 {
    s.bytes().fold(1469598103934665603u64, |a, b| {
        (a ^ b as u64).wrapping_mul(1099511628211)
    })
}

fn id_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("0")
}

/// Handles one request: (status, body).
fn handle(role: Role, path: &str, calls: &mut HashMap<String, Client>, n: u64) -> (u16, String) {
    let mut call = |svc: &str, p: &str| calls.get_mut(svc).and_then(|c| c.get(p));
    match role {
        Role::Catalog if path.starts_with("/items/") => {
            std::thread::sleep(Duration::from_millis(2));
            if h(path).is_multiple_of(20) {
                (404, "{\"error\":\"no such item\"}".into())
            } else {
                (200, format!("{{\"item\":\"{}\"}}", id_of(path)))
            }
        }
        Role::Recommendations if path.starts_with("/recommend/") => {
            // The slow dependency.
            std::thread::sleep(Duration::from_millis(110 + (n % 5) * 5));
            (200, "{\"items\":[1,2,3]}".into())
        }
        Role::Cart if path.starts_with("/cart/") => {
            let s = call("catalog", &format!("/items/{}", id_of(path)));
            match s {
                Some(200) => (200, "{\"cart\":\"ok\"}".into()),
                Some(_) => (200, "{\"cart\":\"item gone\"}".into()),
                None => (502, "{\"error\":\"catalog unreachable\"}".into()),
            }
        }
        Role::Frontend if path.starts_with("/product/") => {
            let id = id_of(path);
            let item = call("catalog", &format!("/items/{id}"));
            let _ = call("recommendations", &format!("/recommend/{id}"));
            match item {
                Some(404) => (404, "{\"error\":\"not found\"}".into()),
                Some(_) if n % 50 == 7 => (500, "{\"error\":\"render failed\"}".into()),
                Some(_) => (200, "<html>product</html>".into()),
                None => (502, "{\"error\":\"catalog unreachable\"}".into()),
            }
        }
        Role::Frontend if path.starts_with("/cart/") => match call("cart", path) {
            Some(s) => (s, "{\"ok\":true}".into()),
            None => (502, "{\"error\":\"cart unreachable\"}".into()),
        },
        _ => (404, "{\"error\":\"no route\"}".into()),
    }
}

fn serve(role: Role, port: u16, upstreams: Vec<(String, u16)>) -> anyhow::Result<()> {
    let l = TcpListener::bind(("127.0.0.1", port))?;
    let mut n = 0u64;
    for s in l.incoming() {
        let Ok(s) = s else { continue };
        let ups = upstreams.clone();
        n += 1;
        let seed = n;
        std::thread::spawn(move || {
            let _ = s.set_nodelay(true);
            let mut calls: HashMap<String, Client> = ups
                .iter()
                .map(|(k, p)| (k.clone(), Client::new(*p)))
                .collect();
            // One fd for both directions (a dup'd fd is another
            // connection to the agent, which keys streams by fd).
            let mut r = BufReader::new(s);
            let mut line = String::new();
            let mut k = seed * 1000;
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                // Headers (GET only: no bodies).
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                k += 1;
                let (status, body) = handle(role, &path, &mut calls, k);
                if respond(r.get_mut(), status, &body).is_err() {
                    return;
                }
            }
        });
    }
    Ok(())
}

/// Requests to the frontend at about `rate` per second, from 4 threads.
fn load(upstreams: Vec<(String, u16)>, rate: u32) -> anyhow::Result<()> {
    let port = upstreams
        .iter()
        .find(|(k, _)| k == "frontend")
        .map(|(_, p)| *p)
        .ok_or_else(|| anyhow::anyhow!("loadgen needs --upstream frontend=PORT"))?;
    let threads = 4u32;
    let gap = Duration::from_secs_f64(threads as f64 / rate.max(1) as f64);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::new(port);
                let mut i = t as u64;
                loop {
                    let started = Instant::now();
                    let path = if i.is_multiple_of(3) {
                        format!("/cart/{}", 1000 + i % 97)
                    } else {
                        format!("/product/{}", i % 211)
                    };
                    let _ = c.get(&path);
                    i += threads as u64;
                    std::thread::sleep(gap.saturating_sub(started.elapsed()));
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

pub fn run(args: ServiceArgs) -> anyhow::Result<ExitCode> {
    match (args.role, args.port) {
        (Role::Loadgen, _) => load(args.upstreams, args.rate)?,
        (role, Some(port)) => serve(role, port, args.upstreams)?,
        (_, None) => anyhow::bail!("a service needs --port"),
    }
    Ok(ExitCode::SUCCESS)
}
