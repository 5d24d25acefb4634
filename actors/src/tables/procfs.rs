//! One pass over `/proc` per sample, shared by the samplers: every process
//! in the agent's scope with its `/proc/PID/stat` numbers and its network
//! namespace. Buffers are reused across processes and samples; a process
//! that ends between the listing and the reading is skipped and counted.

use std::io::Read;
use std::path::{Path, PathBuf};

/// `/proc/PID/stat` numbers the tables use (raw units: ticks, pages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub minor_faults: u64,
    pub major_faults: u64,
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub num_threads: u64,
    pub start_ticks: u64,
    pub vsize_bytes: u64,
    pub rss_pages: u64,
    flags: u64,
}

/// `PF_KTHREAD`: kernel threads have no user space to observe.
const PF_KTHREAD: u64 = 0x0020_0000;

impl Stat {
    /// Parses `/proc/PID/stat`. The command name may hold spaces and
    /// parentheses: fields restart after the last `)`.
    pub fn parse(text: &[u8]) -> Option<Stat> {
        let close = text.iter().rposition(|b| *b == b')')?;
        let rest = std::str::from_utf8(&text[close + 1..]).ok()?;
        // Field 3 (state) is index 0 here.
        let mut f = rest.split_ascii_whitespace();
        let mut nth = |skip: usize| -> Option<u64> { f.nth(skip)?.parse().ok() };
        let flags = nth(6)?; // field 9
        let minor_faults = nth(0)?; // 10
        let major_faults = nth(1)?; // 12
        let utime_ticks = nth(1)?; // 14
        let stime_ticks = nth(0)?; // 15
        let num_threads = nth(4)?; // 20
        let start_ticks = nth(1)?; // 22
        let vsize_bytes = nth(0)?; // 23
        let rss_pages = nth(0)?; // 24
        Some(Stat {
            minor_faults,
            major_faults,
            utime_ticks,
            stime_ticks,
            num_threads,
            start_ticks,
            vsize_bytes,
            rss_pages,
            flags,
        })
    }

    pub fn kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// One process of a pass.
#[derive(Clone, Copy, Debug)]
pub struct Proc {
    pub pid: u32,
    pub netns: u64,
    pub stat: Stat,
}

/// What a pass found and missed.
#[derive(Debug, Default)]
pub struct Pass {
    pub procs: Vec<Proc>,
    /// Listed, then gone before their files were read.
    pub gone: u64,
    /// Present but unreadable or unparsable.
    pub errors: u64,
}

/// Reads `/proc` (or a test's root), reusing its buffers.
pub struct ProcFs {
    root: PathBuf,
    buf: Vec<u8>,
    path: PathBuf,
    /// Most processes read per pass (bounded cost).
    pub max_procs: usize,
}

impl ProcFs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ProcFs {
            root: root.into(),
            buf: Vec::with_capacity(4096),
            path: PathBuf::new(),
            max_procs: 65_536,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads `/proc/<pid>/<file>` into the shared buffer; `None` when the
    /// process is gone (or the file unreadable).
    pub fn read(&mut self, pid: u32, file: &str) -> Result<&[u8], std::io::Error> {
        self.path.clear();
        self.path.push(&self.root);
        self.path.push(itoa(pid).as_str());
        self.path.push(file);
        self.buf.clear();
        std::fs::File::open(&self.path)?.read_to_end(&mut self.buf)?;
        Ok(&self.buf)
    }

    /// The network namespace inode of `pid`.
    pub fn netns(&mut self, pid: u32) -> Option<u64> {
        self.path.clear();
        self.path.push(&self.root);
        self.path.push(itoa(pid).as_str());
        self.path.push("ns/net");
        let link = std::fs::read_link(&self.path).ok()?;
        let s = link.to_str()?;
        s.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
    }

    /// Every user-space process, in `netns` when that is not empty.
    pub fn pass(&mut self, netns: &[u64], out: &mut Pass) {
        out.procs.clear();
        out.gone = 0;
        out.errors = 0;
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            out.errors += 1;
            return;
        };
        for entry in dir.flatten() {
            if out.procs.len() >= self.max_procs {
                break;
            }
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(ns) = self.netns(pid) else {
                // No namespace link: the process ended since the listing.
                out.gone += 1;
                continue;
            };
            if !netns.is_empty() && !netns.contains(&ns) {
                continue;
            }
            let stat = match self.read(pid, "stat") {
                Ok(b) => Stat::parse(b),
                Err(e) if gone(&e) => {
                    out.gone += 1;
                    continue;
                }
                Err(_) => None,
            };
            match stat {
                Some(s) if s.kernel_thread() => {}
                Some(stat) => out.procs.push(Proc {
                    pid,
                    netns: ns,
                    stat,
                }),
                None => out.errors += 1,
            }
        }
    }
}

/// Whether a read failed because the process ended.
pub fn gone(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::NotFound) || e.raw_os_error() == Some(libc::ESRCH)
}

/// A pid as text, without allocating.
fn itoa(mut n: u32) -> ItoaBuf {
    let mut b = ItoaBuf {
        bytes: [0; 10],
        start: 10,
    };
    loop {
        b.start -= 1;
        b.bytes[b.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b
}

struct ItoaBuf {
    bytes: [u8; 10],
    start: usize,
}

impl ItoaBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.start..]).unwrap_or("0")
    }
}

/// Clock ticks per second (`USER_HZ`) and the page size.
pub fn units() -> (u64, u64) {
    // SAFETY: sysconf has no preconditions.
    let (hz, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (
        u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100),
        u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_last_parenthesis() {
        let line = b"4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 7 0 250 30 0 0 20 0 3 0 987654 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = Stat::parse(line).unwrap();
        assert_eq!(s.minor_faults, 1234);
        assert_eq!(s.major_faults, 7);
        assert_eq!(s.utime_ticks, 250);
        assert_eq!(s.stime_ticks, 30);
        assert_eq!(s.num_threads, 3);
        assert_eq!(s.start_ticks, 987654);
        assert_eq!(s.vsize_bytes, 104_857_600);
        assert_eq!(s.rss_pages, 2560);
        assert!(!s.kernel_thread());
        assert!(Stat::parse(b"12 (x) S 1").is_none());
        assert!(Stat::parse(b"").is_none());
    }

    #[test]
    fn this_process_is_in_a_pass_of_its_own_namespace() {
        let mut fs = ProcFs::new("/proc");
        let me = std::process::id();
        let ns = fs.netns(me).unwrap();
        let mut pass = Pass::default();
        fs.pass(&[ns], &mut pass);
        let found = pass.procs.iter().find(|p| p.pid == me).unwrap();
        assert!(found.stat.num_threads >= 1);
        assert!(found.stat.rss_pages > 0);
        // Another namespace's filter leaves it out.
        fs.pass(&[ns + 1], &mut pass);
        assert!(pass.procs.iter().all(|p| p.pid != me));
        assert_eq!(itoa(0).as_str(), "0");
        assert_eq!(itoa(4_294_967_295).as_str(), "4294967295");
    }
}
