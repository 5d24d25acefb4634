//! Pixie's metadata functions (`px.ip_to_pod_id`, `px.pod_id_to_service_name`,
//! ...): one registry line each (name, argument types, result type). The
//! executor answers them from the cluster metadata the process follows
//! (`actors::exec::meta`); names are Pixie's and so is what they return:
//! pods, services, deployments and replicasets as `namespace/name`, ids as
//! the objects' uids, "" when nothing matches, and several services as a
//! JSON array (`["shop/a","shop/b"]`), one as its name.

use serde::{Deserialize, Serialize};

use super::types::DType;

/// A metadata function. The wire carries it inside [`super::Func::Meta`];
/// new variants go at the end (the codec is positional).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetaFn {
    IpToPodId,
    IpToServiceId,
    PodIdToPodName,
    PodIdToNamespace,
    PodIdToNodeName,
    PodIdToServiceName,
    PodIdToServiceId,
    PodIdToDeploymentName,
    PodIdToDeploymentId,
    PodIdToReplicaSetName,
    PodIdToReplicaSetId,
    PodIdToStartTime,
    PodIdToStopTime,
    PodNameToPodId,
    PodNameToNamespace,
    PodNameToStartTime,
    PodNameToStopTime,
    PodNameToStatus,
    PodNameToPodIp,
    PodNameToServiceName,
    PodNameToServiceId,
    PodNameToDeploymentName,
    PodNameToDeploymentId,
    PodNameToReplicaSetName,
    PodNameToReplicaSetId,
    ServiceIdToServiceName,
    ServiceIdToClusterIp,
    ServiceNameToServiceId,
    ServiceNameToNamespace,
    ContainerIdToStatus,
    NamespaceNameToNamespaceId,
    HasServiceName,
    HasServiceId,
    /// Reverse DNS of an address (cached, bounded), else the address.
    Nslookup,
    /// The agent's id of the node in a upid (a stable 32-bit number).
    UpidToAsid,
    /// A pod's QoS class (behind `px.upid_to_pod_qos`).
    PodIdToQosClass,
    /// When a upid's process started (its host's boot time + its ticks).
    UpidToStartTs,
}

/// How a function is called.
pub struct MetaDef {
    pub func: MetaFn,
    /// Without `px.`.
    pub name: &'static str,
    pub args: &'static [DType],
    pub result: DType,
    /// Answers for a time: the compiler passes the row's `time_` as a last
    /// argument when the script does not (an IP resolves to the pod that
    /// held it then, not to whoever holds it now).
    pub at_time: bool,
}

use DType::{Boolean, Int64, String as S, Time};

const fn def(func: MetaFn, name: &'static str, args: &'static [DType], result: DType) -> MetaDef {
    MetaDef {
        func,
        name,
        args,
        result,
        at_time: false,
    }
}

/// Every metadata function, one line each.
pub const META_FNS: &[MetaDef] = &[
    MetaDef {
        at_time: true,
        ..def(MetaFn::IpToPodId, "ip_to_pod_id", &[S], S)
    },
    MetaDef {
        at_time: true,
        ..def(MetaFn::IpToServiceId, "ip_to_service_id", &[S], S)
    },
    def(MetaFn::PodIdToPodName, "pod_id_to_pod_name", &[S], S),
    def(MetaFn::PodIdToNamespace, "pod_id_to_namespace", &[S], S),
    def(MetaFn::PodIdToNodeName, "pod_id_to_node_name", &[S], S),
    def(
        MetaFn::PodIdToServiceName,
        "pod_id_to_service_name",
        &[S],
        S,
    ),
    def(MetaFn::PodIdToServiceId, "pod_id_to_service_id", &[S], S),
    def(
        MetaFn::PodIdToDeploymentName,
        "pod_id_to_deployment_name",
        &[S],
        S,
    ),
    def(
        MetaFn::PodIdToDeploymentId,
        "pod_id_to_deployment_id",
        &[S],
        S,
    ),
    def(
        MetaFn::PodIdToReplicaSetName,
        "pod_id_to_replicaset_name",
        &[S],
        S,
    ),
    def(
        MetaFn::PodIdToReplicaSetId,
        "pod_id_to_replicaset_id",
        &[S],
        S,
    ),
    def(MetaFn::PodIdToStartTime, "pod_id_to_start_time", &[S], Time),
    def(MetaFn::PodIdToStopTime, "pod_id_to_stop_time", &[S], Time),
    def(MetaFn::PodNameToPodId, "pod_name_to_pod_id", &[S], S),
    def(MetaFn::PodNameToNamespace, "pod_name_to_namespace", &[S], S),
    def(
        MetaFn::PodNameToStartTime,
        "pod_name_to_start_time",
        &[S],
        Time,
    ),
    def(
        MetaFn::PodNameToStopTime,
        "pod_name_to_stop_time",
        &[S],
        Time,
    ),
    def(MetaFn::PodNameToStatus, "pod_name_to_status", &[S], S),
    def(MetaFn::PodNameToPodIp, "pod_name_to_pod_ip", &[S], S),
    def(
        MetaFn::PodNameToServiceName,
        "pod_name_to_service_name",
        &[S],
        S,
    ),
    def(
        MetaFn::PodNameToServiceId,
        "pod_name_to_service_id",
        &[S],
        S,
    ),
    def(
        MetaFn::PodNameToDeploymentName,
        "pod_name_to_deployment_name",
        &[S],
        S,
    ),
    def(
        MetaFn::PodNameToDeploymentId,
        "pod_name_to_deployment_id",
        &[S],
        S,
    ),
    def(
        MetaFn::PodNameToReplicaSetName,
        "pod_name_to_replicaset_name",
        &[S],
        S,
    ),
    def(
        MetaFn::PodNameToReplicaSetId,
        "pod_name_to_replicaset_id",
        &[S],
        S,
    ),
    def(
        MetaFn::ServiceIdToServiceName,
        "service_id_to_service_name",
        &[S],
        S,
    ),
    def(
        MetaFn::ServiceIdToClusterIp,
        "service_id_to_cluster_ip",
        &[S],
        S,
    ),
    def(
        MetaFn::ServiceNameToServiceId,
        "service_name_to_service_id",
        &[S],
        S,
    ),
    def(
        MetaFn::ServiceNameToNamespace,
        "service_name_to_namespace",
        &[S],
        S,
    ),
    def(
        MetaFn::ContainerIdToStatus,
        "container_id_to_status",
        &[S],
        S,
    ),
    def(
        MetaFn::NamespaceNameToNamespaceId,
        "namespace_name_to_namespace_id",
        &[S],
        S,
    ),
    def(MetaFn::HasServiceName, "has_service_name", &[S, S], Boolean),
    def(MetaFn::HasServiceId, "has_service_id", &[S, S], Boolean),
    def(MetaFn::Nslookup, "nslookup", &[S], S),
    def(MetaFn::UpidToAsid, "upid_to_asid", &[S], Int64),
    def(MetaFn::PodIdToQosClass, "_pod_id_to_qos_class", &[S], S),
    def(MetaFn::UpidToStartTs, "_upid_to_start_ts", &[S], Time),
];

