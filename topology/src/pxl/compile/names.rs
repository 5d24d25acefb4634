//! The names the compiler knows: `px.` functions, metadata of processes,
//! `df.ctx` keys, column aliases, time units; and "did you mean".

use crate::plan::{DType, MetaFn, Sem};

pub(super) const FRAME_METHODS: &[&str] = &[
    "groupby",
    "agg",
    "sort",
    "sort_values",
    "head",
    "merge",
    "append",
    "drop",
    "rename",
];

/// `px.` names that are not library functions: frames, displays, times,
/// aggregates.
pub(super) const PX_FUNCS: &[&str] = &[
    "DataFrame",
    "display",
    "debug",
    "equals_any",
    "script_reference",
    "parse_time",
    "Percent",
    "Bytes",
    "Time",
    "Service",
    "Pod",
    "Node",
    "Namespace",
    "Container",
    "export",
    "now",
    "DurationNanos",
    "seconds",
    "minutes",
    "hours",
    "days",
    "milliseconds",
    "microseconds",
    "count",
    "sum",
    "mean",
    "min",
    "max",
    "any",
    "count_distinct",
    "quantiles",
    "otel",
    "plugin",
];

/// `px.upid_to_*(df.upid)`: what each reads of the row's process.
pub(super) enum OfUpid {
    /// A metadata column derived from the upid when the table is read.
    Column(&'static str),
    /// A metadata function of the process's pod id.
    OfPodId(MetaFn),
    /// A metadata function of the process's pod name.
    OfPodName(MetaFn),
    /// A metadata function of the upid itself.
    Upid(MetaFn),
    /// The upid as a string.
    Itself,
}

pub(super) const UPID_FNS: &[(&str, OfUpid)] = &[
    ("upid_to_pod_name", OfUpid::Column("pod")),
    ("upid_to_pod_id", OfUpid::Column("pod_id")),
    ("upid_to_service_name", OfUpid::Column("service")),
    (
        "upid_to_service_id",
        OfUpid::OfPodId(MetaFn::PodIdToServiceId),
    ),
    ("upid_to_namespace", OfUpid::Column("namespace")),
    ("upid_to_node_name", OfUpid::Column("node")),
    ("upid_to_hostname", OfUpid::Column("node")),
    ("upid_to_container_name", OfUpid::Column("container")),
    ("upid_to_container_id", OfUpid::Column("container_id")),
    ("upid_to_cmdline", OfUpid::Column("cmdline")),
    ("upid_to_pid", OfUpid::Column("pid")),
    ("upid_to_deployment_name", OfUpid::Column("deployment")),
    (
        "upid_to_deployment_id",
        OfUpid::OfPodId(MetaFn::PodIdToDeploymentId),
    ),
    ("upid_to_replicaset_name", OfUpid::Column("replicaset")),
    (
        "upid_to_replicaset_id",
        OfUpid::OfPodId(MetaFn::PodIdToReplicaSetId),
    ),
    (
        "upid_to_pod_status",
        OfUpid::OfPodName(MetaFn::PodNameToStatus),
    ),
    ("upid_to_asid", OfUpid::Upid(MetaFn::UpidToAsid)),
    ("upid_to_start_ts", OfUpid::Upid(MetaFn::UpidToStartTs)),
    ("upid_to_string", OfUpid::Itself),
];

/// Pixie names Loupe does not answer yet: refused naming themselves.
pub(super) const NOT_YET: &[(&str, &str)] = &[
    ("upid_to_pod_qos", "pods' QoS classes are not collected yet"),
    ("pod_id_to_pod_labels", "pods' labels are not collected yet"),
    (
        "pod_id_to_owner_references",
        "owner references are not collected yet",
    ),
    (
        "pod_name_to_owner_references",
        "owner references are not collected yet",
    ),
    (
        "container_id_to_start_time",
        "container start times are not collected yet",
    ),
    (
        "container_id_to_stop_time",
        "container stop times are not collected yet",
    ),
    (
        "container_name_to_container_id",
        "a container name is not unique in a cluster: use df.ctx['container_id']",
    ),
    (
        "service_id_to_external_ips",
        "services' external IPs are not collected yet",
    ),
    (
        "redact_pii_best_effort",
        "Loupe redacts before storing: bodies keep only their size, secrets in headers, query strings and SQL literals are masked",
    ),
    ("amqp_method_name", "AMQP is not captured yet"),
    (
        "_exec_hostname",
        "a function of where it runs: use df.ctx['node']",
    ),
    (
        "_exec_host_num_cpus",
        "a function of where it runs: the node's CPUs are not collected yet",
    ),
    ("upid", "upids are built by the agents, not by scripts"),
    ("asid", "use px.upid_to_asid(df.upid)"),
    ("make_upid", "upids are built by the agents, not by scripts"),
    ("uint128", "Loupe has no UINT128 values: upids are strings"),
    (
        "strptime",
        "absolute times: use px.parse_time('2020-03-12 19:39:59 -0200')",
    ),
    ("sample", "the sample aggregate is not done yet: use px.any"),
    ("pprof", "CPU profiles are not captured yet"),
    ("_match_regex_rule", "not done yet"),
    ("_match_endpoint", "not done yet"),
    ("_predict_request_path_cluster", "not done yet"),
    ("_build_request_path_clusters", "not done yet"),
    ("GetCronScriptHistory", "scheduled scripts are not done yet"),
    (
        "GetProfilerSamplingPeriodMS",
        "CPU profiles are not captured yet",
    ),
    (
        "GetLinuxHeadersStatus",
        "eBPF with BTF needs no kernel headers: see `loupe check`",
    ),
    (
        "_HeapGrowthStacks",
        "it reports tcmalloc's heap profile of Pixie's agent; Loupe's agents report their memory in `loupe nodes`",
    ),
    (
        "get_cidrs",
        "the cluster's CIDR ranges are not collected yet",
    ),
];

/// Pixie's argument types of scripts' functions (`def f(ns: px.Namespace)`).
pub(super) const PX_ARG_TYPES: &[&str] = &["Namespace", "Pod", "Service", "Node", "Container"];

/// Whether `px.<name>` names a function, of any registry.
pub(super) fn is_px_func(name: &str) -> bool {
    PX_FUNCS.contains(&name)
        || crate::funcs::LibFn::lookup(name).is_some()
        || crate::plan::TableFn::lookup(name).is_some()
        || MetaFn::lookup(name).is_some()
        || UPID_FNS.iter().any(|(n, _)| *n == name)
        || NOT_YET.iter().any(|(n, _)| *n == name)
}

/// Every `px.` function name, for "did you mean".
pub(super) fn px_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = PX_FUNCS.to_vec();
    v.extend(crate::funcs::LIBRARY.iter().map(|d| d.name));
    v.extend(crate::plan::TABLE_FNS.iter().map(|d| d.name));
    v.extend(crate::plan::META_FNS.iter().map(|d| d.name));
    v.extend(UPID_FNS.iter().map(|(n, _)| *n));
    v
}

