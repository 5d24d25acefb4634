//! PxL to a logical plan. The script is run symbolically, statement by
//! statement, as Python would: names bind to values (DataFrames, column
//! expressions, literals, functions); DataFrame operations add plan nodes;
//! `px.display` adds a sink. Every value knows the span it came from, so
//! every error names the line and column of the construct at fault.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::ast::{self, BinOpKind, BoolKind, CmpKind, ExprKind, Keyword, Stmt, UnaryKind};
use super::error::{CompileError, Span};
use crate::plan::{
    AggFunc, AggMode, AggSpec, BinOp, DType, Expr, Func, JoinHow, MetaFn, NodeId, Op, Plan, Scalar,
    Sink, SortKey,
};

/// How to compile: the file name for messages, the time relative times are
/// taken from, and `--arg name=value` pairs for the script's functions.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub file: String,
    pub now_ns: i64,
    pub args: Vec<(String, String)>,
}

type R<T> = Result<T, CompileError>;

#[derive(Clone, Debug)]
enum Value {
    Px,
    /// `px.<name>`, not called yet.
    PxAttr(String),
    Frame(NodeId),
    GroupBy(NodeId, Vec<String>),
    /// `df.ctx`
    Ctx(NodeId),
    /// A per-row expression over one DataFrame.
    Col {
        frame: NodeId,
        expr: Expr,
        dtype: DType,
    },
    Lit(Scalar),
    None,
    List(Vec<(Value, Span)>),
    Tuple(Vec<(Value, Span)>),
    Dict(Vec<(Value, Span, Value)>),
    Agg(AggFunc),
    Lambda(Rc<(Vec<String>, ast::Expr)>),
    Def(Rc<ast::Def>),
    Method(Box<Value>, String),
    /// Inside a lambda aggregate: an expression over aggregate results.
    AggExpr {
        expr: Expr,
        dtype: DType,
    },
}

impl Value {
    fn kind(&self) -> String {
        match self {
            Value::Px => "the px module".into(),
            Value::PxAttr(n) => format!("px.{n}"),
            Value::Frame(_) => "a DataFrame".into(),
            Value::GroupBy(..) => "a grouped DataFrame (call .agg(...))".into(),
            Value::Ctx(_) => "df.ctx".into(),
            Value::Col { dtype, .. } => format!("{} {dtype} column", article(*dtype)),
            Value::Lit(s) => format!("{} {} literal", article(s.dtype()), s.dtype()),
            Value::None => "None".into(),
            Value::List(_) => "a list".into(),
            Value::Tuple(_) => "a tuple".into(),
            Value::Dict(_) => "a dict".into(),
            Value::Agg(f) => format!("the aggregate {}", f.name()),
            Value::Lambda(_) => "a lambda".into(),
            Value::Def(d) => format!("the function {}", d.name),
            Value::Method(_, m) => format!("the method {m}"),
            Value::AggExpr { dtype, .. } => format!("an aggregate result ({dtype})"),
        }
    }
}

fn article(t: DType) -> &'static str {
    if t == DType::Int64 { "an" } else { "a" }
}

/// The state of a lambda aggregate being lowered: its per-row inputs
/// (computed before the Aggregate) and its aggregates.
struct LambdaCtx {
    frame: NodeId,
    pre: Vec<(String, Expr)>,
    aggs: Vec<AggSpec>,
}

struct Args {
    /// Positional arguments; `None` once taken.
    pos: Vec<Option<(Value, Span)>>,
    kw: Vec<(String, Value, Span)>,
    span: Span,
}

impl Args {
    /// The argument at position `i` or named `name`.
    fn get(&mut self, i: usize, name: &str) -> Option<(Value, Span)> {
        if let Some(k) = self.kw.iter().position(|(n, _, _)| n == name) {
            let (_, v, s) = self.kw.remove(k);
            return Some((v, s));
        }
        self.pos.get_mut(i).and_then(Option::take)
    }

    /// The positional arguments not taken yet.
    fn rest(&mut self) -> Vec<(Value, Span)> {
        self.pos.iter_mut().filter_map(Option::take).collect()
    }
}

