//! The function library: every scalar function a script can call
//! (`px.find`, `px.toupper`, `px.bin`, ...), one entry each — its names,
//! signatures (overloads, Pixie's types), the semantic type of its result,
//! which arguments must be constants, how it is evaluated over a batch and
//! where it may run. The compiler resolves calls here, the plan's typing
//! rules read the signatures, the executor calls `eval`; a new function is
//! one entry in one of the files below and one test.
//!
//! Names and meanings follow Pixie's builtin registry
//! (src/carnot/funcs/builtins); Loupe's own additions say so in their doc.
//! Metadata functions (`px.ip_to_pod_id`, ...) have their own registry,
//! [`crate::plan::meta_fn`], because they read the cluster state the
//! process follows.

mod cluster;
pub mod datum;
mod json;
mod logic;
mod math;
mod net;
pub mod ops;
mod protocols;
mod strings;
pub mod time;

use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use datum::{Datum, FResult, FuncError};

use crate::plan::{DType, Scalar};

/// One overload: argument types, result type.
#[derive(Debug)]
pub struct Sig {
    pub args: &'static [DType],
    pub ret: DType,
}

/// Shorthand for the tables below.
pub const fn sig(args: &'static [DType], ret: DType) -> Sig {
    Sig { args, ret }
}

/// What a constant argument must be, checked when the script compiles (a
/// bad one is an error with its place, not a failure on every node).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Const {
    /// Any constant of the signature's type.
    Any,
    /// A regular expression that compiles.
    Regex,
    /// An integer >= 0.
    NonNegative,
    /// An integer > 0.
    Positive,
    /// A positive duration or width (`px.seconds(10)`).
    Size,
}

/// Where a function may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runs {
    /// Pure: on agents, in merges, or folded at compile time.
    Anywhere,
    /// A value the planner binds before the plan runs (the cluster's
    /// name): never folded by the compiler, never evaluated elsewhere.
    Planner,
}

/// The semantic type of a result (how it prints; JSON keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SemRule {
    /// No semantic type.
    None,
    /// The semantic type of the first argument.
    OfFirst,
    /// This semantic type.
    Is(crate::plan::Sem),
}

pub type EvalFn = fn(&[Datum], usize) -> FResult;

/// A function of the library.
pub struct FuncDef {
    /// Pixie's name, without `px.`.
    pub name: &'static str,
    /// Other names it answers to (`normalize_pgsql` for `normalize_sql`).
    pub aliases: &'static [&'static str],
    pub sigs: &'static [Sig],
    pub sem: SemRule,
    /// Arguments that must be constants, by position.
    pub consts: &'static [(usize, Const)],
    /// Over a batch of `len` rows (scalars broadcast).
    pub eval: EvalFn,
    pub runs: Runs,
    pub doc: &'static str,
    /// Calls and what they give, as PxL: `("'hello', 'l'", "2")` is
    /// `px.find('hello', 'l') == 2`; `None` is null. Every function has
    /// some, and the library's test runs each on constants (folded by the
    /// compiler) and on columns, plain and dictionary-encoded.
    pub examples: &'static [(&'static str, &'static str)],
}

impl FuncDef {
    /// An entry: no other names, no semantic type, no constant arguments,
    /// runs anywhere; the builders below add what differs.
    pub const fn new(
        name: &'static str,
        sigs: &'static [Sig],
        eval: EvalFn,
        doc: &'static str,
    ) -> Self {
        FuncDef {
            name,
            aliases: &[],
            sigs,
            sem: SemRule::None,
            consts: &[],
            eval,
            runs: Runs::Anywhere,
            doc,
            examples: &[],
        }
    }

    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    pub const fn sem(mut self, sem: SemRule) -> Self {
        self.sem = sem;
        self
    }

    pub const fn consts(mut self, consts: &'static [(usize, Const)]) -> Self {
        self.consts = consts;
        self
    }

    pub const fn runs(mut self, runs: Runs) -> Self {
        self.runs = runs;
        self
    }

    /// The same entry with its examples.
    pub const fn ex(mut self, examples: &'static [(&'static str, &'static str)]) -> Self {
        self.examples = examples;
        self
    }
}

impl std::fmt::Debug for FuncDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "px.{}", self.name)
    }
}

/// Every function, in file order.
pub static LIBRARY: LazyLock<Vec<&'static FuncDef>> = LazyLock::new(|| {
    let mut v: Vec<&'static FuncDef> = Vec::new();
    for part in [
        strings::FUNCS,
        math::FUNCS,
        logic::FUNCS,
        time::FUNCS,
        json::FUNCS,
        protocols::FUNCS,
        net::FUNCS,
        cluster::FUNCS,
    ] {
        v.extend(part.iter());
    }
    v
});

