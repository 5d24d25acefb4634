//! `network_stats`: the network interface counters of every network
//! namespace a process in the agent's scope lives in (a pod's, in a
//! cluster), one row per namespace per sample, read from
//! `/proc/PID/net/dev` of its oldest process, as Pixie does.
//!
//! Interfaces counted are Pixie's: names starting `eth`, `en`, `wlan`, `wl`
//! or `ww` (a pod's `eth0`, a host's NICs); loopback and the host side of
//! pods' veths are not, so a pod's bytes are not counted twice.
//! `pod_id` is the pod's uid (from its processes' cgroup) in a cluster, and
//! `<node>:netns:<inode>` for a namespace that is not a pod's (the host's).

use super::{SampleCx, Sampler};
use crate::counters::Counter;
use crate::protocols::Columns;

/// Counters summed over the counted interfaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetDev {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_drops: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_drops: u64,
}

/// Pixie's interface name prefixes.
const COUNTED: &[&str] = &["eth", "en", "wlan", "wl", "ww"];

impl NetDev {
    /// Parses `/proc/PID/net/dev`, summing the counted interfaces.
    pub fn parse(text: &[u8]) -> Option<NetDev> {
        let text = std::str::from_utf8(text).ok()?;
        let mut d = NetDev::default();
        for line in text.lines().skip(2) {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if !COUNTED.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let mut f = rest.split_ascii_whitespace().map(|v| v.parse::<u64>());
            let mut next = || f.next().and_then(Result::ok);
            let (rb, rp, re, rd) = (next()?, next()?, next()?, next()?);
            for _ in 0..4 {
                next()?;
            }
            let (tb, tp, te, td) = (next()?, next()?, next()?, next()?);
            d.rx_bytes += rb;
            d.rx_packets += rp;
            d.rx_errors += re;
            d.rx_drops += rd;
            d.tx_bytes += tb;
            d.tx_packets += tp;
            d.tx_errors += te;
            d.tx_drops += td;
        }
        Some(d)
    }
}

#[derive(Default)]
pub struct NetworkStats {
    /// (netns, start ticks, index in the pass), sorted: reused.
    order: Vec<(u64, u64, usize)>,
}

impl Sampler for NetworkStats {
    fn table(&self) -> &'static str {
        loupe_topology::schema::NETWORK_STATS
    }

    fn sample(&mut self, cx: &mut SampleCx<'_>, rows: &mut Columns) {
        self.order.clear();
        self.order.extend(
            cx.pass
                .procs
                .iter()
                .enumerate()
                .map(|(i, p)| (p.netns, p.stat.start_ticks, i)),
        );
        self.order.sort_unstable();
        let mut at = 0;
        while at < self.order.len() {
            let ns = self.order[at].0;
            let end = at
                + self.order[at..]
                    .iter()
                    .take_while(|(n, ..)| *n == ns)
                    .count();
            // The pod owning the namespace: the first of its processes
            // (oldest first) with a pod uid. The host's namespace is no pod's.
            let mut pod_id = String::new();
            if ns != cx.host_netns {
                for &(_, _, i) in &self.order[at..end] {
                    let p = &cx.pass.procs[i];
                    let info = cx.metadata.lookup_started(p.pid, p.stat.start_ticks);
                    if !info.pod_id.is_empty() {
                        pod_id = info.pod_id.clone();
                        break;
                    }
                }
            }
            if pod_id.is_empty() {
                pod_id = format!("{}:netns:{ns}", cx.node);
            }
            // Oldest process first; another if it ended meanwhile.
            let mut dev = None;
            for &(_, _, i) in &self.order[at..end] {
                let pid = cx.pass.procs[i].pid;
                match cx.fs.read(pid, "net/dev") {
                    Ok(b) => {
                        dev = NetDev::parse(b);
                        if dev.is_none() {
                            cx.counters.add(Counter::SamplerReadErrors, 1);
                        }
                        break;
                    }
                    Err(e) if super::procfs::gone(&e) => {
                        cx.counters.add(Counter::SamplerProcessesGone, 1);
                    }
                    Err(_) => {
                        cx.counters.add(Counter::SamplerReadErrors, 1);
                        break;
                    }
                }
            }
            at = end;
            let Some(d) = dev else {
                continue;
            };
            rows.start(cx.now_ns);
            rows.str(&pod_id);
            for v in [
                d.rx_bytes,
                d.rx_packets,
                d.rx_errors,
                d.rx_drops,
                d.tx_bytes,
                d.tx_packets,
                d.tx_errors,
                d.tx_drops,
            ] {
                rows.int(v as i64);
            }
            rows.end_row();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_interfaces_are_summed_and_others_left_out() {
        let text = b"Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 9999      99    0    0    0     0          0         0     9999      99    0    0    0     0       0          0
  eth0: 1000      10    1    2    0     0          0         0     2000      20    3    4    0     0       0          0
 ens33: 5         1     0    0    0     0          0         0     6         1     0    0    0     0       0          0
veth12: 777       7     0    0    0     0          0         0     777       7     0    0    0     0       0          0
";
        let d = NetDev::parse(text).unwrap();
        assert_eq!(
            d,
            NetDev {
                rx_bytes: 1005,
                rx_packets: 11,
                rx_errors: 1,
                rx_drops: 2,
                tx_bytes: 2006,
                tx_packets: 21,
                tx_errors: 3,
                tx_drops: 4,
            }
        );
        assert!(NetDev::parse(b"h\nh\n eth0: 1 2 3\n").is_none());
    }
}
