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