/// A function of the library, as plans carry it: an index into
/// [`LIBRARY`] in memory, its name on the wire (so the index is never
/// trusted, and an unknown name is refused while the plan is decoded).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LibFn(u16);

impl LibFn {
    pub fn lookup(name: &str) -> Option<LibFn> {
        LIBRARY
            .iter()
            .position(|d| d.name == name || d.aliases.contains(&name))
            .map(|i| LibFn(i as u16))
    }

    pub fn def(self) -> &'static FuncDef {
        LIBRARY[self.0 as usize]
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// The overload for exactly these argument types.
    pub fn result(self, args: &[DType]) -> Result<DType, String> {
        let d = self.def();
        if let Some(s) = d.sigs.iter().find(|s| s.args == args) {
            return Ok(s.ret);
        }
        Err(mismatch(d, args))
    }

    /// The overload for these argument types, allowing an INT64 where a
    /// FLOAT64 is taken (as Pixie does): the result type, and the
    /// arguments to cast to FLOAT64.
    pub fn resolve(self, args: &[DType]) -> Result<(DType, Vec<usize>), String> {
        let d = self.def();
        if let Some(s) = d.sigs.iter().find(|s| s.args == args) {
            return Ok((s.ret, Vec::new()));
        }
        for s in d.sigs {
            if s.args.len() != args.len() {
                continue;
            }
            let mut casts = Vec::new();
            let ok = s.args.iter().zip(args).enumerate().all(|(i, (want, got))| {
                if want == got {
                    true
                } else if *want == DType::Float64 && *got == DType::Int64 {
                    casts.push(i);
                    true
                } else {
                    false
                }
            });
            if ok {
                return Ok((s.ret, casts));
            }
        }
        Err(mismatch(d, args))
    }
}

fn mismatch(d: &FuncDef, args: &[DType]) -> String {
    let got: Vec<&str> = args.iter().map(|t| t.name()).collect();
    let arities: std::collections::BTreeSet<usize> = d.sigs.iter().map(|s| s.args.len()).collect();
    if !arities.contains(&args.len()) {
        let n: Vec<String> = arities.iter().map(|n| n.to_string()).collect();
        return format!(
            "px.{} takes {} argument{}, got {}",
            d.name,
            n.join(" or "),
            if arities.len() == 1 && arities.contains(&1) {
                ""
            } else {
                "s"
            },
            args.len()
        );
    }
    let want: Vec<String> = d
        .sigs
        .iter()
        .filter(|s| s.args.len() == args.len())
        .map(|s| {
            let a: Vec<&str> = s.args.iter().map(|t| t.name()).collect();
            format!("({})", a.join(", "))
        })
        .collect();
    format!(
        "px.{} takes {}, got ({})",
        d.name,
        want.join(" or "),
        got.join(", ")
    )
}

impl std::fmt::Debug for LibFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "px.{}", self.name())
    }
}

impl Serialize for LibFn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for LibFn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        LibFn::lookup(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown function {name:?}")))
    }
}

/// Checks constant argument `i` of `f` (the literal the script gave).
pub fn check_const(c: Const, v: Option<&Scalar>) -> Result<(), String> {
    match (c, v) {
        (_, None) => Err(match c {
            Const::Regex => "a constant regular expression".into(),
            Const::NonNegative => "a constant, non-negative integer".into(),
            Const::Positive => "a constant, positive integer".into(),
            Const::Size => "a constant, positive size (px.seconds(10), ...)".into(),
            Const::Any => "a constant".into(),
        }),
        (Const::Any, Some(_)) => Ok(()),
        (Const::Regex, Some(Scalar::String(p))) => regex::Regex::new(p).map(|_| ()).map_err(|e| {
            // The crate's message spans lines; its last says what.
            let text = e.to_string();
            let why = text.lines().last().unwrap_or_default();
            let why = why.strip_prefix("error: ").unwrap_or(why);
            format!("bad regular expression: {why}")
        }),
        (Const::NonNegative, Some(Scalar::Int64(n))) if *n >= 0 => Ok(()),
        (Const::Positive | Const::Size, Some(Scalar::Int64(n))) if *n > 0 => Ok(()),
        (Const::NonNegative, _) => Err("a constant, non-negative integer".into()),
        (Const::Positive, _) => Err("a constant, positive integer".into()),
        (Const::Size, _) => Err("a constant, positive size (px.seconds(10), ...)".into()),
        (Const::Regex, _) => Err("a constant regular expression".into()),
    }
}

#[cfg(test)]
mod tests;
