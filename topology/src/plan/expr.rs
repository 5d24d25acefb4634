//! Per-row expressions and their typing rules. The front end builds them,
//! checked; the executor evaluates them a whole Arrow batch at a time.

use std::cell::Cell;

use serde::{Deserialize, Deserializer, Serialize};

use super::meta_fn::MetaFn;
use super::types::{DType, Scalar, Schema};
use crate::funcs::LibFn;

/// The deepest expression a plan may hold (an operand inside a call
/// inside a comparison is depth 3). The compiler refuses deeper ones with
/// the script's position, and a plan that arrives over the wire is refused
/// while it is decoded, before a deep enough one could exhaust the stack.
pub const MAX_EXPR_DEPTH: usize = 64;

/// Operands of one call, at most.
pub const MAX_CALL_ARGS: usize = 16;

/// An expression. Decoding counts the nesting as it goes (see
/// [`MAX_EXPR_DEPTH`]); the derived shape is [`ExprWire`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Expr {
    /// A column of the input, by name.
    Col(String),
    Lit(Scalar),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Call(Func, Vec<Expr>),
}

/// The same variants, in the same order, as [`Expr`]: what serde derives
/// its decoding for. Its children are `Expr`s again, so every level passes
/// through the depth count below.
#[derive(Deserialize)]
#[serde(rename = "Expr")]
enum ExprWire {
    Col(String),
    Lit(Scalar),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Call(Func, Vec<Expr>),
}

