//! The listening TCP sockets of a host's processes (`/proc/PID/net/tcp`,
//! `tcp6` of each network namespace, and `/proc/PID/fd` for which process
//! holds each), and the host's own addresses (`/proc/PID/net/fib_trie`,
//! `if_inet6`): what a plain host publishes so that the client side of a
//! connection, on this node or another, can name the process it called.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

/// A socket in LISTEN state: its bound address ("0.0.0.0" or "::" for
/// every address), port, and the process that holds it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listening {
    pub addr: String,
    pub port: u16,
    pub pid: u32,
}

/// What one scan found: listeners and the addresses of the namespaces
/// they are in (loopback left out).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub listening: Vec<Listening>,
    pub addrs: BTreeSet<String>,
}

/// Scans the processes under `proc_root` whose network namespace inode is
/// in `netns` (every process when `netns` is empty). A process that ends
/// while it is read is skipped.
pub fn scan(proc_root: &Path, netns: &[u64]) -> Scan {
    let mut out = Scan::default();
    let pids: Vec<u32> = std::fs::read_dir(proc_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // One process per namespace reads the namespace's socket tables.
    let mut by_ns: HashMap<u64, Vec<u32>> = HashMap::new();
    for pid in pids {
        let Some(ino) = netns_inode(&proc_root.join(pid.to_string())) else {
            continue;
        };
        if netns.is_empty() || netns.contains(&ino) {
            by_ns.entry(ino).or_default().push(pid);
        }
    }
    for pids in by_ns.values() {
        let Some(first) = pids.first() else { continue };
        let dir = proc_root.join(first.to_string());
        let mut sockets: HashMap<u64, (String, u16)> = HashMap::new();
        for (file, v6) in [("net/tcp", false), ("net/tcp6", true)] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            for (ino, addr, port) in listening(&text, v6) {
                sockets.insert(ino, (addr, port));
            }
        }
        out.addrs.extend(addresses(&dir));
        if sockets.is_empty() {
            continue;
        }
        let mut found: HashSet<u64> = HashSet::new();
        for pid in pids {
            for ino in socket_inodes(&proc_root.join(pid.to_string())) {
                if let Some((addr, port)) = sockets.get(&ino)
                    && found.insert(ino)
                {
                    out.listening.push(Listening {
                        addr: addr.clone(),
                        port: *port,
                        pid: *pid,
                    });
                }
            }
        }
    }
    out.listening.sort();
    out.listening
        .dedup_by(|a, b| a.addr == b.addr && a.port == b.port);
    out
}

fn netns_inode(dir: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir.join("ns/net")).ok().map(|m| m.ino())
}

/// Inodes of the sockets a process holds (`socket:[123]` links in fd/).
fn socket_inodes(dir: &Path) -> Vec<u64> {
    std::fs::read_dir(dir.join("fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let l = std::fs::read_link(e.path()).ok()?;
            let l = l.to_str()?;
            l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// `(inode, address, port)` of the LISTEN (state 0A) rows of a
/// `/proc/net/tcp` or `tcp6` table.
pub fn listening(table: &str, v6: bool) -> Vec<(u64, String, u16)> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                return None;
            }
            let (addr, port) = f[1].split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let addr = if v6 { hex_v6(addr)? } else { hex_v4(addr)? };
            Some((f[9].parse().ok()?, addr, port))
        })
        .collect()
}

/// The kernel prints an IPv4 address as one native-endian (here little)
/// 32-bit word in hex.
fn hex_v4(h: &str) -> Option<String> {
    let v = u32::from_str_radix(h, 16).ok()?;
    Some(std::net::Ipv4Addr::from(v.to_le_bytes()).to_string())
}

/// An IPv6 address as four such words; v4-mapped ones read as IPv4.
fn hex_v6(h: &str) -> Option<String> {
    if h.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for w in 0..4 {
        let v = u32::from_str_radix(&h[w * 8..w * 8 + 8], 16).ok()?;
        bytes[w * 4..w * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    let a = std::net::Ipv6Addr::from(bytes);
    Some(match a.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => a.to_string(),
    })
}

/// The addresses of the namespace a process is in, loopback left out:
/// IPv4 `host LOCAL` entries of `fib_trie`, IPv6 ones of `if_inet6`.
fn addresses(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let fib = std::fs::read_to_string(dir.join("net/fib_trie")).unwrap_or_default();
    let mut last: Option<&str> = None;
    for l in fib.lines() {
        let t = l.trim_start_matches([' ', '|', '+', '-', '`']).trim();
        if t.contains("host LOCAL") {
            if let Some(a) = last
                && !a.starts_with("127.")
            {
                out.push(a.to_string());
            }
        } else if t.parse::<std::net::Ipv4Addr>().is_ok() {
            last = Some(t);
        } else if let Some(a) = t.split_whitespace().next()
            && a.parse::<std::net::Ipv4Addr>().is_ok()
        {
            last = Some(a);
        }
    }
    let v6 = std::fs::read_to_string(dir.join("net/if_inet6")).unwrap_or_default();
    for l in v6.lines() {
        if let Some(h) = l.split_whitespace().next()
            && h.len() == 32
            && let Ok(bytes) = (0..16)
                .map(|i| u8::from_str_radix(&h[i * 2..i * 2 + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
        {
            let arr: [u8; 16] = bytes.try_into().unwrap_or([0; 16]);
            let a = std::net::Ipv6Addr::from(arr);
            if !a.is_loopback() {
                out.push(a.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_rows_are_read_and_others_skipped() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1\n   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(
            listening(t, false),
            [
                (12345, "127.0.0.1".to_string(), 8080),
                (777, "0.0.0.0".to_string(), 22)
            ]
        );
        let t6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0\n   1: 0000000000000000FFFF00000500010A:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 998 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(
            listening(t6, true),
            [
                (999, "::".to_string(), 8080),
                (998, "10.1.0.5".to_string(), 80)
            ]
        );
    }

    #[test]
    fn this_process_listening_is_found() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let s = scan(Path::new("/proc"), &[]);
        assert!(
            s.listening
                .iter()
                .any(|x| x.port == port && x.addr == "127.0.0.1" && x.pid == std::process::id()),
            "{s:?}"
        );
    }
}
