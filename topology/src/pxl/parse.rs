//! Python source to [`super::ast`], with Astral's parser (`ruff_python_parser`:
//! error recovery, a position on every node). The one module that knows the
//! parser crate, so it can be swapped. Python that PxL does not have is
//! refused here, naming the construct and where it is.

use ruff_python_ast as py;
use ruff_text_size::Ranged;

use super::ast::*;
use super::error::Span;

/// A parse or conversion failure: where and what.
pub type Failure = (Span, String);

fn span(r: &impl Ranged) -> Span {
    let r = r.range();
    Span {
        start: u32::from(r.start()) as usize,
        end: u32::from(r.end()) as usize,
    }
}

#[cfg(test)]
pub fn parse(source: &str) -> Result<Vec<Stmt>, Failure> {
    parse_lenient(source).map(|(m, _)| m)
}

/// The most missing commas one script may have accepted.
const MAX_MENDS: usize = 32;

/// Parses as Pixie's parser does: a comma missing between keyword
/// arguments of a call (`f(a=1\n  b=2)`, which five of Pixie's bundled
/// scripts have) is accepted, with a warning naming where; every other
/// syntax error stays an error. The comma takes the place of the blank
/// before the keyword, so every position in the script stays where it is.
pub fn parse_lenient(source: &str) -> Result<(Vec<Stmt>, Vec<Failure>), Failure> {
    let mut text = source.to_string();
    let mut warnings = Vec::new();
    loop {
        match ruff_python_parser::parse_module(&text) {
            Ok(parsed) => {
                let module = parsed.into_syntax();
                let stmts = module.body.iter().map(stmt).collect::<Result<_, _>>()?;
                return Ok((stmts, warnings));
            }
            Err(e) => {
                let at = span(&e.location);
                let msg = format!("syntax error: {}", e.error);
                let mended = warnings.len() < MAX_MENDS
                    && (msg.contains("Expected `,`") || msg.contains("Expected ','"))
                    && mend_keyword_comma(&mut text, at.start);
                if !mended {
                    return Err((at, msg));
                }
                warnings.push((
                    Span {
                        start: at.start,
                        end: at.start,
                    },
                    "a comma is missing before this keyword argument (accepted, as Pixie does)"
                        .to_string(),
                ));
            }
        }
    }
}

/// Puts a comma in the blank before `at` when a keyword argument
/// (`name=`, not `name==`) starts there; whether it did.
fn mend_keyword_comma(text: &mut String, at: usize) -> bool {
    let rest = &text.as_bytes()[at.min(text.len())..];
    let ident = rest
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    if ident == 0 || rest[0].is_ascii_digit() {
        return false;
    }
    let after = &rest[ident..];
    let eq = after.iter().position(|c| *c != b' ' && *c != b'\t');
    let keyword = matches!(eq, Some(i) if after[i] == b'=' && after.get(i + 1) != Some(&b'='));
    if !keyword || at == 0 || !matches!(text.as_bytes()[at - 1], b' ' | b'\t') {
        return false;
    }
    text.replace_range(at - 1..at, ",");
    true
}

fn unsupported(r: &impl Ranged, what: &str) -> Failure {
    (span(r), format!("PxL does not have {what}"))
}

