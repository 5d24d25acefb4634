//! Replays the captured traffic of `testdata/mysql/` through `MysqlConnection`, one push per
//! captured recv(), as the tests do.
//!
//! - `mysql_replay/all_bytes`: every capture, throughput in bytes;
//! - `mysql_replay/all_records`: the same work, throughput in records;
//! - `mysql_replay/slap_bytes`, `slap_records`: the mysqlslap captures (text protocol, result
//!   sets of about a hundred rows);
//! - `mysql_case/<case>`: each capture alone, in bytes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::mysql::{MysqlConfig, MysqlConnection, MysqlRecord, MysqlStats};

// Test support shared with the unit tests; it takes the types above from this scope.
#[path = "../src/mysql/capture.rs"]
mod capture;
#[path = "../src/capture_file.rs"]
mod capture_file;

fn load_all() -> Vec<(String, Vec<capture::Event>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/mysql");
    let mut cases: Vec<(String, Vec<capture::Event>)> = std::fs::read_dir(dir)
        .expect("testdata/mysql")
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
fn replay(cases: &[&[capture::Event]], out: &mut Vec<MysqlRecord>) -> usize {
    let mut n = 0;
    for events in cases {
        out.clear();
        let stats = capture::replay(events, MysqlConfig::default(), out);
        n += black_box(&stats).records as usize;
    }
    n
}

fn bench(c: &mut Criterion) {
    let cases = load_all();
    let all: Vec<&[capture::Event]> = cases.iter().map(|(_, e)| e.as_slice()).collect();
    let small: Vec<&[capture::Event]> = cases
        .iter()
        .filter(|(n, _)| n.starts_with("mysqlslap_"))
        .map(|(_, e)| e.as_slice())
        .collect();
    let mut out = Vec::new();
    for (name, events) in &cases {
        let stats = capture::replay(events, MysqlConfig::default(), &mut out);
        // Only the counters: the records of the mysqlslap captures are long.
        eprint!("{name}: {}", capture::render(&[], &stats));
        out.clear();
    }

    let mut group = c.benchmark_group("mysql_replay");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    for (label, set) in [("all", &all), ("slap", &small)] {
        let bytes: u64 = set.iter().map(|e| capture::payload_bytes(e)).sum();
        let records = replay(set, &mut out) as u64;
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(format!("{label}_bytes"), |b| {
            b.iter(|| replay(black_box(set), &mut out))
        });
        group.throughput(Throughput::Elements(records));
        group.bench_function(format!("{label}_records"), |b| {
            b.iter(|| replay(black_box(set), &mut out))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("mysql_case");
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
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
