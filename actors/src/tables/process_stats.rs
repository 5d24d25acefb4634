//! `process_stats`: CPU, memory and I/O of every process in the agent's
//! scope, one row per process per sample, from `/proc/PID/stat` (faults,
//! CPU time, threads, sizes) and `/proc/PID/io` (read and written bytes),
//! as Pixie's table has them. CPU times are nanoseconds (ticks times
//! 10⁹/USER_HZ), RSS is bytes (pages times the page size).

use super::{SampleCx, Sampler};
use crate::counters::Counter;
use crate::protocols::Columns;

pub struct ProcessStats {
    ns_per_tick: u64,
    page: u64,
}

impl Default for ProcessStats {
    fn default() -> Self {
        let (hz, page) = super::procfs::units();
        ProcessStats {
            ns_per_tick: 1_000_000_000 / hz,
            page,
        }
    }
}

/// `/proc/PID/io` counters the table keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Io {
    pub rchar: u64,
    pub wchar: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
}

impl Io {
    pub fn parse(text: &[u8]) -> Option<Io> {
        let text = std::str::from_utf8(text).ok()?;
        let mut io = Io::default();
        let mut seen = 0;
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let slot = match k {
                "rchar" => &mut io.rchar,
                "wchar" => &mut io.wchar,
                "read_bytes" => &mut io.read_bytes,
                "write_bytes" => &mut io.write_bytes,
                _ => continue,
            };
            *slot = v.trim().parse().ok()?;
            seen += 1;
        }
        (seen == 4).then_some(io)
    }
}

impl Sampler for ProcessStats {
    fn table(&self) -> &'static str {
        loupe_topology::schema::PROCESS_STATS
    }

    fn sample(&mut self, cx: &mut SampleCx<'_>, rows: &mut Columns) {
        for p in cx.pass.procs.iter() {
            let io = match cx.fs.read(p.pid, "io") {
                Ok(b) => Io::parse(b),
                Err(e) if super::procfs::gone(&e) => {
                    cx.counters.add(Counter::SamplerProcessesGone, 1);
                    continue;
                }
                // Not ours to read (no ptrace access): the row keeps zeros.
                Err(_) => None,
            };
            let io = io.unwrap_or_else(|| {
                cx.counters.add(Counter::SamplerReadErrors, 1);
                Io::default()
            });
            let info = cx.metadata.lookup_started(p.pid, p.stat.start_ticks);
            let s = &p.stat;
            rows.start(cx.now_ns);
            rows.str(&info.upid);
            rows.int(s.major_faults as i64);
            rows.int(s.minor_faults as i64);
            rows.int((s.utime_ticks * self.ns_per_tick) as i64);
            rows.int((s.stime_ticks * self.ns_per_tick) as i64);
            rows.int(s.num_threads as i64);
            rows.int(s.vsize_bytes as i64);
            rows.int((s.rss_pages * self.page) as i64);
            rows.int(io.rchar as i64);
            rows.int(io.wchar as i64);
            rows.int(io.read_bytes as i64);
            rows.int(io.write_bytes as i64);
            rows.end_row();
            cx.processes.push(info);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_needs_all_four_counters() {
        let text = b"rchar: 4096\nwchar: 10\nsyscr: 3\nsyscw: 1\nread_bytes: 8192\nwrite_bytes: 0\ncancelled_write_bytes: 0\n";
        assert_eq!(
            Io::parse(text),
            Some(Io {
                rchar: 4096,
                wchar: 10,
                read_bytes: 8192,
                write_bytes: 0
            })
        );
        assert_eq!(Io::parse(b"rchar: 1\n"), None);
        assert_eq!(
            Io::parse(b"rchar: x\nwchar: 1\nread_bytes: 1\nwrite_bytes: 1"),
            None
        );
    }
}
