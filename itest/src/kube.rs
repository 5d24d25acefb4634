//! A real Kubernetes API server for tests, the way controller-runtime's
//! envtest runs one: etcd and kube-apiserver built from upstream modules
//! (`scripts/kube/build.sh`, cached per machine), started on loopback
//! ports the test picks, no kubelet and no controller-manager. The test
//! writes Nodes, Pods (their status through the status subresource),
//! Services, EndpointSlices, ReplicaSets and Deployments itself.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Proc, free_port, wait_for_port};

/// The folder of `kube-apiserver`, `etcd` and `helm` (`$LOUPE_KUBE_DIR`, else what
/// `scripts/kube/build.sh` builds or finds cached).
pub fn binaries() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("LOUPE_KUBE_DIR")
        && ["kube-apiserver", "etcd", "helm"]
            .iter()
            .all(|b| Path::new(&d).join(b).exists())
    {
        return Ok(PathBuf::from(d));
    }
    crate::cached_build("kube/build.sh")
}

/// etcd and kube-apiserver, stopped (by pid) when dropped.
pub struct KubeApiServer {
    pub port: u16,
    /// A kubeconfig with the admin token (system:masters).
    pub kubeconfig: PathBuf,
    /// The admin token, for curl.
    pub token: String,
    dir: PathBuf,
    etcd_port: u16,
    apiserver: Option<Proc>,
    _etcd: Proc,
}

const ADMIN_TOKEN: &str = "loupe-itest-admin-token";

impl KubeApiServer {
    pub fn start(dir: &Path) -> Result<KubeApiServer> {
        let bin = binaries()?;
        let dir = dir.join("kube");
        std::fs::create_dir_all(&dir)?;
        let (etcd_port, peer_port) = (free_port(), free_port());
        let etcd = Proc::spawn(
            "etcd",
            Command::new(bin.join("etcd")).args([
                "--data-dir",
                &dir.join("etcd").to_string_lossy(),
                "--listen-client-urls",
                &format!("http://127.0.0.1:{etcd_port}"),
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{etcd_port}"),
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{peer_port}"),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer_port}"),
                "--initial-cluster",
                &format!("default=http://127.0.0.1:{peer_port}"),
                "--unsafe-no-fsync",
            ]),
            &dir.join("etcd.log"),
        )?;
        wait_for_port(etcd_port, Duration::from_secs(20))?;
        write_pki(&dir)?;
        std::fs::write(
            dir.join("tokens.csv"),
            format!("{ADMIN_TOKEN},admin,admin,system:masters\n"),
        )?;
        let port = free_port();
        let mut k = KubeApiServer {
            port,
            kubeconfig: dir.join("kubeconfig"),
            token: ADMIN_TOKEN.into(),
            dir: dir.clone(),
            etcd_port,
            apiserver: None,
            _etcd: etcd,
        };
        k.start_apiserver()?;
        std::fs::write(
            &k.kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: itest\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: {}\ncontexts:\n- name: itest\n  context:\n    cluster: itest\n    user: admin\ncurrent-context: itest\nusers:\n- name: admin\n  user:\n    token: {ADMIN_TOKEN}\n",
                dir.join("ca.pem").display()
            ),
        )?;
        Ok(k)
    }

    fn start_apiserver(&mut self) -> Result<()> {
        let bin = binaries()?;
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        let proc = Proc::spawn(
            "kube-apiserver",
            Command::new(bin.join("kube-apiserver")).args([
                &format!("--etcd-servers=http://127.0.0.1:{}", self.etcd_port),
                &format!("--cert-dir={}", d("certs")),
                &format!("--tls-cert-file={}", d("server.pem")),
                &format!("--tls-private-key-file={}", d("server-key.pem")),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                &format!("--secure-port={}", self.port),
                "--service-cluster-ip-range=10.96.0.0/24",
                &format!("--service-account-issuer=https://127.0.0.1:{}", self.port),
                &format!("--service-account-key-file={}", d("sa.pem")),
                &format!("--service-account-signing-key-file={}", d("sa-key.pem")),
                &format!("--client-ca-file={}", d("ca.pem")),
                &format!("--token-auth-file={}", d("tokens.csv")),
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                "--endpoint-reconciler-type=none",
            ]),
            &self.dir.join("kube-apiserver.log"),
        )?;
        self.apiserver = Some(proc);
        self.wait_ready()
    }

    fn wait_ready(&self) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if self.get("/readyz").is_ok_and(|b| b.trim() == "ok") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        bail!(
            "kube-apiserver not ready within 60 s: {}",
            std::fs::read_to_string(self.dir.join("kube-apiserver.log"))
                .unwrap_or_default()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    /// Stops and starts the API server (etcd keeps the objects): watches
    /// must resume.
    pub fn restart(&mut self) -> Result<()> {
        if let Some(mut p) = self.apiserver.take() {
            p.kill();
        }
        self.start_apiserver()
    }

    /// Stops the API server (until [`Self::restart`]).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.apiserver.take() {
            p.kill();
        }
    }

    /// GET `path` with the admin token (curl, verifying the server's
    /// certificate with the test CA).
    pub fn get(&self, path: &str) -> Result<String> {
        self.curl(&["-X", "GET"], path, None)
    }

    /// `method` `path` with a JSON body.
    pub fn send(&self, method: &str, path: &str, body: &serde_json::Value) -> Result<String> {
        self.curl(&["-X", method], path, Some(body))
    }

    fn curl(&self, extra: &[&str], path: &str, body: Option<&serde_json::Value>) -> Result<String> {
        let mut c = Command::new("curl");
        c.args(["-sS", "--fail-with-body", "--max-time", "10", "--cacert"])
            .arg(self.dir.join("ca.pem"))
            .args(["-H", &format!("Authorization: Bearer {}", self.token)])
            .args(extra);
        if let Some(b) = body {
            let ct = if extra.contains(&"PATCH") {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            c.args([
                "-H",
                &format!("Content-Type: {ct}"),
                "--data-binary",
                &b.to_string(),
            ]);
        }
        c.arg(format!("https://127.0.0.1:{}{path}", self.port));
        let out = c.output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "{} {path}: {text}{}",
                extra.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(text)
    }
}

/// A CA, the server's certificate for 127.0.0.1 (signed by it), and the
/// service-account key pair, written with rcgen by the test (no openssl).
fn write_pki(dir: &Path) -> Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "loupe itest kube CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    let server = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes.default.svc".to_string(),
    ])?;
    let key = KeyPair::generate()?;
    let cert = server.signed_by(&key, &ca)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    std::fs::write(dir.join("server.pem"), cert.pem())?;
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem())?;
    let sa = KeyPair::generate()?;
    std::fs::write(dir.join("sa-key.pem"), sa.serialize_pem())?;
    std::fs::write(dir.join("sa.pem"), sa.public_key_pem())?;
    Ok(())
}