fn stmt(s: &py::Stmt) -> Result<Stmt, Failure> {
    Ok(match s {
        py::Stmt::Import(i) => {
            if i.names.len() != 1 {
                return Err((span(i), "import one module per line: `import px`".into()));
            }
            let a = &i.names[0];
            Stmt::Import {
                module: a.name.to_string(),
                alias: a.asname.as_ref().map(|n| n.to_string()),
                span: span(a),
            }
        }
        py::Stmt::ImportFrom(i) => {
            return Err((
                span(i),
                "`from ... import` is not PxL: use `import px`".into(),
            ));
        }
        py::Stmt::Assign(a) => {
            if a.targets.len() != 1 {
                return Err(unsupported(a, "chained assignment (`a = b = ...`)"));
            }
            let target = expr(&a.targets[0])?;
            match target.kind {
                ExprKind::Name(_) | ExprKind::Attr(..) | ExprKind::Subscript(..) => {}
                ExprKind::Tuple(_) | ExprKind::List(_) => {
                    return Err(unsupported(&a.targets[0], "unpacking assignment"));
                }
                _ => return Err((target.span, "cannot assign to this".into())),
            }
            Stmt::Assign {
                target,
                value: expr(&a.value)?,
            }
        }
        py::Stmt::AnnAssign(a) => match &a.value {
            Some(v) => Stmt::Assign {
                target: expr(&a.target)?,
                value: expr(v)?,
            },
            None => return Err(unsupported(a, "declarations without a value")),
        },
        py::Stmt::Expr(e) => Stmt::Expr(expr(&e.value)?),
        py::Stmt::FunctionDef(f) => {
            if f.is_async {
                return Err(unsupported(f, "async functions"));
            }
            if let Some(d) = f.decorator_list.first() {
                return Err(unsupported(d, "decorators"));
            }
            let p = &f.parameters;
            if let Some(v) = &p.vararg {
                return Err(unsupported(v.as_ref(), "*args"));
            }
            if let Some(v) = &p.kwarg {
                return Err(unsupported(v.as_ref(), "**kwargs"));
            }
            let mut params = Vec::new();
            for a in p.posonlyargs.iter().chain(&p.args).chain(&p.kwonlyargs) {
                params.push(Param {
                    name: a.parameter.name.to_string(),
                    annotation: a.parameter.annotation.as_deref().map(expr).transpose()?,
                    default: a.default.as_deref().map(expr).transpose()?,
                    span: span(a),
                });
            }
            Stmt::Def(Box::new(Def {
                name: f.name.to_string(),
                params,
                body: f.body.iter().map(stmt).collect::<Result<_, _>>()?,
                span: span(&f.name),
            }))
        }
        py::Stmt::Return(r) => Stmt::Return {
            value: r.value.as_deref().map(expr).transpose()?,
            span: span(r),
        },
        py::Stmt::Pass(_) => Stmt::Pass,
        py::Stmt::For(x) => return Err(unsupported(x, "`for` loops: use DataFrame operations")),
        py::Stmt::While(x) => return Err(unsupported(x, "`while` loops")),
        py::Stmt::If(x) => {
            return Err(unsupported(
                x,
                "`if` statements: use px.select(cond, a, b) or a filter",
            ));
        }
        py::Stmt::With(x) => return Err(unsupported(x, "`with` statements")),
        py::Stmt::ClassDef(x) => return Err(unsupported(x, "classes")),
        py::Stmt::Try(x) => return Err(unsupported(x, "`try` statements")),
        py::Stmt::AugAssign(x) => {
            return Err(unsupported(
                x,
                "augmented assignment (`+=`): write `x = x + ...`",
            ));
        }
        py::Stmt::Delete(x) => return Err(unsupported(x, "`del`: use df.drop(...)")),
        py::Stmt::Global(x) => return Err(unsupported(x, "`global`")),
        py::Stmt::Nonlocal(x) => return Err(unsupported(x, "`nonlocal`")),
        py::Stmt::Raise(x) => return Err(unsupported(x, "`raise`")),
        py::Stmt::Assert(x) => return Err(unsupported(x, "`assert`")),
        py::Stmt::Match(x) => return Err(unsupported(x, "`match` statements")),
        other => return Err(unsupported(other, "this statement")),
    })
}

/// The deepest nesting of syntax a script may have (Python's own parser
/// stops near 200 too). Deeper is refused here, before the compiler
/// recurses over it.
pub const MAX_SYNTAX_DEPTH: usize = 200;

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn expr(e: &py::Expr) -> Result<Expr, Failure> {
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let _level = Level;
    if depth > MAX_SYNTAX_DEPTH {
        return Err((
            span(e),
            format!("an expression nested deeper than {MAX_SYNTAX_DEPTH} levels"),
        ));
    }
    expr_at(e)
}

