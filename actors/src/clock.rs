//! Kernel timestamps are CLOCK_MONOTONIC (`bpf_ktime_get_ns`); rows carry
//! wall-clock time. The offset is read once at start.

fn now(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Converts monotonic ns to ns since the Unix epoch.
#[derive(Clone, Copy, Debug)]
pub struct MonoToWall {
    offset: i128,
}

impl MonoToWall {
    pub fn now() -> Self {
        let mono = now(libc::CLOCK_MONOTONIC);
        let wall = now(libc::CLOCK_REALTIME);
        MonoToWall {
            offset: wall as i128 - mono as i128,
        }
    }

    pub fn wall(&self, mono_ns: u64) -> i64 {
        (mono_ns as i128 + self.offset).clamp(0, i64::MAX as i128) as i64
    }
}

/// Wall-clock now in ns since the epoch.
pub fn wall_now_ns() -> i64 {
    now(libc::CLOCK_REALTIME) as i64
}
