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

/// Runs `fut`, catching a panic: `Err` carries its message (after it was
/// counted and logged).
pub async fn guarded<T>(
    component: &'static str,
    fut: impl Future<Output = T>,
) -> Result<T, String> {
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
                .map(|(c, n)| (format!("loupe_panics_total{{component=\"{c}\"}}"), *n))
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