/// Other names of columns (TABLES.md).
pub(super) const COLUMN_ALIASES: &[(&str, &str)] = &[
    ("latency", "resp_latency"),
    ("req", "req_body"),
    ("resp", "resp_body"),
];

/// `df.ctx[...]` keys and the columns they read.
pub(super) const CTX_KEYS: &[(&str, &str)] = &[
    ("pod", "pod"),
    ("pod_name", "pod"),
    ("pod_id", "pod_id"),
    ("service", "service"),
    ("service_name", "service"),
    ("namespace", "namespace"),
    ("namespace_name", "namespace"),
    ("node", "node"),
    ("node_name", "node"),
    ("hostname", "node"),
    ("container", "container"),
    ("container_name", "container"),
    ("container_id", "container_id"),
    ("deployment", "deployment"),
    ("deployment_name", "deployment"),
    ("replicaset", "replicaset"),
    ("replicaset_name", "replicaset"),
    ("pid", "pid"),
    ("cmd", "cmdline"),
    ("cmdline", "cmdline"),
    ("upid", "upid"),
];

/// Other `ctx[...]` keys of Pixie's: metadata functions of the row's pod.
pub(super) const CTX_OF_POD: &[(&str, MetaFn)] = &[
    ("service_id", MetaFn::PodIdToServiceId),
    ("deployment_id", MetaFn::PodIdToDeploymentId),
    ("replicaset_id", MetaFn::PodIdToReplicaSetId),
];

/// `'-5m'`, `'-1h30m'`, `'-30s'`, `'-2d'` as ns relative to now.
pub fn parse_relative(s: &str) -> Option<i64> {
    crate::funcs::time::parse_duration(s)
}

/// `; did you mean "x"?` when a known name is close.
pub(super) fn did_you_mean(name: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < name.len().max(1))
        .min();
    match best {
        Some((_, k)) => format!(" (did you mean {k:?}?)"),
        None => String::new(),
    }
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Pixie's semantic type casts: `px.Percent(df.x)` is `df.x`, checked to be
/// of the type the semantic type is of.
pub(super) const SEM_CASTS: &[(&str, DType, Sem)] = &[
    ("Percent", DType::Float64, Sem::Percent),
    ("Bytes", DType::Int64, Sem::Bytes),
    ("DurationNanos", DType::Int64, Sem::DurationNs),
    ("Time", DType::Time, Sem::None),
    ("Service", DType::String, Sem::None),
    ("Pod", DType::String, Sem::None),
    ("Node", DType::String, Sem::None),
    ("Namespace", DType::String, Sem::None),
    ("Container", DType::String, Sem::None),
];

/// `'2020-03-12 19:39:59 -0200'` (Pixie's absolute time format), or RFC
/// 3339, as ns since the epoch.
pub(super) fn parse_absolute(s: &str) -> Option<i64> {
    let s = s.trim();
    // The offset, if any, at the end: `+hhmm` or `-hhmm`.
    let (body, offset_s) = match s.rsplit_once(' ') {
        Some((b, o))
            if o.len() == 5
                && (o.starts_with('+') || o.starts_with('-'))
                && o[1..].bytes().all(|c| c.is_ascii_digit()) =>
        {
            let h: i64 = o[1..3].parse().ok()?;
            let m: i64 = o[3..5].parse().ok()?;
            let sign = if o.starts_with('-') { -1 } else { 1 };
            (b, sign * (h * 3600 + m * 60))
        }
        _ => (s, 0),
    };
    let body = body.trim().replace(' ', "T");
    let t = humantime::parse_rfc3339_weak(&body).ok()?;
    let ns = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos() as i64;
    Some(ns - offset_s * 1_000_000_000)
}

/// The prefix of columns a DataFrame keeps for `df.ctx` without showing
/// them: a process's metadata beside `upid` after `select=[...]` or a
/// `groupby` by upid (functions of the upid, so the groups are the same).
pub(super) const HIDDEN: &str = "__meta_";
