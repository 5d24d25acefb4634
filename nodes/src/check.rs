//! `loupe check`: can this host run the agent?

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CheckArgs {}

pub fn run(_: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    println!("host");
    for c in loupe_bpf::sys::host_checks() {
        ok &= c.ok;
        println!("  {:<11} {:<4} {}", c.name, if c.ok { "ok" } else { "FAIL" }, c.detail);
    }
    println!("probes");
    match loupe_bpf::Capture::load(&loupe_bpf::CaptureConfig::default()) {
        Ok(cap) => {
            let attached = cap.probes().iter().filter(|p| p.error.is_none()).count();
            for p in cap.probes() {
                match &p.error {
                    None => println!("  {:<32} attached", p.tracepoint),
                    Some(e) => {
                        ok = false;
                        println!("  {:<32} FAILED: {e}", p.tracepoint)
                    }
                }
            }
            println!("  {attached}/{} attached", cap.probes().len());
            std::thread::sleep(std::time::Duration::from_millis(200));
            if let Ok(k) = cap.stats() {
                println!("kernel counters (since load)");
                for (s, v) in &k.values {
                    println!("  {:<48} {v}", s.name());
                }
            }
        }
        Err(e) => {
            ok = false;
            println!("  FAILED to load: {e}");
        }
    }
    println!("{}", if ok { "ready" } else { "NOT ready: see FAIL lines above" });
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
