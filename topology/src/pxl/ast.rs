//! The Python subset PxL is, as a small syntax tree of our own. Only
//! [`super::parse`] knows the parser crate; everything else reads this.

use super::error::Span;

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Import {
        module: String,
        alias: Option<String>,
        span: Span,
    },
    Assign {
        target: Expr,
        value: Expr,
    },
    Expr(Expr),
    Def(Box<Def>),
    Return {
        value: Option<Expr>,
        span: Span,
    },
    Pass,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    pub name: String,
    pub params: Vec<Param>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub annotation: Option<Expr>,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOpKind {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryKind {
    Neg,
    Plus,
    /// `~`
    Invert,
    /// `not`
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpKind {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoolKind {
    And,
    Or,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Keyword {
    pub name: String,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Name(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    /// `value.attr`; the span of `attr` alone.
    Attr(Box<Expr>, String, Span),
    Subscript(Box<Expr>, Box<Expr>),
    Call {
        func: Box<Expr>,
        args: Vec<Expr>,
        kwargs: Vec<Keyword>,
    },
    Bin(BinOpKind, Box<Expr>, Box<Expr>),
    Unary(UnaryKind, Box<Expr>),
    Compare(Box<Expr>, Vec<(CmpKind, Expr)>),
    BoolOp(BoolKind, Vec<Expr>),
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    Lambda {
        params: Vec<String>,
        body: Box<Expr>,
    },
}