impl MetaFn {
    pub fn def(self) -> &'static MetaDef {
        META_FNS
            .iter()
            .find(|d| d.func == self)
            .expect("every MetaFn has a registry line")
    }

    /// The function called `name` (without `px.`).
    pub fn lookup(name: &str) -> Option<&'static MetaDef> {
        META_FNS.iter().find(|d| d.name == name)
    }

    /// The PxL spelling, for messages.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// The result type for these argument types, or why they do not fit.
    /// A time function also takes the time as a last `TIME` argument.
    pub fn result(self, args: &[DType]) -> Result<DType, String> {
        let d = self.def();
        let with_time = d.at_time && args.len() == d.args.len() + 1;
        // ... and the connection's port and the row's upid (plain hosts).
        let with_port = d.at_time && args.len() == d.args.len() + 3;
        if with_port
            && (args[d.args.len() + 1] != DType::Int64 || args[d.args.len() + 2] != DType::String)
        {
            return Err(format!(
                "px.{} takes (address, time, port, upid) in its long form",
                d.name
            ));
        }
        let with_time = with_time || with_port;
        if args.len() != d.args.len() && !with_time {
            return Err(format!(
                "px.{} takes {} argument{}, got {}",
                d.name,
                d.args.len(),
                if d.args.len() == 1 { "" } else { "s" },
                args.len()
            ));
        }
        for (i, (got, want)) in args.iter().zip(d.args).enumerate() {
            if got != want {
                return Err(format!(
                    "argument {} of px.{} must be {want}, got {got}",
                    i + 1,
                    d.name
                ));
            }
        }
        if with_time && !matches!(args[d.args.len()], DType::Time | DType::Int64) {
            return Err(format!(
                "argument {} of px.{} is a time, got {}",
                d.args.len() + 1,
                d.name,
                args[d.args.len()]
            ));
        }
        Ok(d.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_one_line_and_one_name() {
        let mut names: Vec<&str> = META_FNS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a name registered twice");
        for d in META_FNS {
            assert_eq!(d.func.def().name, d.name);
            assert_eq!(MetaFn::lookup(d.name).map(|x| x.func), Some(d.func));
        }
    }

    #[test]
    fn a_time_function_takes_the_time_last() {
        assert_eq!(MetaFn::IpToPodId.result(&[S]), Ok(S));
        assert_eq!(MetaFn::IpToPodId.result(&[S, Time]), Ok(S));
        assert!(MetaFn::IpToPodId.result(&[S, S]).is_err());
        assert_eq!(MetaFn::IpToPodId.result(&[S, Time, Int64, S]), Ok(S));
        assert!(MetaFn::IpToPodId.result(&[S, Time, S, S]).is_err());
        assert!(MetaFn::PodIdToPodName.result(&[S, Time]).is_err());
        assert!(MetaFn::HasServiceName.result(&[S]).is_err());
    }
}
