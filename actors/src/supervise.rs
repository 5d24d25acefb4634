//! Failures are contained: a panic in one component (a fragment, a tap,
//! the NATS service, the planner's handling of one query) is caught where
//! that component's task starts, logged with its message, counted
//! (`loupe_panics_total{component}`), and the component goes on: a
//! request's handler is gone with its request, a long-lived loop is
//! restarted. The capture path never runs under these tasks, so it keeps
//! running. The process exits non-zero only on a fatal error (the binary
//! decides which), never with 0 after a panic.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, OnceLock};

use futures::FutureExt;

/// Panics caught, by component, in this process.
fn tally() -> &'static Mutex<BTreeMap<&'static str, u64>> {
    static T: OnceLock<Mutex<BTreeMap<&'static str, u64>>> = OnceLock::new();
    T.get_or_init(Mutex::default)
}

/// The text of a panic's payload.
pub fn message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Counts and logs a caught panic of `component`.
pub fn caught(component: &'static str, payload: &(dyn std::any::Any + Send)) {
    if let Ok(mut t) = tally().lock() {
        *t.entry(component).or_default() += 1;
    }
    tracing::error!(
        component,
        "a panic was caught and the component goes on: {}",
        message(payload)
    );
}

/// Faults injected by the environment: `LOUPE_FAULT=fragment:1,tail:2`
/// makes the next task of `fragment` and the next two of `tail` panic as
/// they start. A hook for integration tests, which must show a real panic
/// contained; no flag, query or message can set it, only whoever starts
/// the process.
fn faults() -> &'static Mutex<BTreeMap<String, u64>> {
    static F: OnceLock<Mutex<BTreeMap<String, u64>>> = OnceLock::new();
    F.get_or_init(|| {
        let spec = std::env::var("LOUPE_FAULT").unwrap_or_default();
        let mut m = BTreeMap::new();
        for item in spec.split(',').filter(|s| !s.is_empty()) {
            let (c, n) = item.split_once(':').unwrap_or((item, "1"));
            match n.parse::<u64>() {
                Ok(n) => {
                    tracing::warn!(
                        component = c,
                        times = n,
                        "LOUPE_FAULT: panics will be injected"
                    );
                    m.insert(c.to_string(), n);
                }
                Err(_) => tracing::warn!("LOUPE_FAULT: {item:?} ignored (COMPONENT:TIMES)"),
            }
        }
        Mutex::new(m)
    })
}

/// Panics if `LOUPE_FAULT` asks for a fault of `component` now.
fn inject(component: &str) {
    let fire = faults()
        .lock()
        .map(|mut f| match f.get_mut(component) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .unwrap_or(false);
    if fire {
        panic!("a fault injected in {component} (LOUPE_FAULT)");
    }
}

/// Runs `fut`, catching a panic: `Err` carries its message (after it was
/// counted and logged).
pub async fn guarded<T>(
    component: &'static str,
    fut: impl Future<Output = T>,
) -> Result<T, String> {
    let fut = async move {
        inject(component);
        fut.await
    };
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(v) => Ok(v),
        Err(p) => {
            caught(component, p.as_ref());
            Err(message(p.as_ref()))
        }
    }
}

/// `loupe_panics_total{component="…"}` of every component that panicked.
pub fn counters() -> Vec<(String, u64)> {
    tally()
        .lock()
        .map(|t| {
            t.iter()
                .map(|(c, n)| (loupe_topology::metrics::Metric::Panics.sample(&[c]), *n))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_panic_is_caught_counted_and_told() {
        let r: Result<(), String> = guarded("test-component", async {
            panic!("boom {}", 7);
        })
        .await;
        assert_eq!(r, Err("boom 7".to_string()));
        assert_eq!(guarded("test-component", async { 5 }).await, Ok(5));
        assert!(counters().contains(&(
            "loupe_panics_total{component=\"test-component\"}".to_string(),
            1
        )));
    }
}
