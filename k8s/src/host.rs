//! Host-mode process metadata with a bounded cache keyed by (pid, start time),
//! so a recycled pid never inherits another process's identity.

use lru::LruCache;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What Loupe knows about one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    /// `node:pid:start_ticks` — unique per process on a node across pid reuse.
    pub upid: String,
    pub node: String,
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
    pub cmdline: String,
    /// Container id from the cgroup path, or "".
    pub container: String,
    /// The container's name in its pod (from the cluster), or "".
    pub container_name: String,
    /// `namespace/name` (or `name` without a namespace), or "".
    pub service: String,
    pub namespace: String,
    /// `namespace/name`, or "".
    pub pod: String,
    /// The pod's uid: from the cgroup path, then the cluster; or "".
    pub pod_id: String,
    /// `namespace/name` of the pod's ReplicaSet and Deployment, or "".
    pub replicaset: String,
    pub deployment: String,
}

/// What the kernel reported of a process at the time it used a socket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessHint {
    /// Start time in clock ticks since boot (as `/proc/PID/stat`).
    pub start_ticks: u64,
    /// The kernel's `comm` (at most 15 bytes).
    pub comm: String,
}

/// Looks processes up under a `/proc` root, caching the answers.
pub struct HostMetadata {
    node: String,
    proc_root: PathBuf,
    cache: LruCache<u32, Arc<ProcessInfo>>,
}

impl HostMetadata {
    pub fn new(node: &str) -> Self {
        Self::with_proc_root(node, "/proc", 16_384)
    }