/// Time units of relative time strings and `px.<unit>(n)`, in ns.
const UNITS: &[(&str, i64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

const FRAME_METHODS: &[&str] = &[
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

const PX_FUNCS: &[&str] = &[
    "DataFrame",
    "display",
    "export",
    "now",
    "DurationNanos",
    "seconds",
    "minutes",
    "hours",
    "days",
    "milliseconds",
    "microseconds",
    "contains",
    "substring",
    "length",
    "replace",
    "select",
    "int64",
    "float64",
    "string",
    "abs",
    "round",
    "floor",
    "ceil",
    "bin",
    "format_duration",
    "normalize_sql",
    "normalize_pgsql",
    "normalize_mysql",
    "normalize_path",
    "pluck",
    "pluck_int64",
    "pluck_float64",
    "count",
    "sum",
    "mean",
    "min",
    "max",
    "any",
    "count_distinct",
    "quantiles",
    "otel",
];

/// `px.upid_to_*(df.upid)`: what each reads of the row's process.
enum OfUpid {
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

const UPID_FNS: &[(&str, OfUpid)] = &[
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
const NOT_YET: &[(&str, &str)] = &[
    (
        "upid_to_start_ts",
        "the process start time is not kept per upid yet",
    ),
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
        "get_cidrs",
        "the cluster's CIDR ranges are not collected yet",
    ),
];

/// Pixie's argument types of scripts' functions (`def f(ns: px.Namespace)`).
const PX_ARG_TYPES: &[&str] = &["Namespace", "Pod", "Service", "Node", "Container"];

/// Whether `px.<name>` names a function, of any registry.
fn is_px_func(name: &str) -> bool {
    PX_FUNCS.contains(&name)
        || MetaFn::lookup(name).is_some()
        || UPID_FNS.iter().any(|(n, _)| *n == name)
        || NOT_YET.iter().any(|(n, _)| *n == name)
}

/// Every `px.` function name, for "did you mean".
fn px_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = PX_FUNCS.to_vec();
    v.extend(crate::plan::META_FNS.iter().map(|d| d.name));
    v.extend(UPID_FNS.iter().map(|(n, _)| *n));
    v
}

/// Other names of columns (TABLES.md).
const COLUMN_ALIASES: &[(&str, &str)] = &[
    ("latency", "resp_latency"),
    ("req", "req_body"),
    ("resp", "resp_body"),
];

/// `df.ctx[...]` keys and the columns they read.
const CTX_KEYS: &[(&str, &str)] = &[
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
const CTX_OF_POD: &[(&str, MetaFn)] = &[
    ("service_id", MetaFn::PodIdToServiceId),
    ("deployment_id", MetaFn::PodIdToDeploymentId),
    ("replicaset_id", MetaFn::PodIdToReplicaSetId),
];

pub(super) struct Compiler<'s> {
    src: &'s str,
    opts: &'s Options,
    plan: Plan,
    scopes: Vec<HashMap<String, Value>>,
    px_name: Option<String>,
    lambda: Option<LambdaCtx>,
    tmp: usize,
    /// Parameters of top-level functions, for `--arg`.
    params: Vec<String>,
    depth: usize,
}

impl<'s> Compiler<'s> {
    pub(super) fn new(src: &'s str, opts: &'s Options) -> Self {
        Compiler {
            src,
            opts,
            plan: Plan::default(),
            scopes: vec![HashMap::new()],
            px_name: None,
            lambda: None,
            tmp: 0,
            params: Vec::new(),
            depth: 0,
        }
    }

    fn err(&self, span: Span, msg: impl Into<String>) -> CompileError {
        CompileError::at(&self.opts.file, self.src, span, msg)
    }

    fn add(&mut self, op: Op, span: Span) -> R<NodeId> {
        // The limits every receiver checks (Plan::check) hold here first,
        // with the script's position.
        op.check_values().map_err(|m| self.err(span, m))?;
        self.plan.add(op).map_err(|m| self.err(span, m))
    }

    pub(super) fn run(mut self, module: &[Stmt]) -> R<Plan> {
        let defs: Vec<&ast::Def> = module
            .iter()
            .filter_map(|s| match s {
                Stmt::Def(d) => Some(d.as_ref()),
                _ => None,
            })
            .collect();
        self.params = defs
            .iter()
            .flat_map(|d| d.params.iter().map(|p| p.name.clone()))
            .collect();
        for (k, _) in &self.opts.args {
            if !self.params.contains(k) {
                let msg = if self.params.is_empty() {
                    format!("--arg {k}: this script has no function parameters to fill")
                } else {
                    format!(
                        "--arg {k}: no function parameter is named {k:?}; parameters: {}",
                        self.params.join(", ")
                    )
                };
                return Err(self.err(Span::default(), msg));
            }
        }
        self.block(module)?;
        if self.plan.sinks.is_empty() {
            // A script of one function (Pixie's vis scripts): call it and
            // display what it returns.
            if let [d] = defs.as_slice() {
                let v = self.call_def(
                    Rc::new((*d).clone()),
                    Args {
                        pos: vec![],
                        kw: vec![],
                        span: d.span,
                    },
                )?;
                match v {
                    Value::Frame(f) => self.plan.sinks.push(Sink {
                        name: d.name.clone(),
                        input: f,
                    }),
                    other => {
                        return Err(self.err(
                            d.span,
                            format!(
                                "the script displays nothing, and {} returns {}, not a DataFrame",
                                d.name,
                                other.kind()
                            ),
                        ));
                    }
                }
            } else {
                let end = self.src.trim_end().len();
                return Err(self.err(
                    Span {
                        start: end.saturating_sub(1),
                        end,
                    },
                    "the script displays nothing: add px.display(df, 'name')",
                ));
            }
        }
        Ok(self.plan)
    }

    /// Runs statements; `Some` when a `return` ran.
    fn block(&mut self, stmts: &[Stmt]) -> R<Option<Value>> {
        for s in stmts {
            match s {
                Stmt::Import {
                    module,
                    alias,
                    span,
                } => {
                    if module != "px" {
                        return Err(self.err(
                            *span,
                            format!("no module named {module:?}: PxL has `import px`"),
                        ));
                    }
                    let name = alias.clone().unwrap_or_else(|| "px".into());
                    self.px_name = Some(name.clone());
                    self.set(name, Value::Px);
                }
                Stmt::Assign { target, value } => {
                    let v = self.eval(value)?;
                    self.assign(target, v, value.span)?;
                }
                Stmt::Expr(e) => {
                    if !matches!(e.kind, ExprKind::Str(_)) {
                        self.eval(e)?;
                    }
                }
                Stmt::Def(d) => {
                    let name = d.name.clone();
                    self.set(name, Value::Def(Rc::new((**d).clone())));
                }
                Stmt::Return { value, .. } => {
                    return Ok(Some(match value {
                        Some(v) => self.eval(v)?,
                        None => Value::None,
                    }));
                }
                Stmt::Pass => {}
            }
        }
        Ok(None)
    }

    fn set(&mut self, name: String, v: Value) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name, v);
        }
    }

    fn lookup(&self, name: &str) -> Option<Value> {
        let top = self.scopes.last()?;
        if let Some(v) = top.get(name) {
            return Some(v.clone());
        }
        self.scopes.first()?.get(name).cloned()
    }

    fn assign(&mut self, target: &ast::Expr, v: Value, vspan: Span) -> R<()> {
        match &target.kind {
            ExprKind::Name(n) => {
                self.set(n.clone(), v);
                Ok(())
            }
            ExprKind::Attr(obj, attr, aspan) => self.assign_column(obj, attr, *aspan, v, vspan),
            ExprKind::Subscript(obj, key) => match &key.kind {
                ExprKind::Str(k) => self.assign_column(obj, k, key.span, v, vspan),
                _ => Err(self.err(key.span, "assign a column by name: df['name'] = ...")),
            },
            _ => Err(self.err(target.span, "cannot assign to this")),
        }
    }

    /// `df.name = v`: a new DataFrame with the column added or replaced,
    /// bound to the same variable.
    fn assign_column(
        &mut self,
        obj: &ast::Expr,
        name: &str,
        nspan: Span,
        v: Value,
        vspan: Span,
    ) -> R<()> {
        let ExprKind::Name(var) = &obj.kind else {
            return Err(self.err(
                obj.span,
                "assign columns on a DataFrame variable: df.x = ...",
            ));
        };
        let Value::Frame(frame) = self.eval(obj)? else {
            return Err(self.err(obj.span, format!("{var} is not a DataFrame")));
        };
        if FRAME_METHODS.contains(&name) || name == "ctx" {
            return Err(self.err(
                nspan,
                format!("{name:?} is a DataFrame method: use df['{name}'] = ... for a column of that name"),
            ));
        }
        let e = self.row_expr(frame, v, vspan)?;
        let mut exprs = self.plan.passthrough(frame);
        match exprs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = e,
            None => exprs.push((name.to_string(), e)),
        }
        let id = self.add(
            Op::Map {
                input: frame,
                exprs,
            },
            vspan,
        )?;
        self.set(var.clone(), Value::Frame(id));
        Ok(())
    }

    /// A value as a per-row expression over `frame`.
    fn row_expr(&self, frame: NodeId, v: Value, span: Span) -> R<Expr> {
        match v {
            Value::Col { frame: f, expr, .. } if f == frame => Ok(expr),
            Value::Col { .. } => Err(self.err(
                span,
                "this column belongs to another DataFrame: columns can only be combined within one DataFrame (merge the two first)",
            )),
            Value::Lit(s) => Ok(Expr::Lit(s)),
            other => Err(self.err(
                span,
                format!("expected a column expression, got {}", other.kind()),
            )),
        }
    }

    fn eval(&mut self, e: &ast::Expr) -> R<Value> {
        let span = e.span;
        Ok(match &e.kind {
            ExprKind::Name(n) => match self.lookup(n) {
                Some(v) => v,
                None => {
                    let hint = if n == "px" {
                        ": add `import px` at the top".to_string()
                    } else if [
                        "len", "int", "str", "float", "print", "range", "sum", "min", "max",
                    ]
                    .contains(&n.as_str())
                    {
                        format!(": PxL does not have Python's builtin {n}()")
                    } else {
                        String::new()
                    };
                    return Err(self.err(span, format!("name {n:?} is not defined{hint}")));
                }
            },
            ExprKind::Str(s) => Value::Lit(Scalar::String(s.clone())),
            ExprKind::Int(i) => Value::Lit(Scalar::Int64(*i)),
            ExprKind::Float(f) => Value::Lit(Scalar::Float64(*f)),
            ExprKind::Bool(b) => Value::Lit(Scalar::Boolean(*b)),
            ExprKind::None => Value::None,
            ExprKind::List(items) | ExprKind::Tuple(items) => {
                let mut vs = Vec::new();
                for it in items {
                    vs.push((self.eval(it)?, it.span));
                }
                if matches!(e.kind, ExprKind::List(_)) {
                    Value::List(vs)
                } else {
                    Value::Tuple(vs)
                }
            }
            ExprKind::Dict(items) => {
                let mut vs = Vec::new();
                for (k, v) in items {
                    vs.push((self.eval(k)?, k.span, self.eval(v)?));
                }
                Value::Dict(vs)
            }
            ExprKind::Lambda { params, body } => {
                Value::Lambda(Rc::new((params.clone(), (**body).clone())))
            }
            ExprKind::Attr(obj, attr, aspan) => {
                let v = self.eval(obj)?;
                self.attr(v, attr, *aspan, obj.span)?
            }
            ExprKind::Subscript(obj, key) => {
                let v = self.eval(obj)?;
                let k = self.eval(key)?;
                self.subscript(v, obj.span, k, key.span)?
            }
            ExprKind::Call { func, args, kwargs } => {
                let f = self.eval(func)?;
                if matches!(&f, Value::PxAttr(n) if n == "export") {
                    return Err(self.err(
                        func.span,
                        "px.export is not yet supported by Loupe: display the table with px.display(df, 'name')",
                    ));
                }
                let args = self.eval_args(args, kwargs, span)?;
                self.call(f, func.span, args)?
            }
            ExprKind::Bin(op, l, r) => {
                let lv = self.eval(l)?;
                let rv = self.eval(r)?;
                let op = match op {
                    BinOpKind::Add => BinOp::Add,
                    BinOpKind::Sub => BinOp::Sub,
                    BinOpKind::Mul => BinOp::Mul,
                    BinOpKind::Div => BinOp::Div,
                    BinOpKind::Mod => BinOp::Mod,
                    BinOpKind::BitAnd => BinOp::And,
                    BinOpKind::BitOr => BinOp::Or,
                };
                self.binary(op, lv, rv, span)?
            }
            ExprKind::Unary(op, x) => {
                let v = self.eval(x)?;
                self.unary(*op, v, span)?
            }
            ExprKind::Compare(l, rest) => {
                let mut left = self.eval(l)?;
                let mut acc: Option<Value> = None;
                for (op, r) in rest {
                    let right = self.eval(r)?;
                    let op = match op {
                        CmpKind::Eq => BinOp::Eq,
                        CmpKind::Ne => BinOp::Ne,
                        CmpKind::Lt => BinOp::Lt,
                        CmpKind::Le => BinOp::Le,
                        CmpKind::Gt => BinOp::Gt,
                        CmpKind::Ge => BinOp::Ge,
                    };
                    let c = self.binary(op, left, right.clone(), span)?;
                    acc = Some(match acc {
                        None => c,
                        Some(a) => self.binary(BinOp::And, a, c, span)?,
                    });
                    left = right;
                }
                acc.unwrap_or(left)
            }
            ExprKind::BoolOp(op, values) => {
                let op = match op {
                    BoolKind::And => BinOp::And,
                    BoolKind::Or => BinOp::Or,
                };
                let mut acc: Option<Value> = None;
                for v in values {
                    let x = self.eval(v)?;
                    acc = Some(match acc {
                        None => x,
                        Some(a) => self.binary(op, a, x, span)?,
                    });
                }
                acc.unwrap_or(Value::None)
            }
        })
    }

    fn eval_args(&mut self, args: &[ast::Expr], kwargs: &[Keyword], span: Span) -> R<Args> {
        let mut pos = Vec::new();
        for a in args {
            pos.push(Some((self.eval(a)?, a.span)));
        }
        let mut kw = Vec::new();
        for k in kwargs {
            kw.push((k.name.clone(), self.eval(&k.value)?, k.value.span));
        }
        Ok(Args { pos, kw, span })
    }

    /// Fails if `args` has arguments the callee did not take.
    fn no_more(&self, args: &Args, callee: &str) -> R<()> {
        if let Some((n, _, s)) = args.kw.first() {
            return Err(self.err(*s, format!("{callee} has no argument named {n:?}")));
        }
        if let Some((_, s)) = args.pos.iter().flatten().next() {
            return Err(self.err(*s, format!("too many arguments to {callee}")));
        }
        Ok(())
    }

    fn attr(&mut self, v: Value, attr: &str, aspan: Span, ospan: Span) -> R<Value> {
        match v {
            Value::Px => {
                if is_px_func(attr) {
                    Ok(match attr {
                        "count" => Value::Agg(AggFunc::Count),
                        "sum" => Value::Agg(AggFunc::Sum),
                        "mean" => Value::Agg(AggFunc::Mean),
                        "min" => Value::Agg(AggFunc::Min),
                        "max" => Value::Agg(AggFunc::Max),
                        "any" => Value::Agg(AggFunc::Any),
                        "count_distinct" => Value::Agg(AggFunc::CountDistinct),
                        "quantiles" => Value::Agg(AggFunc::Quantiles),
                        _ => Value::PxAttr(attr.to_string()),
                    })
                } else {
                    Err(self.err(
                        aspan,
                        format!(
                            "unknown function px.{attr}{}",
                            did_you_mean(attr, &px_names())
                        ),
                    ))
                }
            }
            Value::PxAttr(p) if p == "otel" => Ok(Value::PxAttr(format!("otel.{attr}"))),
            Value::Frame(f) => {
                if attr == "ctx" {
                    Ok(Value::Ctx(f))
                } else if FRAME_METHODS.contains(&attr) {
                    Ok(Value::Method(Box::new(Value::Frame(f)), attr.to_string()))
                } else if self.plan.schema(f).get(attr).is_none()
                    && !did_you_mean(attr, FRAME_METHODS).is_empty()
                {
                    Err(self.err(
                        aspan,
                        format!(
                            "DataFrame has no column or method {attr:?}{}",
                            did_you_mean(attr, FRAME_METHODS)
                        ),
                    ))
                } else {
                    self.column(f, attr, aspan)
                }
            }
            Value::GroupBy(f, keys) => match attr {
                "agg" => Ok(Value::Method(
                    Box::new(Value::GroupBy(f, keys)),
                    "agg".into(),
                )),
                _ => Err(self.err(
                    aspan,
                    format!("a grouped DataFrame has only .agg(...), not .{attr}"),
                )),
            },
            col @ Value::Col { .. } => {
                let Value::Col { dtype, .. } = &col else {
                    unreachable!("matched Col")
                };
                match (attr, dtype) {
                    ("str", DType::String) => Ok(col),
                    ("contains" | "startswith" | "endswith" | "lower" | "upper", DType::String) => {
                        Ok(Value::Method(Box::new(col), attr.to_string()))
                    }
                    _ => Err(self.err(aspan, format!("a {dtype} column has no attribute .{attr}"))),
                }
            }
            other => Err(self.err(ospan, format!("{} has no attribute .{attr}", other.kind()))),
        }
    }

    /// The name `name` resolves to in `frame` (itself, or what it is an alias of).
    fn col_name(&self, frame: NodeId, name: &str, span: Span) -> R<String> {
        match self.column(frame, name, span)? {
            Value::Col {
                expr: Expr::Col(c), ..
            } => Ok(c),
            _ => Err(self.err(span, "internal: column lookup")),
        }
    }

    /// Column `name` of `frame`, or an error listing the columns there are.
    fn column(&self, frame: NodeId, name: &str, span: Span) -> R<Value> {
        let s = self.plan.schema(frame);
        // Aliases of TABLES.md, where the frame has no column of that name.
        let name = match COLUMN_ALIASES.iter().find(|(a, _)| *a == name) {
            Some((_, real)) if s.get(name).is_none() && s.get(real).is_some() => real,
            _ => name,
        };
        match s.get(name) {
            Some(f) => Ok(Value::Col {
                frame,
                expr: Expr::Col(name.to_string()),
                dtype: f.dtype,
            }),
            None => {
                let names = s.names();
                Err(self.err(
                    span,
                    format!(
                        "unknown column {name:?}{}; columns: {}",
                        did_you_mean(name, &names),
                        names.join(", ")
                    ),
                ))
            }
        }
    }

    fn string_list(&self, v: Value, span: Span, what: &str) -> R<Vec<(String, Span)>> {
        match v {
            Value::Lit(Scalar::String(s)) => Ok(vec![(s, span)]),
            Value::List(items) | Value::Tuple(items) => items
                .into_iter()
                .map(|(v, s)| match v {
                    Value::Lit(Scalar::String(x)) => Ok((x, s)),
                    other => Err(self.err(
                        s,
                        format!("{what}: expected a column name, got {}", other.kind()),
                    )),
                })
                .collect(),
            other => Err(self.err(
                span,
                format!(
                    "{what}: expected a column name or a list of names, got {}",
                    other.kind()
                ),
            )),
        }
    }

    fn subscript(&mut self, v: Value, ospan: Span, k: Value, kspan: Span) -> R<Value> {
        match v {
            Value::Frame(f) => match k {
                Value::Lit(Scalar::String(name)) => self.column(f, &name, kspan),
                Value::List(_) => {
                    let cols = self.string_list(k, kspan, "projection")?;
                    let mut exprs = Vec::new();
                    for (c, s) in cols {
                        let c = self.col_name(f, &c, s)?;
                        exprs.push((c.clone(), Expr::Col(c)));
                    }
                    Ok(Value::Frame(self.add(Op::Map { input: f, exprs }, kspan)?))
                }
                Value::Col {
                    frame,
                    expr,
                    dtype: DType::Boolean,
                } if frame == f => Ok(Value::Frame(self.add(
                    Op::Filter {
                        input: f,
                        predicate: expr,
                    },
                    kspan,
                )?)),
                Value::Col { frame, dtype, .. } if frame == f => Err(self.err(
                    kspan,
                    format!("a filter needs a BOOLEAN expression, got {dtype}"),
                )),
                Value::Col { .. } => Err(self.err(
                    kspan,
                    "this filter reads another DataFrame's columns: filter a DataFrame by its own columns",
                )),
                other => Err(self.err(
                    kspan,
                    format!(
                        "df[...] takes a column name, a list of names or a BOOLEAN expression, got {}",
                        other.kind()
                    ),
                )),
            },
            Value::Ctx(f) => match k {
                Value::Lit(Scalar::String(key)) => {
                    if let Some((_, func)) = CTX_OF_POD.iter().find(|(k, _)| *k == key) {
                        let pod_id = self.column(f, "pod_id", kspan)?;
                        return self.scalar_call(Func::Meta(*func), vec![(pod_id, kspan)], kspan);
                    }
                    let Some((_, col)) = CTX_KEYS.iter().find(|(k, _)| *k == key) else {
                        let keys: Vec<&str> = CTX_KEYS
                            .iter()
                            .map(|(k, _)| *k)
                            .chain(CTX_OF_POD.iter().map(|(k, _)| *k))
                            .collect();
                        return Err(self.err(
                            kspan,
                            format!(
                                "unknown metadata {key:?}{}; df.ctx has: {}",
                                did_you_mean(&key, &keys),
                                keys.join(", ")
                            ),
                        ));
                    };
                    self.column(f, col, kspan)
                }
                other => Err(self.err(
                    kspan,
                    format!("df.ctx[...] takes a name such as 'pod', got {}", other.kind()),
                )),
            },
            other => Err(self.err(ospan, format!("{} cannot be indexed", other.kind()))),
        }
    }

    fn unary(&mut self, op: UnaryKind, v: Value, span: Span) -> R<Value> {
        match (op, v) {
            (UnaryKind::Plus, v) => Ok(v),
            (UnaryKind::Neg, Value::Lit(Scalar::Int64(i))) => Ok(Value::Lit(Scalar::Int64(-i))),
            (UnaryKind::Neg, Value::Lit(Scalar::Float64(f))) => Ok(Value::Lit(Scalar::Float64(-f))),
            (UnaryKind::Not | UnaryKind::Invert, Value::Lit(Scalar::Boolean(b))) => {
                Ok(Value::Lit(Scalar::Boolean(!b)))
            }
            (op, Value::Col { frame, expr, .. }) => {
                let e = match op {
                    UnaryKind::Neg => Expr::Neg(Box::new(expr)),
                    _ => Expr::Not(Box::new(expr)),
                };
                e.check_shape().map_err(|m| self.err(span, m))?;
                let s = self.plan.schema(frame);
                let dtype = e.dtype(s).map_err(|m| self.err(span, m))?;
                Ok(Value::Col {
                    frame,
                    expr: e,
                    dtype,
                })
            }
            (op, Value::AggExpr { expr, dtype }) => {
                let e = match op {
                    UnaryKind::Neg if dtype.is_numeric() => Expr::Neg(Box::new(expr)),
                    UnaryKind::Not | UnaryKind::Invert if dtype == DType::Boolean => {
                        Expr::Not(Box::new(expr))
                    }
                    _ => return Err(self.err(span, format!("cannot negate {dtype}"))),
                };
                Ok(Value::AggExpr { expr: e, dtype })
            }
            (_, other) => Err(self.err(span, format!("cannot negate {}", other.kind()))),
        }
    }

    fn binary(&mut self, op: BinOp, l: Value, r: Value, span: Span) -> R<Value> {
        match (l, r) {
            (Value::Lit(a), Value::Lit(b)) => {
                fold(op, &a, &b).map(Value::Lit).map_err(|m| self.err(span, m))
            }
            (Value::Col { frame, expr, .. }, Value::Lit(b)) => {
                self.col_binary(frame, op, expr, Expr::Lit(b), span)
            }
            (Value::Lit(a), Value::Col { frame, expr, .. }) => {
                self.col_binary(frame, op, Expr::Lit(a), expr, span)
            }
            (Value::Col { frame: f1, expr: a, .. }, Value::Col { frame: f2, expr: b, .. }) => {
                if f1 != f2 {
                    return Err(self.err(
                        span,
                        "these columns belong to two different DataFrames: columns can only be combined within one DataFrame (merge the two first)",
                    ));
                }
                self.col_binary(f1, op, a, b, span)
            }
            (Value::AggExpr { expr: a, dtype: ta }, Value::AggExpr { expr: b, dtype: tb }) => {
                agg_binary(op, a, ta, b, tb).map_err(|m| self.err(span, m))
            }
            (Value::AggExpr { expr: a, dtype: ta }, Value::Lit(b)) => {
                let tb = b.dtype();
                agg_binary(op, a, ta, Expr::Lit(b), tb).map_err(|m| self.err(span, m))
            }
            (Value::Lit(a), Value::AggExpr { expr: b, dtype: tb }) => {
                let ta = a.dtype();
                agg_binary(op, Expr::Lit(a), ta, b, tb).map_err(|m| self.err(span, m))
            }
            (Value::Col { .. }, Value::AggExpr { .. }) | (Value::AggExpr { .. }, Value::Col { .. }) => {
                Err(self.err(
                    span,
                    "inside a lambda aggregate, combine aggregates (px.mean(s), px.sum(s), ...), not the column itself",
                ))
            }
            (a, b) => Err(self.err(
                span,
                format!("cannot apply {} to {} and {}", op.symbol(), a.kind(), b.kind()),
            )),
        }
    }

    fn col_binary(&mut self, frame: NodeId, op: BinOp, a: Expr, b: Expr, span: Span) -> R<Value> {
        let e = Expr::Binary(op, Box::new(a), Box::new(b));
        e.check_shape().map_err(|m| self.err(span, m))?;
        let dtype = e
            .dtype(self.plan.schema(frame))
            .map_err(|m| self.err(span, m))?;
        Ok(Value::Col {
            frame,
            expr: e,
            dtype,
        })
    }

    fn call(&mut self, f: Value, fspan: Span, mut args: Args) -> R<Value> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(self.err(fspan, "calls nest too deep (recursion?)"));
        }
        let out = match f {
            Value::PxAttr(name) => self.px_call(&name, fspan, &mut args),
            Value::Method(recv, m) => self.method(*recv, &m, fspan, &mut args),
            Value::Def(d) => self.call_def(d, args),
            Value::Agg(func) => self.agg_call(func, fspan, &mut args),
            other => Err(self.err(fspan, format!("{} is not callable", other.kind()))),
        };
        self.depth -= 1;
        out
    }

    fn call_def(&mut self, d: Rc<ast::Def>, mut args: Args) -> R<Value> {
        let mut scope = HashMap::new();
        let top_level = self.scopes.len() == 1;
        for (i, p) in d.params.iter().enumerate() {
            let given = args.get(i, &p.name);
            let from_cli = if top_level {
                self.opts.args.iter().rev().find(|(k, _)| k == &p.name)
            } else {
                None
            };
            let v = match (given, from_cli) {
                (Some((v, _)), _) => v,
                (None, Some((_, text))) => self.cli_arg(p, text)?,
                (None, None) => match &p.default {
                    Some(e) => self.eval(e)?,
                    None => {
                        return Err(self.err(
                            args.span,
                            format!(
                                "{}() needs argument {:?} (or --arg {}=...)",
                                d.name, p.name, p.name
                            ),
                        ));
                    }
                },
            };
            scope.insert(p.name.clone(), v);
        }
        self.no_more(&args, &d.name)?;
        self.scopes.push(scope);
        let out = self.block(&d.body);
        self.scopes.pop();
        Ok(out?.unwrap_or(Value::None))
    }

    /// `--arg name=text` as the parameter's annotated (or default's) type.
    fn cli_arg(&self, p: &ast::Param, text: &str) -> R<Value> {
        let ty = match &p.annotation {
            Some(ast::Expr {
                kind: ExprKind::Name(n),
                ..
            }) => n.clone(),
            // Pixie's argument types of metadata (`px.Namespace`, ...):
            // strings, `namespace/name` where the kind is namespaced.
            Some(ast::Expr {
                kind: ExprKind::Attr(_, n, _),
                ..
            }) if PX_ARG_TYPES.contains(&n.as_str()) => "str".into(),
            Some(a) => {
                return Err(self.err(
                    a.span,
                    format!(
                        "annotate parameters with str, int, float, bool or px.{}",
                        PX_ARG_TYPES.join(", px.")
                    ),
                ));
            }
            None => match p.default.as_ref().map(|d| &d.kind) {
                Some(ExprKind::Int(_)) => "int".into(),
                Some(ExprKind::Float(_)) => "float".into(),
                Some(ExprKind::Bool(_)) => "bool".into(),
                _ => "str".into(),
            },
        };
        let bad = |what: &str| {
            self.err(
                p.span,
                format!("--arg {}={text:?}: expected {what}", p.name),
            )
        };
        Ok(Value::Lit(match ty.as_str() {
            "int" => Scalar::Int64(text.parse().map_err(|_| bad("an integer"))?),
            "float" => Scalar::Float64(text.parse().map_err(|_| bad("a number"))?),
            "bool" => Scalar::Boolean(match text {
                "true" | "True" | "1" => true,
                "false" | "False" | "0" => false,
                _ => return Err(bad("true or false")),
            }),
            _ => Scalar::String(text.to_string()),
        }))
    }

    fn agg_call(&mut self, func: AggFunc, fspan: Span, args: &mut Args) -> R<Value> {
        // px.quantiles(0.99): the quantile as an aggregate function.
        if func == AggFunc::Quantiles
            && let [Some((Value::Lit(q), qs))] = args.pos.as_slice()
            && args.kw.is_empty()
        {
            let q = match q {
                Scalar::Float64(f) => *f,
                Scalar::Int64(i) => *i as f64,
                _ => return Err(self.err(*qs, "px.quantiles(q) takes a number between 0 and 1")),
            };
            if !(0.0..=1.0).contains(&q) {
                return Err(self.err(*qs, format!("quantile {q} is not between 0 and 1")));
            }
            return Ok(Value::Agg(AggFunc::Quantile(q)));
        }
        // Inside a lambda: the aggregate of a per-row expression.
        let Some(ctx_frame) = self.lambda.as_ref().map(|l| l.frame) else {
            return Err(self.err(
                fspan,
                format!(
                    "{} is an aggregate: use it in .agg(name=('column', {})) or inside a lambda there",
                    func.name(),
                    func.name()
                ),
            ));
        };
        let Some((v, vspan)) = args.get(0, "x") else {
            return Err(self.err(args.span, format!("{} takes one argument", func.name())));
        };
        self.no_more(args, func.name())?;
        let e = self.row_expr(ctx_frame, v, vspan)?;
        let t = e
            .dtype(self.plan.schema(ctx_frame))
            .map_err(|m| self.err(vspan, m))?;
        let out_t = func.result(t).map_err(|m| self.err(vspan, m))?;
        let n = self.tmp;
        self.tmp += 1;
        let agg_name = format!("__agg{n}");
        let Some(l) = self.lambda.as_mut() else {
            return Err(self.err(fspan, "internal: lambda context lost"));
        };
        let column = match &e {
            Expr::Col(c) => c.clone(),
            _ => {
                let c = format!("__in{n}");
                l.pre.push((c.clone(), e));
                c
            }
        };
        l.aggs.push(AggSpec {
            name: agg_name.clone(),
            func,
            column,
            input_type: t,
        });
        Ok(Value::AggExpr {
            expr: Expr::Col(agg_name),
            dtype: out_t,
        })
    }

    fn time_arg(&self, v: Value, span: Span) -> R<i64> {
        match v {
            Value::Lit(Scalar::String(s)) => parse_relative(&s)
                .map(|d| self.opts.now_ns.saturating_add(d))
                .ok_or_else(|| {
                    self.err(
                        span,
                        format!("cannot read {s:?} as a time: use a relative time such as '-5m', '-30s', '-2h', '-1d', or px.now() - px.minutes(5)"),
                    )
                }),
            Value::Lit(Scalar::Time(t)) => Ok(t),
            Value::Lit(Scalar::Int64(t)) => Ok(t),
            other => Err(self.err(
                span,
                format!("expected a time ('-5m', px.now(), ns since the epoch), got {}", other.kind()),
            )),
        }
    }

    fn px_call(&mut self, name: &str, fspan: Span, args: &mut Args) -> R<Value> {
        match name {
            "DataFrame" => {
                let Some((t, tspan)) = args.get(0, "table") else {
                    return Err(self.err(args.span, "px.DataFrame needs a table name"));
                };
                let Value::Lit(Scalar::String(table)) = t else {
                    return Err(self.err(tspan, format!("the table name must be a string, got {}", t.kind())));
                };
                let Some(schema) = crate::schema::table(&table) else {
                    return Err(self.err(
                        tspan,
                        format!(
                            "unknown table {table:?}{}; tables: {}",
                            did_you_mean(&table, crate::schema::TABLES),
                            crate::schema::TABLES.join(", ")
                        ),
                    ));
                };
                let all: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                let columns = match args.get(usize::MAX, "select") {
                    Some((v, s)) => {
                        let cols = self.string_list(v, s, "select")?;
                        let mut out = Vec::new();
                        for (c, cs) in cols {
                            if !all.contains(&c) {
                                let names: Vec<&str> = all.iter().map(String::as_str).collect();
                                return Err(self.err(
                                    cs,
                                    format!(
                                        "table {table} has no column {c:?}{}",
                                        did_you_mean(&c, &names)
                                    ),
                                ));
                            }
                            out.push(c);
                        }
                        out
                    }
                    None => all,
                };
                let start_ns = match args.get(usize::MAX, "start_time") {
                    Some((v, s)) => self.time_arg(v, s)?,
                    None => 0,
                };
                let end_ns = match args.get(usize::MAX, "end_time") {
                    Some((Value::None, _)) | None => None,
                    Some((v, s)) => Some(self.time_arg(v, s)?),
                };
                self.no_more(args, "px.DataFrame")?;
                let id = self.add(
                    Op::Source {
                        table,
                        start_ns,
                        end_ns,
                        columns,
                    },
                    args.span,
                )?;
                Ok(Value::Frame(id))
            }
            "display" => {
                let Some((v, vspan)) = args.get(0, "out") else {
                    return Err(self.err(args.span, "px.display needs a DataFrame"));
                };
                let Value::Frame(f) = v else {
                    return Err(self.err(vspan, format!("px.display needs a DataFrame, got {}", v.kind())));
                };
                let name = match args.get(1, "name") {
                    Some((Value::Lit(Scalar::String(n)), _)) => n,
                    Some((other, s)) => {
                        return Err(self.err(s, format!("the table name must be a string, got {}", other.kind())));
                    }
                    None => "output".to_string(),
                };
                self.no_more(args, "px.display")?;
                if self.plan.sinks.iter().any(|s| s.name == name) {
                    return Err(self.err(
                        args.span,
                        format!("a table named {name:?} is already displayed: give each px.display its own name"),
                    ));
                }
                self.plan.sinks.push(Sink { name, input: f });
                Ok(Value::None)
            }
            "export" => Err(self.err(
                fspan,
                "px.export is not yet supported by Loupe: display the table with px.display(df, 'name')",
            )),
            n if n.starts_with("otel") => Err(self.err(
                fspan,
                format!("px.{n} belongs to px.export, which is not yet supported by Loupe"),
            )),
            "now" => {
                self.no_more(args, "px.now")?;
                Ok(Value::Lit(Scalar::Time(self.opts.now_ns)))
            }
            "DurationNanos" | "seconds" | "minutes" | "hours" | "days" | "milliseconds"
            | "microseconds" => {
                let unit = match name {
                    "DurationNanos" => 1,
                    "microseconds" => 1_000,
                    "milliseconds" => 1_000_000,
                    "seconds" => 1_000_000_000,
                    "minutes" => 60_000_000_000,
                    "hours" => 3_600_000_000_000,
                    _ => 86_400_000_000_000,
                };
                let Some((v, s)) = args.get(0, "n") else {
                    return Err(self.err(args.span, format!("px.{name} takes a number")));
                };
                self.no_more(args, name)?;
                match v {
                    Value::Lit(Scalar::Int64(i)) => Ok(Value::Lit(Scalar::Int64(i.saturating_mul(unit)))),
                    Value::Lit(Scalar::Float64(f)) => Ok(Value::Lit(Scalar::Int64((f * unit as f64) as i64))),
                    Value::Col { frame, expr, dtype: DType::Int64 } => {
                        self.col_binary(frame, BinOp::Mul, expr, Expr::Lit(Scalar::Int64(unit)), s)
                    }
                    other => Err(self.err(s, format!("px.{name} takes a number, got {}", other.kind()))),
                }
            }
            n if UPID_FNS.iter().any(|(u, _)| *u == n) => {
                // Metadata of a process is derived from its upid when a
                // table is read: these read the derived columns, or call a
                // metadata function on them.
                let how = &UPID_FNS.iter().find(|(u, _)| *u == n).expect("found").1;
                let Some((v, s)) = args.get(0, "upid") else {
                    return Err(self.err(args.span, format!("px.{name} takes df.upid")));
                };
                self.no_more(args, name)?;
                let frame = match v {
                    Value::Col { frame, expr: Expr::Col(c), .. } if c == "upid" => frame,
                    _ => return Err(self.err(s, format!("px.{name} takes the upid column itself (df.upid)"))),
                };
                let call = |me: &mut Self, f: MetaFn, col: &str| -> R<Value> {
                    let arg = me.column(frame, col, s)?;
                    me.scalar_call(Func::Meta(f), vec![(arg, s)], s)
                };
                match how {
                    OfUpid::Column(c) => self.column(frame, c, s),
                    OfUpid::OfPodId(f) => call(self, *f, "pod_id"),
                    OfUpid::OfPodName(f) => call(self, *f, "pod"),
                    OfUpid::Upid(f) => call(self, *f, "upid"),
                    OfUpid::Itself => self.column(frame, "upid", s),
                }
            }
            n if NOT_YET.iter().any(|(u, _)| *u == n) => {
                let why = NOT_YET.iter().find(|(u, _)| *u == n).expect("found").1;
                Err(self.err(fspan, format!("px.{name} is not supported by Loupe yet: {why}")))
            }
            n if MetaFn::lookup(n).is_some() => {
                let def = MetaFn::lookup(n).expect("found");
                if !args.kw.is_empty() {
                    let (k, _, s) = &args.kw[0];
                    return Err(self.err(*s, format!("px.{name} takes positional arguments, not {k}=")));
                }
                let mut pos = args.rest();
                // At the row's time, unless the script gives one.
                if def.at_time && pos.len() == def.args.len() {
                    let frame = pos.iter().find_map(|(v, _)| match v {
                        Value::Col { frame, .. } => Some(*frame),
                        _ => None,
                    });
                    if let Some(frame) = frame
                        && self.plan.schema(frame).get("time_").is_some_and(|f| f.dtype == DType::Time)
                    {
                        pos.push((self.column(frame, "time_", fspan)?, fspan));
                    }
                }
                // A connection's remote address: on plain hosts, the
                // process listening there names it, which takes the port,
                // and the row's own node for a loopback address.
                if def.at_time
                    && pos.len() == def.args.len() + 1
                    && let Some((Value::Col { frame, expr: Expr::Col(c), .. }, _)) = pos.first()
                    && c == "remote_addr"
                {
                    let frame = *frame;
                    let s = self.plan.schema(frame);
                    if s.get("remote_port").is_some_and(|f| f.dtype == DType::Int64)
                        && s.get("upid").is_some()
                    {
                        pos.push((self.column(frame, "remote_port", fspan)?, fspan));
                        pos.push((self.column(frame, "upid", fspan)?, fspan));
                    }
                }
                self.scalar_call(Func::Meta(def.func), pos, args.span)
            }
            "count" | "sum" | "mean" | "min" | "max" | "any" | "count_distinct" | "quantiles" => {
                Err(self.err(fspan, "internal: aggregate reached px_call"))
            }
            _ => {
                let func = match name {
                    "contains" => Func::Contains,
                    "substring" => Func::Substring,
                    "length" => Func::Length,
                    "replace" => Func::Replace,
                    "select" => Func::Select,
                    "int64" => Func::ToInt64,
                    "float64" => Func::ToFloat64,
                    "string" => Func::ToString,
                    "abs" => Func::Abs,
                    "round" => Func::Round,
                    "floor" => Func::Floor,
                    "ceil" => Func::Ceil,
                    "bin" => Func::Bin,
                    "format_duration" => Func::FormatDuration,
                    "normalize_sql" | "normalize_pgsql" | "normalize_mysql" => Func::NormalizeSql,
                    "normalize_path" => Func::NormalizePath,
                    "pluck" => Func::Pluck,
                    "pluck_int64" => Func::PluckInt64,
                    "pluck_float64" => Func::PluckFloat64,
                    _ => {
                        return Err(self.err(
                            fspan,
                            format!("unknown function px.{name}{}", did_you_mean(name, &px_names())),
                        ));
                    }
                };
                if !args.kw.is_empty() {
                    let (n, _, s) = &args.kw[0];
                    return Err(self.err(*s, format!("px.{name} takes positional arguments, not {n}=")));
                }
                let pos = args.rest();
                self.scalar_call(func, pos, args.span)
            }
        }
    }

    /// A scalar function over per-row expressions of one DataFrame.
    fn scalar_call(&mut self, func: Func, args: Vec<(Value, Span)>, span: Span) -> R<Value> {
        let frame = args.iter().find_map(|(v, _)| match v {
            Value::Col { frame, .. } => Some(*frame),
            _ => None,
        });
        let Some(frame) = frame else {
            return Err(self.err(
                span,
                format!("{} needs a column among its arguments", func.name()),
            ));
        };
        // Arguments the executor needs as constants, checked here so a bad
        // one is a compile error with its place, not a failure on every node.
        let constant = |i: usize| -> Option<(&Scalar, Span)> {
            match args.get(i) {
                Some((Value::Lit(l), s)) => Some((l, *s)),
                _ => None,
            }
        };
        let want = |i: usize, what: &str| -> CompileError {
            let s = args.get(i).map_or(span, |(_, s)| *s);
            self.err(
                s,
                format!("argument {} of {} must be {what}", i + 1, func.name()),
            )
        };
        match func {
            Func::Replace => {
                match constant(0) {
                    Some((Scalar::String(p), ps)) => {
                        if let Err(e) = regex::Regex::new(p) {
                            // The crate's message spans lines; its last says what.
                            let text = e.to_string();
                            let why = text.lines().last().unwrap_or_default();
                            let why = why.strip_prefix("error: ").unwrap_or(why);
                            return Err(self.err(ps, format!("bad regular expression: {why}")));
                        }
                    }
                    _ => return Err(want(0, "a constant pattern")),
                }
                if !matches!(constant(2), Some((Scalar::String(_), _))) {
                    return Err(want(2, "a constant string"));
                }
            }
            Func::Substring => {
                for i in [1, 2] {
                    match constant(i) {
                        Some((Scalar::Int64(n), _)) if *n >= 0 => {}
                        _ => return Err(want(i, "a constant, non-negative integer")),
                    }
                }
            }
            Func::Bin => match constant(1) {
                Some((Scalar::Int64(n), _)) if *n > 0 => {}
                _ => return Err(want(1, "a constant, positive size (px.seconds(10), ...)")),
            },
            Func::Pluck | Func::PluckInt64 | Func::PluckFloat64
                if !matches!(constant(1), Some((Scalar::String(_), _))) =>
            {
                return Err(want(1, "a constant key"));
            }
            _ => {}
        }
        let mut exprs = Vec::new();
        for (v, s) in args {
            exprs.push(self.row_expr(frame, v, s)?);
        }
        let e = Expr::Call(func, exprs);
        e.check_shape().map_err(|m| self.err(span, m))?;
        let dtype = e
            .dtype(self.plan.schema(frame))
            .map_err(|m| self.err(span, m))?;
        Ok(Value::Col {
            frame,
            expr: e,
            dtype,
        })
    }

    fn method(&mut self, recv: Value, m: &str, mspan: Span, args: &mut Args) -> R<Value> {
        match recv {
            Value::Frame(f) => self.frame_method(f, m, mspan, args),
            Value::GroupBy(f, keys) => {
                let kw = std::mem::take(&mut args.kw);
                self.no_more(args, "agg")?;
                self.agg(f, keys, kw, args.span)
            }
            col @ Value::Col { .. } => {
                let func = match m {
                    "contains" => Func::Contains,
                    "startswith" => Func::StartsWith,
                    "endswith" => Func::EndsWith,
                    "lower" => Func::Lower,
                    _ => Func::Upper,
                };
                let mut all = vec![(col, mspan)];
                all.extend(args.rest());
                self.no_more(args, m)?;
                self.scalar_call(func, all, args.span)
            }
            other => Err(self.err(mspan, format!("{} has no method {m}", other.kind()))),
        }
    }

    fn frame_method(&mut self, f: NodeId, m: &str, mspan: Span, args: &mut Args) -> R<Value> {
        let span = args.span;
        match m {
            "groupby" => {
                let Some((v, s)) = args.get(0, "by") else {
                    return Err(self.err(span, "groupby needs a column name or a list of names"));
                };
                self.no_more(args, "groupby")?;
                let keys = self.string_list(v, s, "groupby")?;
                let mut out = Vec::new();
                for (k, ks) in keys {
                    out.push(self.col_name(f, &k, ks)?);
                }
                Ok(Value::GroupBy(f, out))
            }
            "agg" => {
                let kw = std::mem::take(&mut args.kw);
                self.no_more(args, "agg")?;
                self.agg(f, Vec::new(), kw, span)
            }
            "sort" | "sort_values" => {
                let Some((v, s)) = args.get(0, "by") else {
                    return Err(self.err(span, "sort needs a column name or a list of names"));
                };
                let cols = self.string_list(v, s, "sort")?;
                let asc: Vec<bool> = match args.get(1, "ascending") {
                    None => vec![true; cols.len()],
                    Some((Value::Lit(Scalar::Boolean(b)), _)) => vec![b; cols.len()],
                    Some((Value::List(items), s)) => {
                        let mut out = Vec::new();
                        for (v, is) in items {
                            match v {
                                Value::Lit(Scalar::Boolean(b)) => out.push(b),
                                other => {
                                    return Err(self.err(
                                        is,
                                        format!(
                                            "ascending takes True or False, got {}",
                                            other.kind()
                                        ),
                                    ));
                                }
                            }
                        }
                        if out.len() != cols.len() {
                            return Err(self.err(
                                s,
                                format!(
                                    "ascending has {} values for {} columns",
                                    out.len(),
                                    cols.len()
                                ),
                            ));
                        }
                        out
                    }
                    Some((other, s)) => {
                        return Err(self.err(
                            s,
                            format!(
                                "ascending takes True, False or a list, got {}",
                                other.kind()
                            ),
                        ));
                    }
                };
                self.no_more(args, "sort")?;
                let mut keys = Vec::new();
                for ((c, cs), a) in cols.into_iter().zip(asc) {
                    let c = self.col_name(f, &c, cs)?;
                    keys.push(SortKey {
                        column: c,
                        ascending: a,
                    });
                }
                Ok(Value::Frame(self.add(Op::Sort { input: f, keys }, span)?))
            }
            "head" => {
                let n = match args.get(0, "n") {
                    None => 5,
                    Some((Value::Lit(Scalar::Int64(n)), _)) if n >= 0 => n as u64,
                    Some((other, s)) => {
                        return Err(
                            self.err(s, format!("head takes a count, got {}", other.kind()))
                        );
                    }
                };
                self.no_more(args, "head")?;
                Ok(Value::Frame(self.add(Op::Limit { input: f, n }, span)?))
            }
            "merge" => {
                let Some((Value::Frame(right), _)) = args.get(0, "right") else {
                    return Err(self.err(span, "merge needs the DataFrame to merge with"));
                };
                let how = match args.get(usize::MAX, "how") {
                    None => JoinHow::Inner,
                    Some((Value::Lit(Scalar::String(h)), s)) => match h.as_str() {
                        "inner" => JoinHow::Inner,
                        "left" => JoinHow::Left,
                        "right" => JoinHow::Right,
                        "outer" => JoinHow::Outer,
                        _ => {
                            return Err(self.err(
                                s,
                                format!("how={h:?}: use 'inner', 'left', 'right' or 'outer'"),
                            ));
                        }
                    },
                    Some((other, s)) => {
                        return Err(
                            self.err(s, format!("how takes a string, got {}", other.kind()))
                        );
                    }
                };
                let on = args.get(usize::MAX, "on");
                let lo = args.get(usize::MAX, "left_on");
                let ro = args.get(usize::MAX, "right_on");
                let (left_on, right_on) = match (on, lo, ro) {
                    (Some((v, s)), None, None) => {
                        let c = self.string_list(v, s, "on")?;
                        (c.clone(), c)
                    }
                    (None, Some((l, ls)), Some((r, rs))) => (
                        self.string_list(l, ls, "left_on")?,
                        self.string_list(r, rs, "right_on")?,
                    ),
                    _ => {
                        return Err(self.err(
                            span,
                            "merge needs left_on=[...] and right_on=[...] (or on=[...])",
                        ));
                    }
                };
                let left_on = left_on
                    .iter()
                    .map(|(c, s)| self.col_name(f, c, *s))
                    .collect::<R<Vec<_>>>()?;
                let right_on = right_on
                    .iter()
                    .map(|(c, s)| self.col_name(right, c, *s))
                    .collect::<R<Vec<_>>>()?;
                let suffixes = match args.get(usize::MAX, "suffixes") {
                    None => ["_x".to_string(), "_y".to_string()],
                    Some((v, s)) => {
                        let l = self.string_list(v, s, "suffixes")?;
                        match l.as_slice() {
                            [(a, _), (b, _)] => [a.clone(), b.clone()],
                            _ => return Err(self.err(s, "suffixes takes two strings")),
                        }
                    }
                };
                self.no_more(args, "merge")?;
                let op = Op::Join {
                    left: f,
                    right,
                    how,
                    left_on,
                    right_on,
                    suffixes,
                };
                Ok(Value::Frame(self.add(op, span)?))
            }
            "append" => {
                let mut inputs = vec![f];
                match args.get(0, "objs") {
                    Some((Value::Frame(o), _)) => inputs.push(o),
                    Some((Value::List(items), _)) => {
                        for (v, s) in items {
                            match v {
                                Value::Frame(o) => inputs.push(o),
                                other => {
                                    return Err(self.err(
                                        s,
                                        format!("append takes DataFrames, got {}", other.kind()),
                                    ));
                                }
                            }
                        }
                    }
                    Some((other, s)) => {
                        return Err(
                            self.err(s, format!("append takes a DataFrame, got {}", other.kind()))
                        );
                    }
                    None => return Err(self.err(span, "append needs a DataFrame")),
                }
                self.no_more(args, "append")?;
                Ok(Value::Frame(self.add(Op::Union { inputs }, span)?))
            }
            "drop" => {
                let Some((v, s)) = args.get(0, "columns") else {
                    return Err(self.err(span, "drop needs a column name or a list of names"));
                };
                self.no_more(args, "drop")?;
                let cols = self.string_list(v, s, "drop")?;
                let cols = cols
                    .iter()
                    .map(|(c, cs)| self.col_name(f, c, *cs).map(|c| (c, *cs)))
                    .collect::<R<Vec<_>>>()?;
                let exprs = self
                    .plan
                    .schema(f)
                    .fields
                    .iter()
                    .filter(|fl| !cols.iter().any(|(c, _)| c == &fl.name))
                    .map(|fl| (fl.name.clone(), Expr::Col(fl.name.clone())))
                    .collect();
                Ok(Value::Frame(self.add(Op::Map { input: f, exprs }, span)?))
            }
            "rename" => {
                let Some((Value::Dict(items), _)) = args.get(0, "columns") else {
                    return Err(self.err(span, "rename takes columns={'old': 'new', ...}"));
                };
                self.no_more(args, "rename")?;
                let mut map = Vec::new();
                for (k, ks, v) in items {
                    match (k, v) {
                        (Value::Lit(Scalar::String(a)), Value::Lit(Scalar::String(b))) => {
                            map.push((self.col_name(f, &a, ks)?, b));
                        }
                        _ => return Err(self.err(ks, "rename maps column names to column names")),
                    }
                }
                let exprs = self
                    .plan
                    .schema(f)
                    .fields
                    .iter()
                    .map(|fl| {
                        let name = map
                            .iter()
                            .find(|(a, _)| a == &fl.name)
                            .map_or(fl.name.clone(), |(_, b)| b.clone());
                        (name, Expr::Col(fl.name.clone()))
                    })
                    .collect();
                Ok(Value::Frame(self.add(Op::Map { input: f, exprs }, span)?))
            }
            _ => Err(self.err(mspan, format!("DataFrame has no method {m}"))),
        }
    }

    /// `.agg(name=(column, fn), ...)`, lambdas lowered to per-row inputs, plain
    /// aggregates and an expression over their results.
    fn agg(
        &mut self,
        frame: NodeId,
        groups: Vec<String>,
        kw: Vec<(String, Value, Span)>,
        span: Span,
    ) -> R<Value> {
        let mut pre: Vec<(String, Expr)> = Vec::new();
        let mut aggs: Vec<AggSpec> = Vec::new();
        let mut post: Vec<(String, Expr)> = Vec::new();
        let mut seen = HashSet::new();
        for (name, v, vspan) in kw {
            if groups.contains(&name) || !seen.insert(name.clone()) {
                return Err(self.err(
                    vspan,
                    format!("column {name:?} is named twice in this aggregate"),
                ));
            }
            let Value::Tuple(parts) = v else {
                return Err(self.err(
                    vspan,
                    format!(
                        "{name}= takes a pair ('column', px.function), got {}",
                        v.kind()
                    ),
                ));
            };
            let [(col, cspan), (func, fspan)] =
                <[(Value, Span); 2]>::try_from(parts).map_err(|_| {
                    self.err(
                        vspan,
                        format!("{name}= takes a pair ('column', px.function)"),
                    )
                })?;
            let Value::Lit(Scalar::String(col)) = col else {
                return Err(self.err(
                    cspan,
                    format!("the column to aggregate must be a name, got {}", col.kind()),
                ));
            };
            let col = self.col_name(frame, &col, cspan)?;
            let Value::Col { dtype: col_t, .. } = self.column(frame, &col, cspan)? else {
                return Err(self.err(cspan, "internal: column lookup"));
            };
            match func {
                Value::Agg(f) => {
                    f.result(col_t).map_err(|m| self.err(fspan, m))?;
                    aggs.push(AggSpec {
                        name: name.clone(),
                        func: f,
                        column: col,
                        input_type: col_t,
                    });
                    post.push((name.clone(), Expr::Col(name)));
                }
                Value::Lambda(l) => {
                    let (params, body) = &*l;
                    if params.len() != 1 {
                        return Err(
                            self.err(fspan, "a lambda aggregate takes one parameter (the column)")
                        );
                    }
                    let outer = self.lambda.replace(LambdaCtx {
                        frame,
                        pre: Vec::new(),
                        aggs: Vec::new(),
                    });
                    self.scopes.push(HashMap::from([(
                        params[0].clone(),
                        Value::Col {
                            frame,
                            expr: Expr::Col(col.clone()),
                            dtype: col_t,
                        },
                    )]));
                    let r = self.eval(body);
                    self.scopes.pop();
                    let ctx = std::mem::replace(&mut self.lambda, outer);
                    let r = r?;
                    let Some(ctx) = ctx else {
                        return Err(self.err(fspan, "internal: lambda context lost"));
                    };
                    let expr = match r {
                        Value::AggExpr { expr, .. } => expr,
                        other => {
                            return Err(self.err(
                                body.span,
                                format!(
                                    "a lambda aggregate must combine aggregates such as px.mean(s); this gives {}",
                                    other.kind()
                                ),
                            ));
                        }
                    };
                    pre.extend(ctx.pre);
                    aggs.extend(ctx.aggs);
                    post.push((name, expr));
                }
                other => {
                    return Err(self.err(
                        fspan,
                        format!(
                            "expected an aggregate (px.count, px.mean, px.quantiles(0.99), ...) or a lambda, got {}",
                            other.kind()
                        ),
                    ));
                }
            }
        }
        let mut input = frame;
        if !pre.is_empty() {
            let mut exprs = self.plan.passthrough(frame);
            exprs.extend(pre);
            input = self.add(Op::Map { input, exprs }, span)?;
        }
        let identity =
            post.iter().all(|(n, e)| e == &Expr::Col(n.clone())) && aggs.len() == post.len();
        let agg = self.add(
            Op::Aggregate {
                input,
                groups: groups.clone(),
                aggs,
                mode: AggMode::Single,
            },
            span,
        )?;
        if identity {
            return Ok(Value::Frame(agg));
        }
        let mut exprs: Vec<(String, Expr)> = groups
            .iter()
            .map(|g| (g.clone(), Expr::Col(g.clone())))
            .collect();
        exprs.extend(post);
        Ok(Value::Frame(self.add(Op::Map { input: agg, exprs }, span)?))
    }
}

