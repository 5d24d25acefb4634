//! Which pod and container a process is in, from its `/proc/PID/cgroup`,
//! the way the kubelet and the container runtimes name cgroups:
//!
//! | driver   | path of a container (QoS level `burstable`, `besteffort`, or none for guaranteed) |
//! |----------|------------------------------------------------------------------|
//! | cgroupfs | `/kubepods/burstable/pod<uid>/<id>` (containerd, Docker), `/kubepods/burstable/pod<uid>/crio-<id>` |
//! | systemd  | `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope` (`crio-<id>.scope`, `docker-<id>.scope`) |
//!
//! cgroup v1 lists one line per hierarchy (`4:memory:/kubepods/…`), v2 one
//! line (`0::/kubepods/…`), a hybrid mount both; any line that names a pod
//! answers. CRI-O's monitor (`crio-conmon-<id>`) is not the container.
//! Nothing here allocates more than the answer.

/// A process's place in Kubernetes, as its cgroup path says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupIdentity {
    /// The pod's uid (with dashes, as in its metadata), or "".
    pub pod_uid: String,
    /// The container id (64 hex digits, as in the pod's
    /// `containerStatuses[].containerID` after `runtime://`), or "".
    pub container_id: String,
}

/// Reads the identity from the text of a `/proc/PID/cgroup` file.
pub fn identity(cgroup: &str) -> CgroupIdentity {
    let mut out = CgroupIdentity::default();
    for line in cgroup.lines() {
        // hierarchy-id:controllers:path; the path may itself hold ':'.
        let mut parts = line.splitn(3, ':');
        let path = parts.nth(2).unwrap_or("");
        let found = from_path(path);
        if out.pod_uid.is_empty() {
            out.pod_uid = found.pod_uid;
        }
        if out.container_id.is_empty() {
            out.container_id = found.container_id;
        }
        if !out.pod_uid.is_empty() && !out.container_id.is_empty() {
            break;
        }
    }
    out
}

fn from_path(path: &str) -> CgroupIdentity {
    let mut out = CgroupIdentity::default();
    for seg in path.split('/') {
        if let Some(uid) = pod_segment(seg) {
            out.pod_uid = uid;
        } else if let Some(id) = container_segment(seg) {
            out.container_id = id.to_string();
        }
    }
    out
}

/// `pod<uid>` (cgroupfs) or `kubepods[-qos]-pod<uid_with_underscores>.slice`
/// (systemd).
fn pod_segment(seg: &str) -> Option<String> {
    let raw = if let Some(s) = seg.strip_suffix(".slice") {
        let i = s.rfind("-pod")?;
        if !s.starts_with("kubepods") {
            return None;
        }
        &s[i + 4..]
    } else {
        seg.strip_prefix("pod")?
    };
    let uid: String = raw
        .chars()
        .map(|c| if c == '_' { '-' } else { c })
        .collect();
    is_uid(&uid).then_some(uid)
}

/// A Kubernetes uid: 8-4-4-4-12 hex digits.
fn is_uid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `<id>`, `cri-containerd-<id>.scope`, `crio-<id>[.scope]`,
/// `docker-<id>.scope`, `cri-dockerd-<id>.scope`; not `crio-conmon-<id>`.
fn container_segment(seg: &str) -> Option<&str> {
    let s = seg.strip_suffix(".scope").unwrap_or(seg);
    if s.starts_with("crio-conmon-") {
        return None;
    }
    let id = s.rsplit('-').next()?;
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The id of a `containerStatuses[].containerID` (`containerd://<id>`,
/// `cri-o://<id>`, `docker://<id>`).
pub fn status_container_id(s: &str) -> &str {
    s.split_once("://").map_or(s, |(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0f2a6b1c-3d4e-4f50-8a9b-0c1d2e3f4a5b";
    const ID: &str = "4c2f7a0e9d8b1c3a5e6f7081920a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c";

    fn id(pod: &str, container: &str) -> CgroupIdentity {
        CgroupIdentity {
            pod_uid: pod.into(),
            container_id: container.into(),
        }
    }

    #[test]
    fn every_driver_runtime_and_hierarchy() {
        let u = UID.replace('-', "_");
        let cases = [
            // cgroup v2, cgroupfs driver: containerd, CRI-O, Docker; guaranteed QoS.
            format!("0::/kubepods/burstable/pod{UID}/{ID}\n"),
            format!("0::/kubepods/besteffort/pod{UID}/crio-{ID}\n"),
            format!("0::/kubepods/pod{UID}/{ID}\n"),
            // cgroup v2, systemd driver.
            format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope\n"
            ),
            format!("0::/kubepods.slice/kubepods-pod{u}.slice/crio-{ID}.scope\n"),
            format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/docker-{ID}.scope\n"
            ),
            // cgroup v1: one line per hierarchy.
            format!(
                "12:memory:/kubepods/burstable/pod{UID}/{ID}\n11:cpu,cpuacct:/kubepods/burstable/pod{UID}/{ID}\n1:name=systemd:/kubepods/burstable/pod{UID}/{ID}\n"
            ),
            // Hybrid: v1 controllers and the unified line.
            format!(
                "5:pids:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope\n0::/\n"
            ),
        ];
        for c in &cases {
            assert_eq!(identity(c), id(UID, ID), "{c}");
        }
    }

    #[test]
    fn what_is_not_a_pod_container() {
        // A host process, a plain Docker container, CRI-O's monitor, a
        // cgroup namespace that hides the path.
        assert_eq!(
            identity("0::/user.slice/user-0.slice/session-1.scope\n"),
            id("", "")
        );
        assert_eq!(
            identity(&format!("0::/system.slice/docker-{ID}.scope\n")),
            id("", ID)
        );
        let u = UID.replace('-', "_");
        assert_eq!(
            identity(&format!(
                "0::/kubepods.slice/kubepods-pod{u}.slice/crio-conmon-{ID}.scope\n"
            )),
            id(UID, "")
        );
        assert_eq!(identity("0::/\n"), id("", ""));
        assert_eq!(identity("garbage"), id("", ""));
        assert_eq!(identity("0::/kubepods/podnot-a-uid/x\n"), id("", ""));
    }

    #[test]
    fn status_ids() {
        assert_eq!(status_container_id(&format!("containerd://{ID}")), ID);
        assert_eq!(status_container_id(&format!("cri-o://{ID}")), ID);
        assert_eq!(status_container_id(ID), ID);
    }
}
