//! Least privilege for the agent. Loading eBPF programs, opening their maps
//! and mounting tracefs/bpffs need root's capabilities; running them does
//! not. Once the programs are attached and every map it uses is open, the
//! agent keeps only:
//!
//! - `CAP_SYS_PTRACE`: to read `/proc/PID/environ` of processes of other
//!   users (the OpenTelemetry service name and attributes of a process);
//!   the kernel asks for ptrace-read access there.
//! - `CAP_DAC_READ_SEARCH`: those files are mode 0400 of their owner.
//! - `CAP_BPF`, only on kernels before 6.5, where every bpf() call (even a
//!   lookup in a map already open) asks for it when unprivileged BPF is off.
//!
//! Everything else leaves its effective, permitted, inheritable, ambient
//! and bounding sets, and `no_new_privs` is set, so nothing the agent runs
//! can regain them. Capabilities are per thread: this runs before the
//! agent starts any thread, and every thread inherits the reduced sets.

use caps::{CapSet, Capability, CapsHashSet};

/// What the agent keeps on this kernel (see the module's documentation).
pub fn kept(kernel_release: &str) -> Vec<Capability> {
    let mut keep = vec![Capability::CAP_SYS_PTRACE, Capability::CAP_DAC_READ_SEARCH];
    let mut v = kernel_release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    if (major, minor) < (6, 5) {
        keep.push(Capability::CAP_BPF);
    }
    keep
}

/// Drops every capability but `keep` from every set of this thread (and
/// so of the threads it starts), and sets `no_new_privs`.
pub fn drop_to(keep: &[Capability]) -> anyhow::Result<()> {
    let keep: CapsHashSet = keep.iter().copied().collect();
    // The bounding set first: dropping from it needs CAP_SETPCAP, which is
    // about to go.
    for c in caps::all() {
        if !keep.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, c)
                .map_err(|e| anyhow::anyhow!("dropping {c} from the bounding set: {e}"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| anyhow::anyhow!("ambient set: {e}"))?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|e| anyhow::anyhow!("inheritable set: {e}"))?;
    let have = caps::read(None, CapSet::Permitted).unwrap_or_default();
    let keep: CapsHashSet = keep.intersection(&have).copied().collect();
    caps::set(None, CapSet::Effective, &keep).map_err(|e| anyhow::anyhow!("effective set: {e}"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(|e| anyhow::anyhow!("permitted set: {e}"))?;
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes plain integers.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r != 0 {
        anyhow::bail!("no_new_privs: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// This thread's privileges, as `loupe check` and `loupe nodes` show them:
/// the effective capabilities and whether no_new_privs is set.
pub fn describe() -> String {
    let mut eff: Vec<String> = caps::read(None, CapSet::Effective)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.to_string().trim_start_matches("CAP_").to_lowercase())
        .collect();
    eff.sort();
    // SAFETY: prctl with PR_GET_NO_NEW_PRIVS takes plain integers.
    let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1;
    let all = eff.len() >= caps::all().len();
    format!(
        "capabilities: {}; no_new_privs: {}",
        if all {
            "all".to_string()
        } else if eff.is_empty() {
            "none".into()
        } else {
            eff.join(", ")
        },
        if nnp { "set" } else { "not set" }
    )
}
