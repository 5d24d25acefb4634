//! Host checks and set-up the loader needs: tracefs and bpffs mounted,
//! BTF present, privileges.

use std::path::Path;

pub const TRACEFS: &str = "/sys/kernel/tracing";
pub const BPFFS: &str = "/sys/fs/bpf";
pub const BTF: &str = "/sys/kernel/btf/vmlinux";

/// Outcome of one host check, for `loupe check`.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn is_mounted(path: &str, fstype: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .map(|m| {
            m.lines().any(|l| {
                let mut f = l.split_whitespace();
                let (_, mnt, ty) = (f.next(), f.next(), f.next());
                mnt == Some(path) && ty == Some(fstype)
            })
        })
        .unwrap_or(false)
}

/// Mounts `fstype` on `path` unless it is mounted already. Returns what was done.
pub fn ensure_mounted(path: &str, fstype: &str) -> Result<&'static str, String> {
    if is_mounted(path, fstype) {
        return Ok("already mounted");
    }
    let _ = std::fs::create_dir_all(path);
    let c = |s: &str| std::ffi::CString::new(s).map_err(|e| e.to_string());
    let (src, target, ty) = (c(fstype)?, c(path)?, c(fstype)?);
    // SAFETY: all three pointers are valid NUL-terminated strings that
    // outlive the call; a null `data` pointer is allowed by mount(2).
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            ty.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok("mounted now")
    } else {
        Err(format!(
            "mount -t {fstype} {fstype} {path}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// Mounts tracefs and bpffs where missing; the first error is returned.
pub fn prepare_host() -> Result<(), String> {
    ensure_mounted(TRACEFS, "tracefs")?;
    ensure_mounted(BPFFS, "bpf")?;
    Ok(())
}

/// Everything `loupe check` reports before loading programs.
pub fn host_checks() -> Vec<Check> {
    let mut out = Vec::new();
    let uname = rustix_uname();
    out.push(Check {
        name: "kernel",
        ok: true,
        detail: uname,
    });
    let btf = Path::new(BTF).exists();
    out.push(Check {
        name: "btf",
        ok: btf,
        detail: if btf {
            format!("{BTF} present")
        } else {
            format!("{BTF} missing: this kernel was built without CONFIG_DEBUG_INFO_BTF; Loupe's CO-RE programs need it")
        },
    });
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    out.push(Check {
        name: "privileges",
        ok: euid == 0,
        detail: if euid == 0 {
            "running as root".into()
        } else {
            format!("euid {euid}: run as root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)")
        },
    });
    for (path, fstype, name) in [(TRACEFS, "tracefs", "tracefs"), (BPFFS, "bpf", "bpffs")] {
        match ensure_mounted(path, fstype) {
            Ok(what) => out.push(Check {
                name,
                ok: true,
                detail: format!("{path}: {what}"),
            }),
            Err(e) => out.push(Check {
                name,
                ok: false,
                detail: e,
            }),
        }
    }
    out
}

fn rustix_uname() -> String {
    // SAFETY: utsname is plain data; uname fills it and NUL-terminates fields.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    )
}

/// `BPF_MAP_LOOKUP_BATCH` (bpf(2) command 24) on a hash map of `K` -> `V`:
/// fills `keys`/`values` from the start, returns how many it filled and
/// whether the map has no more entries. `in_batch` is `None` for the first
/// call, then the previous call's `out_batch`.
pub fn map_lookup_batch<K: Copy, V: Copy>(
    map_fd: i32,
    in_batch: Option<&[u8; 8]>,
    out_batch: &mut [u8; 8],
    keys: &mut [K],
    values: &mut [V],
) -> Result<(usize, bool), String> {
    /// The `batch` member of `union bpf_attr`.
    #[repr(C)]
    #[derive(Default)]
    struct BatchAttr {
        in_batch: u64,
        out_batch: u64,
        keys: u64,
        values: u64,
        count: u32,
        map_fd: u32,
        elem_flags: u64,
        flags: u64,
    }
    const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
    let n = keys.len().min(values.len());
    let mut attr = BatchAttr {
        in_batch: in_batch.map_or(0, |b| b.as_ptr() as u64),
        out_batch: out_batch.as_mut_ptr() as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count: n as u32,
        map_fd: map_fd as u32,
        ..Default::default()
    };
    // SAFETY: `attr` is a valid `bpf_attr.batch` whose buffers hold `count`
    // keys and values of the map's sizes (the caller's types mirror the
    // kernel's, checked by the layout test) and 8 bytes of batch token; the
    // kernel writes at most `count` entries and never past them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_BATCH,
            &mut attr as *mut BatchAttr,
            size_of::<BatchAttr>() as u32,
        )
    };
    let got = (attr.count as usize).min(n);
    if rc == 0 {
        return Ok((got, false));
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        // The end of the map (with the last entries, if any).
        Some(libc::ENOENT) => Ok((got, true)),
        _ => Err(format!("BPF_MAP_LOOKUP_BATCH: {err}")),
    }
}
