//! Measures the floor cost of syscall tracepoints: attaches empty programs
//! (from an object built from `bpf/examples/empty.bpf.c`) to the same
//! tracepoints the agent uses, and holds them until Enter is pressed or 10 s
//! pass. `scripts/bench_floor.sh` drives it with wrk.
use aya::programs::{RawTracePoint, TracePoint};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: tracepoint_floor OBJECT.o [seconds]");
    let secs: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    loupe_bpf::sys::prepare_host().expect("tracefs");
    let mut ebpf = aya::Ebpf::load_file(&path).expect("load");
    let names: Vec<String> = ebpf.programs().map(|(n, _)| n.to_string()).collect();
    for name in names {
        if let Some(rt) = name.strip_prefix("rt_") {
            let p: &mut RawTracePoint = ebpf.program_mut(&name).unwrap().try_into().unwrap();
            p.load().unwrap();
            p.attach(rt).unwrap();
            continue;
        }
        let tp = if let Some(s) = name.strip_prefix("en_") {
            format!("sys_enter_{s}")
        } else {
            format!("sys_exit_{}", &name[3..])
        };
        let p: &mut TracePoint = ebpf.program_mut(&name).unwrap().try_into().unwrap();
        p.load().unwrap();
        p.attach("syscalls", &tp).unwrap();
    }
    eprintln!("attached; holding {secs} s");
    std::thread::sleep(std::time::Duration::from_secs(secs));
}
