//! Times and durations.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{AsArray, Int64Array, StringBuilder};
use arrow::datatypes::Int64Type;

use super::datum::*;
use super::{FuncDef, SemRule, Sig, sig};
use crate::plan::DType::{Int64 as I, String as S, Time as T};
use crate::plan::Sem;

const fn f(
    name: &'static str,
    sigs: &'static [Sig],
    sem: SemRule,
    eval: super::EvalFn,
    doc: &'static str,
) -> FuncDef {
    FuncDef::new(name, sigs, eval, doc).sem(sem)
}

pub const FUNCS: &[FuncDef] = &[
    f(
        "format_duration",
        &[sig(&[I], S)],
        SemRule::None,
        format_duration_fn,
        "ns as people write durations: 1.5ms, 2.5s, 1m30s.",
    )
    .ex(&[("1500000", "'1.5ms'"), ("90000000000", "'1m30s'")]),
    f(
        "parse_duration",
        &[sig(&[S], I)],
        SemRule::Is(Sem::DurationNs),
        parse_duration_fn,
        "'5m', '-1h30m', '250ms' as ns; null when not a duration.",
    )
    .ex(&[
        ("'1h30m'", "5400000000000"),
        ("'-5m'", "-300000000000"),
        ("'soon'", "None"),
    ]),
    f(
        "time_to_int64",
        &[sig(&[T], I)],
        SemRule::None,
        time_to_int64,
        "A time as ns since the epoch.",
    )
    .ex(&[("px.int64_to_time(5)", "5")]),
    f(
        "int64_to_time",
        &[sig(&[I], T)],
        SemRule::None,
        int64_to_time,
        "ns since the epoch as a time.",
    )
    .ex(&[("7", "px.int64_to_time(7)")]),
];

/// Time units of durations, in ns.
pub const UNITS: &[(&str, i64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// `'-5m'`, `'-1h30m'`, `'-30s'`, `'2d'`, `'1.5s'` as ns.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut rest = rest;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(n_end);
        let u_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u_end);
        let (_, ns) = UNITS.iter().find(|(u, _)| *u == unit)?;
        let part = if num.contains('.') {
            let v: f64 = num.parse().ok()?;
            let p = v * *ns as f64;
            if !p.is_finite() || p.abs() > i64::MAX as f64 {
                return None;
            }
            p as i64
        } else {
            num.parse::<i64>().ok()?.checked_mul(*ns)?
        };
        total = total.checked_add(part)?;
        rest = tail;
    }
    Some(sign * total)
}

/// `1500000` → `1.5ms`; `2500000000` → `2.5s`; `90000000000` → `1m30s`.
pub fn format_duration(ns: i64, out: &mut String) {
    let neg = ns < 0;
    let a = ns.unsigned_abs();
    if neg {
        out.push('-');
    }
    let trim = |v: f64, unit: &str, out: &mut String| {
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        let _ = write!(out, "{s}{unit}");
    };
    if a < 1_000 {
        let _ = write!(out, "{a}ns");
    } else if a < 1_000_000 {
        trim(a as f64 / 1e3, "µs", out);
    } else if a < 1_000_000_000 {
        trim(a as f64 / 1e6, "ms", out);
    } else if a < 60_000_000_000 {
        trim(a as f64 / 1e9, "s", out);
    } else {
        let s = a / 1_000_000_000;
        let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
        if h > 0 {
            let _ = write!(out, "{h}h");
        }
        if m > 0 || h > 0 {
            let _ = write!(out, "{m}m");
        }
        let _ = write!(out, "{s}s");
    }
}

fn one(args: &[Datum]) -> Result<&Datum, FuncError> {
    args.first().ok_or_else(|| "takes one argument".into())
}

fn format_duration_fn(args: &[Datum], _: usize) -> FResult {
    one(args)?.map(|a| {
        let a = a.as_primitive::<Int64Type>();
        let mut b = StringBuilder::new();
        let mut buf = String::new();
        for v in a.iter() {
            match v {
                Some(ns) => {
                    buf.clear();
                    format_duration(ns, &mut buf);
                    b.append_value(&buf);
                }
                None => b.append_null(),
            }
        }
        Ok(Arc::new(b.finish()))
    })
}

fn parse_duration_fn(args: &[Datum], _: usize) -> FResult {
    per_string(one(args)?, &mut |s| {
        Ok(Arc::new(
            s.iter()
                .map(|v| v.and_then(parse_duration))
                .collect::<Int64Array>(),
        ))
    })
}

fn time_to_int64(args: &[Datum], _: usize) -> FResult {
    as_i64(one(args)?)
}

fn int64_to_time(args: &[Datum], _: usize) -> FResult {
    one(args)?.map(|a| to_time(a.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        let f = |ns| {
            let mut s = String::new();
            format_duration(ns, &mut s);
            s
        };
        assert_eq!(f(999), "999ns");
        assert_eq!(f(1_500_000), "1.5ms");
        assert_eq!(f(2_500_000_000), "2.5s");
        assert_eq!(f(90_000_000_000), "1m30s");
        assert_eq!(f(-2_000), "-2µs");
        assert_eq!(parse_duration("-1h30m"), Some(-5_400_000_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("99999999999999999d"), None);
    }
}
