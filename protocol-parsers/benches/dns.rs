//! Replays the captured traffic of `testdata/dns/` through `DnsConnection`, one push per
//! captured recv() or datagram, as the tests do.
//!
//! - `dns_replay/all_bytes`: every capture, throughput in bytes;
//! - `dns_replay/all_records`: the same work, throughput in records;
//! - `dns_case/<case>`: each capture alone, in bytes.
//!
//! The captures are small (one to four queries each), so these numbers include the
//! per-connection set-up that a real agent pays once per connection.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::dns::{DnsConfig, DnsConnection, DnsRecord, DnsStats};

// Test support shared with the unit tests; it takes the types above from this scope.
#[path = "../src/dns/capture.rs"]
mod capture;

fn load_all() -> Vec<(String, Vec<capture::Event>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/dns");
    let mut cases: Vec<(String, Vec<capture::Event>)> = std::fs::read_dir(dir)
        .expect("testdata/dns")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".jsonl")?
                .to_owned();
            let text = std::fs::read_to_string(&path).expect("read capture");
            Some((name, capture::load(&text).expect("parse capture")))
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!cases.is_empty(), "no captures in {dir}");
    cases
}

/// Replays the cases and returns the number of records (the buffer is reused).
fn replay(cases: &[&[capture::Event]], out: &mut Vec<DnsRecord>) -> usize {
    let mut n = 0;
    for events in cases {
        out.clear();
        let stats = capture::replay(events, DnsConfig::default(), out);
        n += black_box(&stats).records as usize;
    }
    n
}

fn bench(c: &mut Criterion) {
    let cases = load_all();
    let all: Vec<&[capture::Event]> = cases.iter().map(|(_, e)| e.as_slice()).collect();
    let mut out = Vec::new();
    for (name, events) in &cases {
        let stats = capture::replay(events, DnsConfig::default(), &mut out);
        eprint!("{name}:\n{}", capture::render(&out, &stats));
        out.clear();
    }

    let mut group = c.benchmark_group("dns_replay");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let bytes: u64 = all.iter().map(|e| capture::payload_bytes(e)).sum();
    let records = replay(&all, &mut out) as u64;
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("all_bytes", |b| {
        b.iter(|| replay(black_box(&all), &mut out))
    });
    group.throughput(Throughput::Elements(records));
    group.bench_function("all_records", |b| {
        b.iter(|| replay(black_box(&all), &mut out))
    });
    group.finish();

    let mut group = c.benchmark_group("dns_case");
    group
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(300));
    for (name, events) in &cases {
        group.throughput(Throughput::Bytes(capture::payload_bytes(events)));
        group.bench_function(name.as_str(), |b| {
            b.iter(|| replay(&[black_box(events.as_slice())], &mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
