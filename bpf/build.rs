//! Compiles the kernel programs (C, CO-RE) with clang-19 and the layout probe
//! that keeps the Rust mirror of `loupe.h` honest. Nothing is compiled on the
//! node at run time: the object is embedded in the binary.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let src = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("src");
    for f in ["socket_trace.bpf.c", "loupe.h", "layout.c"] {
        println!("cargo:rerun-if-changed={}", src.join(f).display());
    }
    let clang = env::var("LOUPE_CLANG").unwrap_or_else(|_| "clang-19".into());
    require(&clang, "clang-19 (apt-get install clang-19)");

    let vmlinux = out.join("vmlinux.h");
    if !vmlinux.exists() {
        gen_vmlinux(&vmlinux);
    }

    let obj = out.join("socket_trace.bpf.o");
    run(
        Command::new(&clang)
            .args([
                "-target",
                "bpf",
                "-O2",
                "-g",
                "-Wall",
                "-Werror",
                "-D__TARGET_ARCH_x86",
            ])
            .arg("-I")
            .arg(&out)
            .arg("-I")
            .arg(&src)
            .arg("-c")
            .arg(src.join("socket_trace.bpf.c"))
            .arg("-o")
            .arg(&obj),
        "compiling bpf/src/socket_trace.bpf.c (needs clang-19 and libbpf-dev: apt-get install clang-19 libbpf-dev)",
    );

    let probe = out.join("layout_probe");
    run(
        Command::new(&clang)
            .arg("-I")
            .arg(&src)
            .arg(src.join("layout.c"))
            .arg("-o")
            .arg(&probe),
        "compiling bpf/src/layout.c (needs linux-libc-dev)",
    );
    let o = Command::new(&probe).output().expect("run layout probe");
    assert!(o.status.success(), "layout probe failed");
    let mut rs = String::from(
        "/// (name, value) pairs printed by `bpf/src/layout.c` from `loupe.h`.\npub const C_LAYOUT: &[(&str, usize)] = &[\n",
    );
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let (name, value) = line.split_once(' ').expect("layout line");
        rs.push_str(&format!("    ({name:?}, {value}),\n"));
    }
    rs.push_str("];\n");
    std::fs::write(out.join("layout.rs"), rs).expect("write layout.rs");
}

fn gen_vmlinux(path: &Path) {
    let btf = env::var("LOUPE_VMLINUX_BTF").unwrap_or_else(|_| "/sys/kernel/btf/vmlinux".into());
    let bpftool = env::var("LOUPE_BPFTOOL").unwrap_or_else(|_| "bpftool".into());
    require(&bpftool, "bpftool (apt-get install bpftool)");
    let o = Command::new(&bpftool)
        .args(["btf", "dump", "file", &btf, "format", "c"])
        .output()
        .unwrap_or_else(|e| panic!("running {bpftool}: {e}"));
    if !o.status.success() {
        panic!(
            "bpftool could not read BTF from {btf}: {}\nThe build needs a kernel with CONFIG_DEBUG_INFO_BTF (or LOUPE_VMLINUX_BTF pointing at a BTF file).",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    std::fs::write(path, o.stdout).expect("write vmlinux.h");
}

fn require(tool: &str, package: &str) {
    if Command::new(tool).arg("--version").output().is_err() {
        panic!("`{tool}` not found: install {package}. The README's set-up command does this.");
    }
}

fn run(cmd: &mut Command, what: &str) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    if !o.status.success() {
        panic!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
