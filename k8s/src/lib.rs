//! Process metadata. Host mode (this crate today): everything comes from the
//! process itself: `/proc/PID/stat` (start time), `cmdline`, `cgroup`
//! (container id) and the OpenTelemetry environment convention in
//! `/proc/PID/environ` (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` with
//! `service.name`, `service.namespace`, `k8s.namespace.name`,
//! `k8s.pod.name`). In a cluster: [`watch`] reduces the API server's
//! objects to what names are resolved with, [`cluster`] indexes them (an
//! IP at a time to its pod, a container to its pod), and [`cgroup`] finds
//! a process's pod and container from its cgroup path.

pub mod cgroup;
pub mod cluster;
pub mod host;
pub mod listeners;
pub mod watch;

pub use host::{HostMetadata, ProcessHint, ProcessInfo};