fn expr_at(e: &py::Expr) -> Result<Expr, Failure> {
    let kind = match e {
        py::Expr::Name(n) => ExprKind::Name(n.id.to_string()),
        py::Expr::StringLiteral(s) => ExprKind::Str(s.value.to_str().to_string()),
        py::Expr::NumberLiteral(n) => match &n.value {
            py::Number::Int(i) => match i.as_i64() {
                Some(v) => ExprKind::Int(v),
                None => return Err((span(n), "integer does not fit in 64 bits".into())),
            },
            py::Number::Float(f) => ExprKind::Float(*f),
            py::Number::Complex { .. } => return Err(unsupported(n, "complex numbers")),
        },
        py::Expr::BooleanLiteral(b) => ExprKind::Bool(b.value),
        py::Expr::NoneLiteral(_) => ExprKind::None,
        py::Expr::Attribute(a) => {
            ExprKind::Attr(Box::new(expr(&a.value)?), a.attr.to_string(), span(&a.attr))
        }
        py::Expr::Subscript(s) => {
            if let py::Expr::Slice(sl) = s.slice.as_ref() {
                return Err(unsupported(sl, "slices: use df.head(n)"));
            }
            ExprKind::Subscript(Box::new(expr(&s.value)?), Box::new(expr(&s.slice)?))
        }
        py::Expr::Call(c) => {
            let mut args = Vec::new();
            for a in c.arguments.args.iter() {
                if let py::Expr::Starred(s) = a {
                    return Err(unsupported(s, "*args in calls"));
                }
                args.push(expr(a)?);
            }
            let mut kwargs = Vec::new();
            for k in c.arguments.keywords.iter() {
                let Some(name) = &k.arg else {
                    return Err(unsupported(k, "**kwargs in calls"));
                };
                kwargs.push(Keyword {
                    name: name.to_string(),
                    value: expr(&k.value)?,
                    span: span(k),
                });
            }
            ExprKind::Call {
                func: Box::new(expr(&c.func)?),
                args,
                kwargs,
            }
        }
        py::Expr::BinOp(b) => {
            let op = match b.op {
                py::Operator::Add => BinOpKind::Add,
                py::Operator::Sub => BinOpKind::Sub,
                py::Operator::Mult => BinOpKind::Mul,
                py::Operator::Div => BinOpKind::Div,
                py::Operator::Mod => BinOpKind::Mod,
                py::Operator::BitAnd => BinOpKind::BitAnd,
                py::Operator::BitOr => BinOpKind::BitOr,
                other => {
                    return Err((
                        span(b),
                        format!("PxL does not have the operator `{}`", other.as_str()),
                    ));
                }
            };
            ExprKind::Bin(op, Box::new(expr(&b.left)?), Box::new(expr(&b.right)?))
        }
        py::Expr::UnaryOp(u) => {
            let op = match u.op {
                py::UnaryOp::USub => UnaryKind::Neg,
                py::UnaryOp::UAdd => UnaryKind::Plus,
                py::UnaryOp::Invert => UnaryKind::Invert,
                py::UnaryOp::Not => UnaryKind::Not,
            };
            ExprKind::Unary(op, Box::new(expr(&u.operand)?))
        }
        py::Expr::Compare(c) => {
            let mut rest = Vec::new();
            for (op, r) in c.ops.iter().zip(c.comparators.iter()) {
                let k = match op {
                    py::CmpOp::Eq => CmpKind::Eq,
                    py::CmpOp::NotEq => CmpKind::Ne,
                    py::CmpOp::Lt => CmpKind::Lt,
                    py::CmpOp::LtE => CmpKind::Le,
                    py::CmpOp::Gt => CmpKind::Gt,
                    py::CmpOp::GtE => CmpKind::Ge,
                    other => {
                        return Err((
                            span(c),
                            format!(
                                "PxL does not have `{}` comparisons: use ==, !=, <, <=, >, >= or .contains()",
                                other.as_str()
                            ),
                        ));
                    }
                };
                rest.push((k, expr(r)?));
            }
            ExprKind::Compare(Box::new(expr(&c.left)?), rest)
        }
        py::Expr::BoolOp(b) => {
            let op = match b.op {
                py::BoolOp::And => BoolKind::And,
                py::BoolOp::Or => BoolKind::Or,
            };
            ExprKind::BoolOp(op, b.values.iter().map(expr).collect::<Result<_, _>>()?)
        }
        py::Expr::List(l) => ExprKind::List(l.elts.iter().map(expr).collect::<Result<_, _>>()?),
        py::Expr::Tuple(t) => ExprKind::Tuple(t.elts.iter().map(expr).collect::<Result<_, _>>()?),
        py::Expr::Dict(d) => {
            let mut items = Vec::new();
            for it in d.items.iter() {
                let Some(k) = &it.key else {
                    return Err(unsupported(&it.value, "`**` in dict literals"));
                };
                items.push((expr(k)?, expr(&it.value)?));
            }
            ExprKind::Dict(items)
        }
        py::Expr::Lambda(l) => {
            let mut params = Vec::new();
            if let Some(p) = &l.parameters {
                for a in p.posonlyargs.iter().chain(&p.args) {
                    if a.default.is_some() {
                        return Err(unsupported(a, "default values in lambdas"));
                    }
                    params.push(a.parameter.name.to_string());
                }
                if p.vararg.is_some() || p.kwarg.is_some() || !p.kwonlyargs.is_empty() {
                    return Err(unsupported(p.as_ref(), "this lambda signature"));
                }
            }
            ExprKind::Lambda {
                params,
                body: Box::new(expr(&l.body)?),
            }
        }
        py::Expr::FString(x) => return Err(unsupported(x, "f-strings: use + to join strings")),
        py::Expr::If(x) => return Err(unsupported(x, "`a if c else b`: use px.select(c, a, b)")),
        py::Expr::ListComp(x) => return Err(unsupported(x, "list comprehensions")),
        py::Expr::SetComp(x) => return Err(unsupported(x, "set comprehensions")),
        py::Expr::DictComp(x) => return Err(unsupported(x, "dict comprehensions")),
        py::Expr::Generator(x) => return Err(unsupported(x, "generators")),
        py::Expr::Set(x) => return Err(unsupported(x, "sets")),
        py::Expr::Await(x) => return Err(unsupported(x, "`await`")),
        py::Expr::Yield(x) => return Err(unsupported(x, "`yield`")),
        py::Expr::Named(x) => return Err(unsupported(x, "`:=`")),
        py::Expr::Starred(x) => return Err(unsupported(x, "`*` unpacking")),
        py::Expr::Slice(x) => return Err(unsupported(x, "slices")),
        py::Expr::BytesLiteral(x) => return Err(unsupported(x, "bytes literals")),
        py::Expr::EllipsisLiteral(x) => return Err(unsupported(x, "`...`")),
        other => return Err(unsupported(other, "this expression")),
    };
    Ok(Expr {
        kind,
        span: span(e),
    })
}
