//! Properties: splitting TCP bytes differently across pushes never changes records or
//! counters, and no input panics.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

/// Cuts `data` at the given positions (taken modulo its length).
fn split_at<'a>(data: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
    at.push(0);
    at.push(data.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2)
        .filter_map(|w| data.get(w[0]..w[1]))
        .filter(|p| !p.is_empty())
        .collect()
}

fn outcome(events: &[Event]) -> (Vec<DnsRecord>, DnsStats) {
    let mut out = Vec::new();
    let stats = capture::replay(events, DnsConfig::default(), &mut out);
    (out, stats)
}

/// Every captured TCP chunk re-split at arbitrary points (each piece keeps its chunk's
/// timestamp). UDP datagrams are left whole: each is one message.
fn resplit(events: &[Event], cuts: &[Vec<Index>]) -> Vec<Event> {
    let mut res = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Data {
                kind,
                ts,
                bytes,
                udp: false,
            } => {
                let no_cuts = Vec::new();
                for piece in split_at(bytes, cuts.get(i).unwrap_or(&no_cuts)) {
                    res.push(Event::Data {
                        kind: *kind,
                        ts: *ts,
                        bytes: piece.to_vec(),
                        udp: false,
                    });
                }
            }
            _ => res.push(e.clone()),
        }
    }
    res
}

#[test]
fn tcp_captures_byte_by_byte_equal_chunk_by_chunk() {
    for name in case_names().iter().filter(|n| n.starts_with("tcp_")) {
        let events = load_case(name);
        let bytes: Vec<Event> = events
            .iter()
            .flat_map(|e| match e {
                Event::Data {
                    kind,
                    ts,
                    bytes,
                    udp: false,
                } => bytes
                    .iter()
                    .map(|&b| Event::Data {
                        kind: *kind,
                        ts: *ts,
                        bytes: vec![b],
                        udp: false,
                    })
                    .collect(),
                _ => vec![e.clone()],
            })
            .collect();
        assert_eq!(outcome(&events), outcome(&bytes), "{name}");
    }
}

/// A TCP exchange of `n` queries and their answers, with the offsets where each query ends.
fn tcp_exchange(specs: &[(u16, u8, u8)]) -> (Vec<u8>, Vec<u8>) {
    let (mut q, mut a) = (Vec::new(), Vec::new());
    for (i, &(id, name_len, answers)) in specs.iter().enumerate() {
        let name = format!("{}.q{i}.test", "n".repeat(usize::from(name_len)));
        q.extend(tcp(&query(id, &name, A)));
        let rrs: Vec<Vec<u8>> = (0..answers).map(|k| rr(&name, A, &[10, 0, 0, k])).collect();
        a.extend(tcp(&response(
            id,
            &name,
            A,
            u16::from(answers == 0) * 3,
            &rrs,
        )));
    }
    (q, a)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn captures_split_anywhere(case in any::<Index>(), cuts in prop::collection::vec(prop::collection::vec(any::<Index>(), 0..8), 0..16)) {
        let names = case_names();
        let name = case.get(&names);
        let events = load_case(name);
        prop_assert_eq!(outcome(&events), outcome(&resplit(&events, &cuts)), "{}", name);
    }

    /// Generated exchanges pushed in arbitrary pieces give what one push per stream gives:
    /// every query answered, in order, nothing counted as an error.
    #[test]
    fn generated_tcp_split_anywhere(
        specs in prop::collection::vec((any::<u16>(), 1u8..40, 0u8..4), 1..8),
        qcuts in prop::collection::vec(any::<Index>(), 0..12),
        acuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let (q, a) = tcp_exchange(&specs);
        let mut whole = Run::new();
        whole.tcp(Q, 1, &q).tcp(R, 2, &a).close(3);
        let mut split = Run::new();
        for piece in split_at(&q, &qcuts) {
            split.tcp(Q, 1, piece);
        }
        for piece in split_at(&a, &acuts) {
            split.tcp(R, 2, piece);
        }
        split.close(3);
        prop_assert_eq!(&whole.out, &split.out);
        prop_assert_eq!(whole.stats(), split.stats());
        prop_assert_eq!(whole.stats().records, specs.len() as u64);
        prop_assert_eq!(whole.stats().parse_errors + whole.stats().unmatched_responses, 0);
    }

    /// Arbitrary bytes, as datagrams and as TCP streams with gaps: no panic, and the
    /// counters agree with what was emitted.
    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in prop::collection::vec((any::<bool>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..80), 0u64..40), 0..24),
    ) {
        let mut r = Run::with(DnsConfig { max_pending: 4, max_message_bytes: 200, ..DnsConfig::default() });
        for (i, (response, udp, bytes, gap)) in chunks.iter().enumerate() {
            let kind = if *response { R } else { Q };
            let ts = i as u64 * 1_000_000_000;
            if *udp {
                r.udp(kind, ts, bytes);
            } else {
                r.tcp(kind, ts, bytes);
                if *gap > 30 {
                    r.gap(kind, ts, *gap - 30);
                }
            }
            r.expire(ts);
        }
        r.close(u64::MAX);
        let s = r.stats().clone();
        prop_assert_eq!(s.records, r.out.len() as u64);
        prop_assert_eq!(s.records, s.queries);
        prop_assert!(s.timeouts <= s.records);
    }

    /// Valid messages with bytes flipped: decoding never panics.
    #[test]
    fn mutated_messages_never_panic(flips in prop::collection::vec((any::<Index>(), any::<u8>()), 1..6)) {
        let mut m = response(1, "www.loupe.test", A, 0, &[
            rr("www.loupe.test", CNAME, &name_wire("host.loupe.test")),
            rr("host.loupe.test", A, &[10, 0, 0, 7]),
        ]);
        m.extend_from_slice(b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x03\x02hi");
        m[7] = 3;
        for (at, b) in &flips {
            let i = at.index(m.len());
            m[i] = *b;
        }
        let mut r = Run::new();
        r.udp(Q, 1, &query(1, "www.loupe.test", A)).udp(R, 2, &m);
        r.tcp(Q, 3, &tcp(&query(1, "www.loupe.test", A))).tcp(R, 4, &tcp(&m)).close(5);
        prop_assert_eq!(r.stats().records, r.out.len() as u64);
    }
}
