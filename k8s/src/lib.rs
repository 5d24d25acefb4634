//! Process metadata. Host mode (this crate today): everything comes from the
//! process itself: `/proc/PID/stat` (start time), `cmdline`, `cgroup`
//! (container id) and the OpenTelemetry environment convention in
//! `/proc/PID/environ` (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` with
//! `service.name`, `service.namespace`, `k8s.namespace.name`,
//! `k8s.pod.name`). Kubernetes watchers (kube-rs) come with the DaemonSet.

pub mod host;

pub use host::{HostMetadata, ProcessHint, ProcessInfo};