    pub fn with_proc_root(node: &str, proc_root: impl Into<PathBuf>, capacity: usize) -> Self {
        HostMetadata {
            node: node.to_string(),
            proc_root: proc_root.into(),
            cache: LruCache::new(NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    /// Metadata of `pid`. A process that has exited is described by what is
    /// known (pid only), so a row is never dropped for lack of metadata.
    pub fn lookup(&mut self, pid: u32) -> Arc<ProcessInfo> {
        self.lookup_hinted(pid, None)
    }

    /// Like [`Self::lookup`], with what the kernel said of the process when it
    /// used the socket. When `/proc` no longer has that process (it exited,
    /// or its pid was reused), the hint is the answer: the upid stays right
    /// and `cmdline` is the kernel's `comm`.
    pub fn lookup_hinted(&mut self, pid: u32, hint: Option<&ProcessHint>) -> Arc<ProcessInfo> {
        let dir = self.proc_root.join(pid.to_string());
        let start = read_start_ticks(&dir);
        let wanted = hint.map(|h| h.start_ticks).or(start);
        if let Some(hit) = self.cache.get(&pid)
            && (wanted.is_none() || Some(hit.start_ticks) == wanted)
        {
            return hit.clone();
        }
        let info = match (start, hint) {
            (Some(s), Some(h)) if s != h.start_ticks => self.described_by_hint(pid, h),
            (None, Some(h)) => self.described_by_hint(pid, h),
            (s, h) => {
                let mut info = self.read(pid, &dir, s.unwrap_or(0));
                // An exiting (zombie) process has an empty cmdline: say what the kernel saw.
                if let (true, Some(h)) = (info.cmdline.is_empty(), h) {
                    info.cmdline = h.comm.clone();
                }
                info
            }
        };
        let info = Arc::new(info);
        self.cache.put(pid, info.clone());
        info
    }

    /// Metadata of `pid` when its start time is known already (a sampler
    /// read `/proc/PID/stat`): a cache hit reads nothing.
    pub fn lookup_started(&mut self, pid: u32, start_ticks: u64) -> Arc<ProcessInfo> {
        if let Some(hit) = self.cache.get(&pid)
            && hit.start_ticks == start_ticks
        {
            return hit.clone();
        }
        let dir = self.proc_root.join(pid.to_string());
        let info = Arc::new(self.read(pid, &dir, start_ticks));
        self.cache.put(pid, info.clone());
        info
    }

    fn described_by_hint(&self, pid: u32, h: &ProcessHint) -> ProcessInfo {
        ProcessInfo {
            upid: format!("{}:{}:{}", self.node, pid, h.start_ticks),
            node: self.node.clone(),
            pid,
            start_ticks: h.start_ticks,
            cmdline: h.comm.clone(),
            ..ProcessInfo::default()
        }
    }

    fn read(&self, pid: u32, dir: &Path, start_ticks: u64) -> ProcessInfo {
        let cmdline = std::fs::read(dir.join("cmdline"))
            .map(|b| {
                let args: Vec<String> = b
                    .split(|c| *c == 0)
                    .filter(|p| !p.is_empty())
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                redact_cmdline(&args)
            })
            .unwrap_or_default();
        let cgroup = std::fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
        let k8s = crate::cgroup::identity(&cgroup);
        let container = if k8s.container_id.is_empty() {
            container_id(&cgroup)
        } else {
            k8s.container_id
        };
        let env = std::fs::read(dir.join("environ")).unwrap_or_default();
        let otel = OtelIdentity::from_environ(&env);
        ProcessInfo {
            upid: format!("{}:{}:{}", self.node, pid, start_ticks),
            node: self.node.clone(),
            pid,
            start_ticks,
            cmdline,
            container,
            service: otel.service(),
            namespace: otel.namespace().to_string(),
            pod: otel.pod(),
            pod_id: k8s.pod_uid,
            ..ProcessInfo::default()
        }
    }
}

fn read_start_ticks(dir: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // comm may contain spaces and parentheses: fields restart after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')' come field 3 (state) onwards; starttime is field 22.
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// The container id in a cgroup file: the last 64-hex-digit token of the
/// path (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>, /docker/<id>).
pub fn container_id(cgroup: &str) -> String {
    let mut found = String::new();
    for line in cgroup.lines() {
        let path = line.rsplit(':').next().unwrap_or("");
        for seg in path.split('/') {
            let seg = seg.trim_end_matches(".scope");
            let id = seg.rsplit(['-', ':']).next().unwrap_or("");
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                found = id.to_string();
            }
        }
    }
    found
}

/// The OpenTelemetry resource identity of a process's environment.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OtelIdentity {
    pub service_name: String,
    pub service_namespace: String,
    pub k8s_namespace: String,
    pub k8s_pod: String,
}

impl OtelIdentity {
    /// Parses `/proc/PID/environ` (NUL-separated `K=V`). `OTEL_SERVICE_NAME`
    /// wins over `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, as the spec says.
    pub fn from_environ(environ: &[u8]) -> Self {
        let mut id = OtelIdentity::default();
        let mut explicit_name = None;
        for var in environ.split(|b| *b == 0) {
            let var = String::from_utf8_lossy(var);
            if let Some(v) = var.strip_prefix("OTEL_SERVICE_NAME=") {
                explicit_name = Some(v.trim().to_string());
            } else if let Some(attrs) = var.strip_prefix("OTEL_RESOURCE_ATTRIBUTES=") {
                for kv in attrs.split(',') {
                    let Some((k, v)) = kv.split_once('=') else {
                        continue;
                    };
                    let v = percent_decode(v.trim());
                    match k.trim() {
                        "service.name" => id.service_name = v,
                        "service.namespace" => id.service_namespace = v,
                        "k8s.namespace.name" => id.k8s_namespace = v,
                        "k8s.pod.name" => id.k8s_pod = v,
                        _ => {}
                    }
                }
            }
        }
        if let Some(n) = explicit_name.filter(|n| !n.is_empty()) {
            id.service_name = n;
        }
        id
    }

    /// `k8s.namespace.name`, else `service.namespace`.
    pub fn namespace(&self) -> &str {
        if self.k8s_namespace.is_empty() {
            &self.service_namespace
        } else {
            &self.k8s_namespace
        }
    }

    fn qualified(&self, name: &str, ns: &str) -> String {
        match (ns.is_empty(), name.is_empty()) {
            (_, true) => String::new(),
            (true, false) => name.to_string(),
            (false, false) => format!("{ns}/{name}"),
        }
    }

    /// `namespace/name` of the service (`service.namespace` first).
    pub fn service(&self) -> String {
        let ns = if self.service_namespace.is_empty() {
            &self.k8s_namespace
        } else {
            &self.service_namespace
        };
        self.qualified(&self.service_name, ns)
    }

    /// `namespace/name` of the pod.
    pub fn pod(&self) -> String {
        self.qualified(&self.k8s_pod, self.namespace())
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What replaces a secret in a command line.
const REDACTED: &str = "<redacted>";

/// Words that make an option (or a `NAME=value` argument) a secret's.
const SECRET_WORDS: [&str; 8] = [
    "password", "passwd", "token", "secret", "api-key", "api_key", "apikey", "auth",
];

/// A header field name: letters, digits, `-` and `_` only.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| n.contains(w))
}

/// A process's arguments joined by spaces, with the values of password-like
/// arguments masked before anything stores them: `--password=x`,
/// `--token x` (any option or `NAME=value` whose name has `password`,
/// `passwd`, `token`, `secret`, `api-key` or `auth` in it), MySQL's `-pSECRET`,
/// the password of a URL (`scheme://user:SECRET@host`), and a header given
/// as an argument whose name is such a name or a cookie
/// (`Authorization: Bearer x`).
///
/// ```
/// let args: Vec<String> = ["mysql", "-uroot", "-phunter2", "--token", "t0k",
///     "postgres://app:pw@db/x", "--api-key=k"].iter().map(|s| s.to_string()).collect();
/// assert_eq!(loupe_k8s::host::redact_cmdline(&args),
///     "mysql -uroot -p<redacted> --token <redacted> postgres://app:<redacted>@db/x --api-key=<redacted>");
/// let curl: Vec<String> = ["curl", "-H", "Authorization: Bearer t", "-H", "Cookie: id=1",
///     "-H", "Accept: */*", "http://h:80/"].iter().map(|s| s.to_string()).collect();
/// assert_eq!(loupe_k8s::host::redact_cmdline(&curl),
///     "curl -H Authorization: <redacted> -H Cookie: <redacted> -H Accept: */* http://h:80/");
/// ```
pub fn redact_cmdline(args: &[String]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(args.len());
    let mut next_is_secret = false;
    for (i, a) in args.iter().enumerate() {
        if next_is_secret {
            next_is_secret = false;
            out.push(REDACTED.into());
            continue;
        }
        let a = redact_url_password(a);
        if i > 0
            && let Some((name, _)) = a.split_once('=')
            && secret_name(name)
        {
            out.push(format!("{name}={REDACTED}"));
        } else if i > 0
            && let Some((name, _)) = a.split_once(':')
            && is_header_name(name)
            && (secret_name(name) || name.to_ascii_lowercase().contains("cookie"))
        {
            // A request header given on the command line (`curl -H
            // 'Authorization: Bearer x'`, `-H 'Cookie: id=1'`).
            out.push(format!("{name}: {REDACTED}"));
        } else if i > 0 && a.starts_with("-p") && !a.starts_with("--") && a.len() > 2 {
            // MySQL's clients: the password glued to -p.
            out.push(format!("-p{REDACTED}"));
        } else if i > 0 && a.starts_with('-') && secret_name(&a) {
            // `--password VALUE`: the value is the next argument (unless it
            // is another option).
            next_is_secret = args.get(i + 1).is_some_and(|n| !n.starts_with('-'));
            out.push(a);
        } else {
            out.push(a);
        }
    }
    out.join(" ")
}

/// `scheme://user:password@host…` with the password masked.
fn redact_url_password(a: &str) -> String {
    let Some(s) = a.find("://") else {
        return a.to_string();
    };
    let rest = &a[s + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return a.to_string();
    };
    let Some(colon) = rest[..at].find(':') else {
        return a.to_string();
    };
    format!(
        "{}{}{REDACTED}{}",
        &a[..s + 3],
        &rest[..colon + 1],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn password_like_arguments_are_masked() {
        for (given, want) in [
            (
                &["psql", "postgresql://u:pw@h:5432/db"][..],
                "psql postgresql://u:<redacted>@h:5432/db",
            ),
            (
                &["x", "--password", "hunter2", "--port", "5"],
                "x --password <redacted> --port 5",
            ),
            (&["x", "--db-password=a=b"], "x --db-password=<redacted>"),
            (
                &["x", "--client-secret", "--verbose"],
                "x --client-secret --verbose",
            ),
            (&["x", "API_TOKEN=abc", "run"], "x API_TOKEN=<redacted> run"),
            (&["mysql", "-p", "mydb"], "mysql -p mydb"),
            (&["mysql", "-psecret"], "mysql -p<redacted>"),
            (
                &["redis-server", "--port", "6379"],
                "redis-server --port 6379",
            ),
            (
                &["curl", "https://user@host/a:b@c"],
                "curl https://user@host/a:b@c",
            ),
            (&["nginx", "-g", "daemon off;"], "nginx -g daemon off;"),
        ] {
            assert_eq!(redact_cmdline(&args(given)), want, "{given:?}");
        }
    }

    #[test]
    fn otel_environment() {
        let env = b"PATH=/bin\0OTEL_RESOURCE_ATTRIBUTES=service.name=ignored,service.namespace=shop,k8s.pod.name=cart-7d9%2Dx\0OTEL_SERVICE_NAME=cart\0";
        let id = OtelIdentity::from_environ(env);
        assert_eq!(id.service(), "shop/cart");
        assert_eq!(id.namespace(), "shop");
        assert_eq!(id.pod(), "shop/cart-7d9-x");
        let only_k8s = OtelIdentity::from_environ(
            b"OTEL_RESOURCE_ATTRIBUTES=service.name=api,k8s.namespace.name=prod\0",
        );
        assert_eq!(only_k8s.service(), "prod/api");
        assert_eq!(only_k8s.pod(), "");
        assert_eq!(OtelIdentity::from_environ(b"X=1\0").service(), "");
        // Malformed input does not panic.
        let _ =
            OtelIdentity::from_environ("OTEL_RESOURCE_ATTRIBUTES=%,=,a=%zz,b=%4,c=%é\0".as_bytes());
    }

    #[test]
    fn container_ids_from_cgroup_paths() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            container_id(&format!("0::/system.slice/docker-{id}.scope\n")),
            id
        );
        assert_eq!(
            container_id(&format!(
                "0::/kubepods/burstable/pod1/cri-containerd-{id}.scope\n"
            )),
            id
        );
        assert_eq!(container_id(&format!("12:memory:/docker/{id}\n")), id);
        assert_eq!(
            container_id("0::/user.slice/user-0.slice/session-1.scope\n"),
            ""
        );
    }

    #[test]
    fn this_process_and_pid_reuse() {
        let me = std::process::id();
        let mut md = HostMetadata::new("n1");
        let info = md.lookup(me);
        assert_eq!(info.pid, me);
        assert!(info.start_ticks > 0);
        assert!(info.upid.starts_with(&format!("n1:{me}:")));
        assert!(!info.cmdline.is_empty());
        // A pid that does not exist still gets a row identity.
        let gone = md.lookup(u32::MAX - 1);
        assert_eq!(gone.pid, u32::MAX - 1);
        // An exited process described by the kernel's hint.
        let hint = ProcessHint {
            start_ticks: 42,
            comm: "curl".into(),
        };
        let h = md.lookup_hinted(u32::MAX - 2, Some(&hint));
        assert_eq!(
            (h.upid.as_str(), h.cmdline.as_str()),
            (format!("n1:{}:42", u32::MAX - 2).as_str(), "curl")
        );
        // Our own pid with a hint naming an older process of that pid: the hint wins.
        let old = md.lookup_hinted(
            me,
            Some(&ProcessHint {
                start_ticks: 1,
                comm: "old".into(),
            }),
        );
        assert_eq!(old.cmdline, "old");
        // And with the right start time, /proc's answer.
        let right = ProcessHint {
            start_ticks: info.start_ticks,
            comm: "x".into(),
        };
        assert_eq!(md.lookup_hinted(me, Some(&right)).cmdline, info.cmdline);
    }
}
