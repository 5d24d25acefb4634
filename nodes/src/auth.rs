//! `loupe auth init DIR [--tls] [--node NAME]...`: what a nats-server needs
//! to let each Loupe process do its job and nothing more.
//!
//! Writes `DIR/nats-server.conf` and one credentials file per role,
//! `DIR/<role>.creds` (agent, planner, reader, admin), plus
//! `DIR/agent-<NAME>.creds` for each `--node`: an agent scoped to one node,
//! which can neither take another node's deploys nor speak for it. Each
//! user is an NKey (Ed25519): the server holds only public keys, each
//! credentials file holds one seed (mode 0600). The permissions are
//! [`Role::grants`], so they are written from the same subject module the
//! processes use. With `--tls`, also a CA (`ca.pem`) and a server
//! certificate for this host, and the config then requires TLS.
//!
//! Every command finds its credentials with `--creds FILE`
//! (`$LOUPE_CREDS`), or `--auth-dir DIR` (`$LOUPE_AUTH_DIR`): its role's
//! file there, and `DIR/ca.pem` when present. Paths travel in argv and the
//! environment; the seeds never do, nor do they appear in URLs, logs or
//! errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use loupe_topology::subjects::{NodeName, Role};

#[derive(clap::Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    cmd: AuthCmd,
}

#[derive(clap::Subcommand)]
enum AuthCmd {
    /// Writes DIR/nats-server.conf and DIR/<role>.creds for agent,
    /// planner, reader and admin (refuses to overwrite them).
    Init {
        dir: PathBuf,
        /// Also a CA and a server certificate; the server then requires TLS.
        #[arg(long)]
        tls: bool,
        /// Also credentials scoped to one node (DIR/agent-NAME.creds); may be
        /// repeated.
        #[arg(long = "node")]
        nodes: Vec<String>,
        /// Extra names (DNS or IP) the server certificate is valid for
        /// (localhost, 127.0.0.1, ::1 and this host's name always are).
        #[arg(long = "tls-name")]
        tls_names: Vec<String>,
    },
}

pub fn run(args: AuthArgs) -> anyhow::Result<ExitCode> {
    match args.cmd {
        AuthCmd::Init {
            dir,
            tls,
            nodes,
            tls_names,
        } => {
            let nodes = nodes
                .iter()
                .map(|n| NodeName::new(n))
                .collect::<Result<Vec<_>, _>>()?;
            init(&dir, tls, &nodes, &tls_names)?;
            println!(
                "wrote {0}/nats-server.conf and credentials for {1} (start the server with `nats-server -c {0}/nats-server.conf`; give each process its role's file with --creds, or --auth-dir {0})",
                dir.display(),
                Role::ALL.map(Role::name).join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The credentials file of a role, in a folder written by [`init`].
pub fn creds_path(dir: &Path, role: Role) -> PathBuf {
    dir.join(format!("{}.creds", role.name()))
}

/// The CA of a folder written by `init --tls`.
pub fn ca_path(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

/// Writes everything; refuses to overwrite an existing config or
/// credentials (new keys would lock out every running process).
pub fn init(dir: &Path, tls: bool, nodes: &[NodeName], tls_names: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let conf = dir.join("nats-server.conf");
    if conf.exists() {
        anyhow::bail!(
            "{} exists: remove the folder's files first (new keys lock out running processes)",
            conf.display()
        );
    }
    let mut users = String::new();
    let mut roles = serde_json::Map::new();
    let mut add = |file: PathBuf, role: Role, node: Option<&NodeName>| -> anyhow::Result<()> {
        let key = nkeys::KeyPair::new_user();
        let seed = key
            .seed()
            .map_err(|e| anyhow::anyhow!("making a key: {e}"))?;
        write_secret(&file, &creds_text(&seed))?;
        let label = match node {
            Some(n) => format!("{} of node {n}", role.name()),
            None => role.name().to_string(),
        };
        users.push_str(&user_entry(&label, &key.public_key(), role, node));
        roles.insert(key.public_key(), label.into());
        Ok(())
    };
    for role in Role::ALL {
        add(creds_path(dir, role), role, None)?;
    }
    for n in nodes {
        add(dir.join(format!("agent-{n}.creds")), Role::Agent, Some(n))?;
    }
    let tls_block = if tls {
        write_tls(dir, tls_names)?;
        format!(
            "\n# Every client must speak TLS; the server presents a certificate of\n# the CA in ca.pem.\ntls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  timeout: 2\n}}\n",
            dir.join("server-cert.pem").canonicalize()?,
            dir.join("server-key.pem").canonicalize()?,
            ca_path(dir).canonicalize()?,
        )
    } else {
        String::new()
    };
    let text = format!(
        "# Written by `loupe auth init`. One NKey user per Loupe role: the server\n# holds public keys only; each role's seed is in its .creds file.\n# Connections without credentials are refused.\nauthorization {{\n  users = [\n{users}  ]\n}}\n{tls_block}"
    );
    std::fs::write(&conf, text)?;
    // Public keys and their roles: what a planner names in its audit line.
    std::fs::write(
        users_path(dir),
        serde_json::to_string_pretty(&serde_json::Value::Object(roles))?,
    )?;
    Ok(())
}

/// The public keys of a folder written by [`init`], each with its role.
pub fn users_path(dir: &Path) -> PathBuf {
    dir.join("users.json")
}

/// Reads `users.json` (public key -> role); empty when there is none.
pub fn read_users(dir: &Path) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(users_path(dir))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// One user of the config: its public key and its role's permissions.
fn user_entry(label: &str, public: &str, role: Role, node: Option<&NodeName>) -> String {
    let g = role.grants(node);
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Answers to the requests it received, and nothing else beyond its
    // publish list (NATS's allow_responses).
    let responses = if g.responds {
        "\n      allow_responses: { max: 1000000, expires: \"10m\" }"
    } else {
        ""
    };
    format!(
        "    # {label}\n    {{\n      nkey: {public:?}\n      permissions: {{\n        publish: {{ allow: [{}] }}\n        subscribe: {{ allow: [{}] }}{responses}\n      }}\n    }}\n",
        list(&g.publish),
        list(&g.subscribe),
    )
}

/// A seed in NATS's decorated form (as the second block of a .creds file).
fn creds_text(seed: &str) -> String {
    format!(
        "-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n*************************************************************\nNKEY Seed printed above can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n*************************************************************\n"
    )
}

/// Writes a file only its owner can read.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn write_tls(dir: &Path, extra: &[String]) -> anyhow::Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Loupe NATS CA");
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        crate::agent::hostname(),
    ];
    names.extend(extra.iter().cloned());
    names.dedup();
    let mut server = CertificateParams::new(names)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "Loupe NATS server");
    server.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = server.signed_by(&key, &ca)?;
    std::fs::write(ca_path(dir), ca.pem())?;
    std::fs::write(dir.join("server-cert.pem"), cert.pem())?;
    write_secret(&dir.join("server-key.pem"), &key.serialize_pem())?;
    Ok(())
}

/// The NKey seed of a credentials file (a decorated seed, or the seed
/// block of a JWT .creds file). Errors name the file, never its content.
pub fn read_seed(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("credentials {}: {e}", path.display()))?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("SU") && l.len() > 50 && !l.contains(' '))
        .map(str::to_string)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "credentials {}: no user NKey seed in it (a file written by `loupe auth init`, or a NATS .creds file)",
                path.display()
            )
        })
}

/// Whether a credentials file holds a user JWT (a decentralised-auth
/// .creds file) rather than a bare seed.
pub fn has_jwt(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains("BEGIN NATS USER JWT"))
}