thread_local! {
    /// Nesting of the expression being decoded on this thread.
    static DECODE_DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Set when a decode was refused for its depth (read by the codec, so
    /// the refusal is counted under its own reason).
    static DEPTH_REFUSED: Cell<bool> = const { Cell::new(false) };
}

/// Whether the last decode on this thread was refused for an expression's
/// depth; clears the flag.
pub fn take_depth_refused() -> bool {
    DEPTH_REFUSED.with(|f| f.replace(false))
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Level;
        impl Drop for Level {
            fn drop(&mut self) {
                DECODE_DEPTH.with(|c| c.set(c.get().saturating_sub(1)));
            }
        }
        let depth = DECODE_DEPTH.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        let _level = Level;
        if depth > MAX_EXPR_DEPTH {
            DEPTH_REFUSED.with(|f| f.set(true));
            return Err(serde::de::Error::custom(format!(
                "an expression nested deeper than {MAX_EXPR_DEPTH}"
            )));
        }
        Ok(match ExprWire::deserialize(d)? {
            ExprWire::Col(c) => Expr::Col(c),
            ExprWire::Lit(l) => Expr::Lit(l),
            ExprWire::Binary(op, l, r) => Expr::Binary(op, l, r),
            ExprWire::Not(e) => Expr::Not(e),
            ExprWire::Neg(e) => Expr::Neg(e),
            ExprWire::Call(f, a) => Expr::Call(f, a),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&",
            BinOp::Or => "|",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

/// A scalar function: one of the library's ([`crate::funcs`]) or a
/// metadata function ([`MetaFn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Func {
    Lib(LibFn),
    /// A metadata function (`px.ip_to_pod_id`, ...): see [`MetaFn`].
    Meta(MetaFn),
}

impl Func {
    /// A library function by any of its names (without `px.`).
    pub fn lib(name: &str) -> Option<Func> {
        LibFn::lookup(name).map(Func::Lib)
    }

    /// The PxL spelling, for messages.
    pub fn name(self) -> std::string::String {
        match self {
            Func::Lib(f) => format!("px.{}", f.name()),
            Func::Meta(m) => m.name().to_string(),
        }
    }

    /// The result type for these argument types, or why they do not fit.
    pub fn result(self, args: &[DType]) -> Result<DType, std::string::String> {
        match self {
            Func::Lib(f) => f.result(args),
            Func::Meta(m) => m.result(args),
        }
    }
}

/// The result type of `l op r`, or why the operands do not fit.
pub fn binary_result(op: BinOp, l: DType, r: DType) -> Result<DType, String> {
    use DType::*;
    let bad = || Err(format!("cannot apply {} to {l} and {r}", op.symbol()));
    match op {
        BinOp::And | BinOp::Or => {
            if l == Boolean && r == Boolean {
                Ok(Boolean)
            } else {
                Err(format!(
                    "{} needs BOOLEAN on both sides, got {l} and {r} (use parentheses: `(a == 1) & (b == 2)`)",
                    op.symbol()
                ))
            }
        }
        op if op.is_comparison() => {
            let ok = l == r
                || (l.is_numeric() && r.is_numeric())
                || matches!((l, r), (Time, Int64) | (Int64, Time));
            let ordered = !matches!(op, BinOp::Eq | BinOp::Ne);
            if !ok || (ordered && l == Boolean) || l == Binary {
                return Err(format!("cannot compare {l} with {r} using {}", op.symbol()));
            }
            Ok(Boolean)
        }
        BinOp::Add if l == String && r == String => Ok(String),
        BinOp::Div => match (l, r) {
            (Int64 | Float64, Int64 | Float64) => Ok(Float64),
            _ => bad(),
        },
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Mod => match (l, r) {
            (Int64, Int64) => Ok(Int64),
            (Int64 | Float64, Int64 | Float64) => Ok(Float64),
            (Time, Int64) if matches!(op, BinOp::Add | BinOp::Sub) => Ok(Time),
            (Int64, Time) if op == BinOp::Add => Ok(Time),
            (Time, Time) if op == BinOp::Sub => Ok(Int64),
            _ => bad(),
        },
        _ => bad(),
    }
}

impl Expr {
    pub fn col(name: &str) -> Expr {
        Expr::Col(name.to_string())
    }

    /// The type of this expression over `input`, checking every operand.
    pub fn dtype(&self, input: &Schema) -> Result<DType, String> {
        match self {
            Expr::Col(c) => input
                .get(c)
                .map(|f| f.dtype)
                .ok_or_else(|| format!("unknown column {c:?}")),
            Expr::Lit(s) => Ok(s.dtype()),
            Expr::Binary(op, l, r) => binary_result(*op, l.dtype(input)?, r.dtype(input)?),
            Expr::Not(e) => match e.dtype(input)? {
                DType::Boolean => Ok(DType::Boolean),
                t => Err(format!("~ needs BOOLEAN, got {t}")),
            },
            Expr::Neg(e) => match e.dtype(input)? {
                t @ (DType::Int64 | DType::Float64) => Ok(t),
                t => Err(format!("unary - needs a number, got {t}")),
            },
            Expr::Call(f, args) => {
                let types = args
                    .iter()
                    .map(|a| a.dtype(input))
                    .collect::<Result<Vec<_>, _>>()?;
                f.result(&types)
            }
        }
    }

    /// Levels of nesting: 1 for a column or a literal.
    pub fn depth(&self) -> usize {
        1 + match self {
            Expr::Col(_) | Expr::Lit(_) => 0,
            Expr::Binary(_, l, r) => l.depth().max(r.depth()),
            Expr::Not(e) | Expr::Neg(e) => e.depth(),
            Expr::Call(_, args) => args.iter().map(Expr::depth).max().unwrap_or(0),
        }
    }

    /// Checks what the typing rules do not: nesting within
    /// [`MAX_EXPR_DEPTH`], calls within [`MAX_CALL_ARGS`].
    pub fn check_shape(&self) -> Result<(), String> {
        let d = self.depth();
        if d > MAX_EXPR_DEPTH {
            return Err(format!(
                "an expression nested {d} deep; at most {MAX_EXPR_DEPTH} levels are allowed"
            ));
        }
        self.check_calls()
    }

    fn check_calls(&self) -> Result<(), String> {
        match self {
            Expr::Col(_) | Expr::Lit(_) => Ok(()),
            Expr::Binary(_, l, r) => {
                l.check_calls()?;
                r.check_calls()
            }
            Expr::Not(e) | Expr::Neg(e) => e.check_calls(),
            Expr::Call(f, args) => {
                if args.len() > MAX_CALL_ARGS {
                    return Err(format!(
                        "{} called with {} arguments (at most {MAX_CALL_ARGS})",
                        f.name(),
                        args.len()
                    ));
                }
                args.iter().try_for_each(Expr::check_calls)
            }
        }
    }

    /// Every column this expression reads, appended to `out` once each.
    pub fn columns<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Col(c) => {
                if !out.contains(&c.as_str()) {
                    out.push(c)
                }
            }
            Expr::Lit(_) => {}
            Expr::Binary(_, l, r) => {
                l.columns(out);
                r.columns(out);
            }
            Expr::Not(e) | Expr::Neg(e) => e.columns(out),
            Expr::Call(_, args) => args.iter().for_each(|a| a.columns(out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;

    #[test]
    fn typing_follows_python() {
        assert_eq!(binary_result(BinOp::Div, Int64, Int64), Ok(Float64));
        assert_eq!(binary_result(BinOp::Add, Int64, Int64), Ok(Int64));
        assert_eq!(binary_result(BinOp::Sub, Time, Time), Ok(Int64));
        assert_eq!(binary_result(BinOp::Add, Time, Int64), Ok(Time));
        assert!(binary_result(BinOp::Eq, Int64, String).is_err());
        assert!(binary_result(BinOp::And, Int64, Boolean).is_err());
        let select = Func::lib("select").unwrap();
        assert_eq!(select.result(&[Boolean, Int64, Float64]), Ok(Float64));
        assert!(
            Func::lib("contains")
                .unwrap()
                .result(&[Int64, String])
                .is_err()
        );
    }
}
