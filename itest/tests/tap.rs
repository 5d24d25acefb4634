//! Stage taps (issue 6, item 5): `loupe tap NODE STAGE` shows what each
//! stage of a real agent hands the next (capture, reassembly, records,
//! rows) while it holds the tap, and the agent publishes a stage only while
//! a tap holds it. Ground truth: nginx's access log and curl.

use anyhow::{Result, bail};
use loupe_itest::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NODE: &str = "itest-tap";
const STAGES: [&str; 4] = ["capture", "reassembly", "records", "rows"];

fn tap(nats: &Nats, stage: &str, secs: u32) -> Result<Child> {
    Ok(loupe()
        .args([
            "tap",
            NODE,
            stage,
            "--for",
            &format!("{secs}s"),
            "--nats",
            &nats.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?)
}

/// What one `loupe tap` printed: stdout lines, stderr, and the node's
/// first and last frame numbers it saw.
type Tapped = (Vec<String>, String, Option<(u64, u64)>);

fn finish(c: Child) -> Result<Tapped> {
    let out = c.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("loupe tap failed: {err}");
    }
    let seqs = err.split_once("(#").and_then(|(_, rest)| {
        let (a, rest) = rest.split_once(" to #")?;
        let (b, _) = rest.split_once(' ')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    });
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    Ok((lines, err, seqs))
}

fn curl(base: &str, paths: &[String]) -> Result<()> {
    for p in paths {
        run(Command::new("curl").args(["-s", "-o", "/dev/null", &format!("{base}{p}")]))?;
    }
    Ok(())
}

#[test]
fn taps_show_each_stage_while_held_and_nothing_is_published_without_one() -> Result<()> {
    let dir = temp_dir("tap");
    let nats = Nats::start(&dir)?;
    let _agent = Agent::start(&nats, NODE, &dir, &[])?;
    let nginx = Nginx::start(&dir.join("nginx"), None)?;
    let base = format!("http://127.0.0.1:{}", nginx.port);
    // Traffic before any tap: nothing may be published for it.
    curl(
        &base,
        &(0..5).map(|i| format!("/before-{i}")).collect::<Vec<_>>(),
    )?;
    std::thread::sleep(Duration::from_secs(1));

    // A stage that does not exist: a clear error, exit 2.
    let bad = loupe()
        .args(["tap", NODE, "bytes", "--nats", &nats.url])
        .output()?;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("capture, reassembly, records, rows"));
    // A node that does not exist: said at once.
    let gone = loupe()
        .args(["tap", "no-such-node", "rows", "--nats", &nats.url])
        .output()?;
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no node no-such-node"));

    let taps = STAGES
        .iter()
        .map(|s| tap(&nats, s, 4))
        .collect::<Result<Vec<_>>>()?;
    std::thread::sleep(Duration::from_millis(1500));
    let tapped: Vec<String> = (0..10).map(|i| format!("/tapped-{i}")).collect();
    curl(&base, &tapped)?;
    let mut last_rows = 0;
    for (stage, c) in STAGES.iter().zip(taps) {
        let (lines, err, seqs) = finish(c)?;
        // Its first frame is the node's first of this stage: nothing was
        // published before a tap held it.
        assert_eq!(seqs.map(|s| s.0), Some(1), "{stage}: {err}");
        let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
        match *stage {
            "capture" => assert!(has(r#""kind":"data""#), "{stage}: {lines:?}"),
            "reassembly" => assert!(has(r#""protocol":"http""#), "{stage}: {lines:?}"),
            "records" => assert!(
                has(r#""table":"http_events""#) && has(&format!(":{}\"", nginx.port)),
                "{stage}: {lines:?}"
            ),
            _ => {
                // Every tapped request, as nginx logged it, is a row seen.
                let logged: Vec<String> = nginx
                    .access_log()?
                    .into_iter()
                    .map(|(_, uri, _)| uri)
                    .filter(|u| u.starts_with("/tapped-"))
                    .collect();
                assert_eq!(logged.len(), tapped.len(), "nginx logged them all");
                for uri in &logged {
                    assert!(
                        has(&format!(r#""req_path":"{uri}""#)),
                        "rows: {uri} missing from {lines:?}"
                    );
                }
                // Rows from before the tap are not re-sent.
                assert!(!has("/before-"), "{lines:?}");
                // Bodies stay redacted in the tap as in the store.
                assert!(!lines.iter().any(|l| l.contains("<html")), "{lines:?}");
                last_rows = seqs.map_or(0, |s| s.1);
            }
        }
    }

    // The taps are gone and their holds lapse (2 s): traffic now makes
    // rows, and none of it is published. The next tap's first frame follows
    // the last one the first tap saw.
    std::thread::sleep(Duration::from_secs(3));
    curl(
        &base,
        &(0..10).map(|i| format!("/unheld-{i}")).collect::<Vec<_>>(),
    )?;
    std::thread::sleep(Duration::from_secs(1));
    let again = tap(&nats, "rows", 3)?;
    std::thread::sleep(Duration::from_millis(1000));
    curl(&base, &["/again".to_string()])?;
    let (lines, err, seqs) = finish(again)?;
    assert_eq!(seqs.map(|s| s.0), Some(last_rows + 1), "{err}");
    assert!(
        lines.iter().any(|l| l.contains(r#""req_path":"/again""#)),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("/unheld-")), "{lines:?}");
    Ok(())
}
