//! Values of the cluster a query runs in: Pixie's `px.vizier_name()` and
//! `px.vizier_id()`, which its export scripts put in every resource. No
//! agent knows them: the planner that runs the plan binds them to its
//! `--cluster-name` and the id derived from it
//! ([`crate::plan::Plan::bind_planner_values`]) before anything runs.

use super::datum::*;
use super::{FuncDef, Runs, Sig, sig};
use crate::plan::DType::String as S;

const fn f(name: &'static str, sigs: &'static [Sig], doc: &'static str) -> FuncDef {
    FuncDef::new(name, sigs, unbound, doc).runs(Runs::Planner)
}

pub const FUNCS: &[FuncDef] = &[
    f(
        "vizier_name",
        &[sig(&[], S)],
        "The cluster's name: its planners' --cluster-name ($LOUPE_CLUSTER_NAME; default \"loupe\").",
    ),
    f(
        "vizier_id",
        &[sig(&[], S)],
        "The cluster's id: a UUID derived from its name, the same on every planner.",
    ),
    f(
        "vizier_namespace",
        &[sig(&[], S)],
        "The namespace Loupe runs in: the planner's $POD_NAMESPACE, else \"\".",
    ),
];

/// Bound by the planner before a plan runs; reaching here is a plan that
/// skipped the planner.
fn unbound(_: &[Datum], _: usize) -> FResult {
    Err("the cluster's name and id are bound by the planner before a query runs".into())
}
