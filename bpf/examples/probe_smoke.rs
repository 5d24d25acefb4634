//! Loads the programs, prints which probes attached, then counts records for
//! a few seconds. `cargo run -p loupe-bpf --example probe_smoke` (root).
fn main() {
    let mut cap = loupe_bpf::Capture::load(&loupe_bpf::CaptureConfig::default()).expect("load");
    for p in cap.probes() {
        println!(
            "{:20} {:35} {}",
            p.program,
            p.tracepoint,
            p.error.as_deref().unwrap_or("attached")
        );
    }
    let start = std::time::Instant::now();
    let (mut n, mut bytes) = (0usize, 0usize);
    while start.elapsed().as_secs() < 3 {
        cap.wait(10);
        cap.drain(|r| {
            n += 1;
            bytes += r.len();
            if n < 5 {
                println!("{:?}", loupe_bpf::decode(r));
            }
        });
    }
    println!("{n} records, {bytes} bytes; {:?}", cap.stats().unwrap());
}