fn agg_binary(op: BinOp, a: Expr, ta: DType, b: Expr, tb: DType) -> Result<Value, String> {
    let dtype = crate::plan::expr::binary_result(op, ta, tb)?;
    Ok(Value::AggExpr {
        expr: Expr::Binary(op, Box::new(a), Box::new(b)),
        dtype,
    })
}

/// Constant folding of literal arithmetic (`px.now() - px.minutes(5)`).
fn fold(op: BinOp, a: &Scalar, b: &Scalar) -> Result<Scalar, String> {
    use Scalar::*;
    let t = crate::plan::expr::binary_result(op, a.dtype(), b.dtype())?;
    let f = |s: &Scalar| match s {
        Int64(i) | Time(i) => *i as f64,
        Float64(x) => *x,
        _ => 0.0,
    };
    let i = |s: &Scalar| match s {
        Int64(i) | Time(i) => *i,
        _ => 0,
    };
    if op.is_comparison() {
        let o = match (a, b) {
            (String(x), String(y)) => x.cmp(y),
            (Boolean(x), Boolean(y)) => x.cmp(y),
            _ => f(a).partial_cmp(&f(b)).ok_or("cannot compare NaN")?,
        };
        use std::cmp::Ordering::*;
        return Ok(Boolean(match op {
            BinOp::Eq => o == Equal,
            BinOp::Ne => o != Equal,
            BinOp::Lt => o == Less,
            BinOp::Le => o != Greater,
            BinOp::Gt => o == Greater,
            _ => o != Less,
        }));
    }
    Ok(match (op, t) {
        (BinOp::And, _) => Boolean(matches!((a, b), (Boolean(true), Boolean(true)))),
        (BinOp::Or, _) => Boolean(matches!(a, Boolean(true)) || matches!(b, Boolean(true))),
        (BinOp::Add, DType::String) => match (a, b) {
            (String(x), String(y)) => String(format!("{x}{y}")),
            _ => return Err("internal: string fold".into()),
        },
        (BinOp::Div, _) => Float64(f(a) / f(b)),
        (op, DType::Int64 | DType::Time) => {
            let (x, y) = (i(a), i(b));
            let v = match op {
                BinOp::Add => x.checked_add(y),
                BinOp::Sub => x.checked_sub(y),
                BinOp::Mul => x.checked_mul(y),
                BinOp::Mod => x.checked_rem_euclid(y),
                _ => None,
            }
            .ok_or("integer overflow or division by zero in a constant")?;
            if t == DType::Time { Time(v) } else { Int64(v) }
        }
        (op, _) => {
            let (x, y) = (f(a), f(b));
            Float64(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                _ => x.rem_euclid(y),
            })
        }
    })
}

/// `'-5m'`, `'-1h30m'`, `'-30s'`, `'-2d'` as ns relative to now.
pub fn parse_relative(s: &str) -> Option<i64> {
    let s = s.trim();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut i = 0;
    let b = rest.as_bytes();
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: i64 = rest[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &rest[ustart..i];
        let (_, ns) = UNITS.iter().find(|(u, _)| *u == unit)?;
        total = total.checked_add(n.checked_mul(*ns)?)?;
    }
    Some(sign * total)
}

/// `; did you mean "x"?` when a known name is close.
fn did_you_mean(name: &str, known: &[&str]) -> String {
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

fn edit_distance(a: &str, b: &str) -> usize {
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
