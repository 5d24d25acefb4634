//! String functions.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};
use arrow::compute::kernels::comparison;

use super::datum::*;
use super::{Const, FuncDef, sig};
use crate::plan::DType::{Boolean as B, Int64 as I, String as S};
use crate::plan::Scalar;

const fn f(
    name: &'static str,
    aliases: &'static [&'static str],
    sigs: &'static [super::Sig],
    consts: &'static [(usize, Const)],
    eval: super::EvalFn,
    doc: &'static str,
) -> FuncDef {
    FuncDef::new(name, sigs, eval, doc)
        .aliases(aliases)
        .consts(consts)
}

pub const FUNCS: &[FuncDef] = &[
    f("contains", &[], &[sig(&[S, S], B)], &[], contains, "Whether the string contains the substring.")
    .ex(&[("'hello', 'ell'", "True"), ("'hello', 'z'", "False")]),
    f("startswith", &[], &[sig(&[S, S], B)], &[], starts_with, "Whether the string starts with the prefix (Loupe's; df.s.startswith(p)).")
    .ex(&[("'hello', 'he'", "True"), ("'hello', 'lo'", "False")]),
    f("endswith", &[], &[sig(&[S, S], B)], &[], ends_with, "Whether the string ends with the suffix (Loupe's; df.s.endswith(p)).")
    .ex(&[("'hello', 'lo'", "True"), ("'hello', 'he'", "False")]),
    f("tolower", &["lower"], &[sig(&[S], S)], &[], tolower, "The string in lower case.")
    .ex(&[("'HeLLo'", "'hello'")]),
    f("toupper", &["upper"], &[sig(&[S], S)], &[], toupper, "The string in upper case.")
    .ex(&[("'HeLLo'", "'HELLO'")]),
    f("length", &[], &[sig(&[S], I)], &[], length, "Characters in the string.")
    .ex(&[("'héllo'", "5"), ("''", "0")]),
    f("find", &[], &[sig(&[S, S], I)], &[], find, "The character position of the first occurrence of the substring, -1 when absent.")
    .ex(&[("'héllo', 'l'", "2"), ("'hello', 'z'", "-1"), ("'hello', ''", "0")]),
    f("substring", &[], &[sig(&[S, I, I], S)], &[], substring, "(s, pos, length): at most length characters from character pos; \"\" past the end.")
    .ex(&[("'hello', 1, 3", "'ell'"), ("'hello', 3, 10", "'lo'"), ("'hello', 9, 2", "''"), ("'hello', -1, 2", "''")]),
    f("trim", &[], &[sig(&[S], S)], &[], trim, "The string without leading and trailing whitespace.")
    .ex(&[("'  a b \\t'", "'a b'")]),
    f("strip_prefix", &[], &[sig(&[S, S], S)], &[], strip_prefix, "(prefix, s): s without the prefix when it starts with it, else s unchanged.")
    .ex(&[("'/api', '/api/users'", "'/users'"), ("'/x', '/api/users'", "'/api/users'")]),
    f("replace", &[], &[sig(&[S, S, S], S)], &[(0, Const::Regex), (2, Const::Any)], replace, "(pattern, s, replacement): every match of the regular expression replaced (\\\\1 names a group, as RE2).")
    .ex(&[("'[0-9]+', 'a12b3', '#'", "'a#b#'"), ("'(a)(b)', 'ab', '\\\\2\\\\1$'", "'ba$'")]),
    f("regex_match", &[], &[sig(&[S, S], B)], &[(0, Const::Regex)], regex_match, "(pattern, s): whether the whole string matches the regular expression.")
    .ex(&[("'a.c', 'abc'", "True"), ("'b', 'abc'", "False"), ("'.*b.*', 'abc'", "True")]),
    f("hex_to_ascii", &[], &[sig(&[S], S)], &[], hex_to_ascii, "Hex digits to the bytes they spell, as text (invalid UTF-8 replaced); \"\" when not hex.")
    .ex(&[("'68656c6c6f'", "'hello'"), ("'6z'", "''")]),
    f("bytes_to_hex", &[], &[sig(&[S], S)], &[], bytes_to_hex, "Every byte as \\xHH (upper-case hex), as Pixie prints binary payloads.")
    .ex(&[("'hi'", r"'\\x68\\x69'")]),
    f("atoi", &[], &[sig(&[S, I], I)], &[], atoi, "(s, default): s as a base-10 INT64 (spaces and a sign allowed), else default.")
    .ex(&[("' 42 ', -1", "42"), ("'abc', -1", "-1"), ("'+7', 0", "7")]),
    f("itoa", &[], &[sig(&[I], S)], &[], itoa, "An INT64 as decimal text.")
    .ex(&[("-1234", "'-1234'")]),
    f("split", &[], &[sig(&[S, S], S)], &[(1, Const::Any)], split, "(s, delimiter): the pieces of s as a JSON array of strings.")
    .ex(&[("'a,b,,c', ','", r#"'["a","b","","c"]'"#), ("'abc', '/'", r#"'["abc"]'"#)]),
    f("normalize_sql", &[], &[sig(&[S], S)], &[], normalize_sql, "A SQL statement with its literals replaced by ?, so executions group by statement.")
    .ex(&[("\"SELECT * FROM t WHERE id = 42 AND n = 'x'\"", "'SELECT * FROM t WHERE id = ? AND n = ?'")]),
    f("normalize_pgsql", &[], &[sig(&[S], S), sig(&[S, S], S)], &[], normalize_pgsql, "(sql): as normalize_sql; (sql, req_cmd): Pixie's JSON {\"query\": literals as $1, $2, ..., \"params\": [their texts]}, or {\"error\": ...} when req_cmd is not Query or Execute.")
    .ex(&[("\"SELECT 1 FROM t WHERE a = 'x'\", 'Query'", r#"'{"query":"SELECT $1 FROM t WHERE a = $2","params":["1","\'x\'"]}'"#), ("'SELECT ?', 'Sync'", r#"'{"error":"cmd_code must be one of \'Query\' or \'Execute\'"}'"#)]),
    f("normalize_mysql", &[], &[sig(&[S], S), sig(&[S, I], S)], &[], normalize_mysql, "(sql): as normalize_sql; (sql, req_cmd): Pixie's JSON {\"query\": literals as ?, \"params\": [their texts]}, or {\"error\": ...} when req_cmd is not 3 (COM_QUERY) or 23 (COM_STMT_EXECUTE).")
    .ex(&[("'SELECT * FROM t WHERE id = 7', 3", r#"'{"query":"SELECT * FROM t WHERE id = ?","params":["7"]}'"#), ("'SELECT 1', 1", r#"'{"error":"cmd_code must be one of \'3\' or \'23\'"}'"#)]),
    f("normalize_path", &[], &[sig(&[S], S)], &[], normalize_path, "A URL path with its ids (numbers, uuids, hex) replaced by *.")
    .ex(&[("'/users/123/orders'", "'/users/*/orders'")]),
];

fn arg(args: &[Datum], i: usize) -> Result<&Datum, FuncError> {
    args.get(i)
        .ok_or_else(|| FuncError(format!("missing argument {}", i + 1)))
}

fn compare(
    args: &[Datum],
    len: usize,
    k: fn(&D, &D) -> Result<BooleanArray, arrow::error::ArrowError>,
) -> FResult {
    let (hay, needle) = (arg(args, 0)?, arg(args, 1)?);
    if let Some(n) = scalar_str(needle) {
        let n = Datum::Scalar(literal(&Scalar::String(n)));
        return per_string(hay, &mut |s| {
            let s: ArrayRef = Arc::new(s.clone());
            Ok(Arc::new(k(&D(&Datum::Array(s)), &D(&n))?))
        });
    }
    let cols = columns(args, len)?;
    let (a, b) = (Datum::Array(cols[0].clone()), Datum::Array(cols[1].clone()));
    Ok(shaped(args, Arc::new(k(&D(&a), &D(&b))?)))
}

fn contains(args: &[Datum], len: usize) -> FResult {
    compare(args, len, |a, b| comparison::contains(a, b))
}

fn starts_with(args: &[Datum], len: usize) -> FResult {
    compare(args, len, |a, b| comparison::starts_with(a, b))
}

fn ends_with(args: &[Datum], len: usize) -> FResult {
    compare(args, len, |a, b| comparison::ends_with(a, b))
}

/// A string -> string function of the first argument.
fn unary(args: &[Datum], f: impl Fn(&str, &mut String)) -> FResult {
    per_string(arg(args, 0)?, &mut |s| Ok(strings_by(s, &f)))
}

fn tolower(args: &[Datum], _: usize) -> FResult {
    unary(args, |v, o| o.push_str(&v.to_lowercase()))
}

fn toupper(args: &[Datum], _: usize) -> FResult {
    unary(args, |v, o| o.push_str(&v.to_uppercase()))
}

fn trim(args: &[Datum], _: usize) -> FResult {
    unary(args, |v, o| o.push_str(v.trim()))
}

fn normalize_sql(args: &[Datum], _: usize) -> FResult {
    unary(args, loupe_protocol_parsers::normalize::normalize_sql)
}

fn normalize_path(args: &[Datum], _: usize) -> FResult {
    unary(args, loupe_protocol_parsers::normalize::normalize_path)
}

fn length(args: &[Datum], _: usize) -> FResult {
    per_string(arg(args, 0)?, &mut |s| {
        Ok(Arc::new(
            s.iter()
                .map(|v| v.map(|v| v.chars().count() as i64))
                .collect::<Int64Array>(),
        ))
    })
}

/// A function of two strings, row by row (the second a constant when it
/// is one, so a dictionary column is mapped once per distinct value).
fn two_strings<T>(
    args: &[Datum],
    len: usize,
    f: impl Fn(&str, &str) -> T,
    build: impl Fn(&mut dyn Iterator<Item = Option<T>>) -> ArrayRef,
    second_is_subject: bool,
) -> FResult {
    let (subj, other) = if second_is_subject { (1, 0) } else { (0, 1) };
    if let Some(c) = scalar_str(arg(args, other)?) {
        return per_string(arg(args, subj)?, &mut |s| {
            Ok(build(&mut s.iter().map(|v| v.map(|v| f(v, &c)))))
        });
    }
    let cols = columns(args, len)?;
    let (a, b) = (
        cols[subj]
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("expected strings")?,
        cols[other]
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("expected strings")?,
    );
    let out = build(&mut a.iter().zip(b.iter()).map(|(x, y)| match (x, y) {
        (Some(x), Some(y)) => Some(f(x, y)),
        _ => None,
    }));
    Ok(shaped(args, out))
}

fn ints(it: &mut dyn Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(it.collect::<Int64Array>())
}

fn strs(it: &mut dyn Iterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(it.collect::<StringArray>())
}

fn bools(it: &mut dyn Iterator<Item = Option<bool>>) -> ArrayRef {
    Arc::new(it.collect::<BooleanArray>())
}

fn find(args: &[Datum], len: usize) -> FResult {
    two_strings(
        args,
        len,
        |s, sub| match s.find(sub) {
            Some(b) => s[..b].chars().count() as i64,
            None => -1,
        },
        ints,
        false,
    )
}

fn strip_prefix(args: &[Datum], len: usize) -> FResult {
    two_strings(
        args,
        len,
        |s, p| s.strip_prefix(p).unwrap_or(s).to_string(),
        strs,
        true,
    )
}

/// Characters `start..start + n` of `v`; "" when start or n is negative.
fn chars_of(v: &str, start: i64, n: i64, o: &mut String) {
    if start >= 0 && n >= 0 {
        o.extend(v.chars().skip(start as usize).take(n as usize));
    }
}

fn substring(args: &[Datum], len: usize) -> FResult {
    if let (Some(start), Some(n)) = (scalar_i64(arg(args, 1)?), scalar_i64(arg(args, 2)?)) {
        return unary(args, |v, o| chars_of(v, start, n, o));
    }
    // Positions from columns (`px.substring(s, df.i + 8, df.j - df.i)`).
    let cols = columns(args, len)?;
    let s = cols[0]
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("expected strings")?;
    let p = cols[1]
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or("expected INT64")?;
    let n = cols[2]
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or("expected INT64")?;
    let mut b = arrow::array::StringBuilder::with_capacity(s.len(), s.value_data().len());
    let mut buf = String::new();
    for i in 0..s.len() {
        if s.is_null(i) || p.is_null(i) || n.is_null(i) {
            b.append_null();
            continue;
        }
        buf.clear();
        chars_of(s.value(i), p.value(i), n.value(i), &mut buf);
        b.append_value(&buf);
    }
    Ok(shaped(args, Arc::new(b.finish())))
}

fn regex_of(args: &[Datum], i: usize, what: &str) -> Result<regex::Regex, FuncError> {
    let Some(p) = scalar_str(arg(args, i)?) else {
        return Err(FuncError(format!("{what} takes a constant pattern")));
    };
    regex::Regex::new(&p).map_err(|e| FuncError(format!("{what}: bad pattern {p:?}: {e}")))
}

fn replace(args: &[Datum], _: usize) -> FResult {
    let re = regex_of(args, 0, "px.replace")?;
    let Some(repl) = scalar_str(arg(args, 2)?) else {
        return Err("px.replace takes a constant replacement".into());
    };
    let repl = rewrite(&repl);
    per_string(arg(args, 1)?, &mut |s| {
        Ok(strings_by(s, |v, o| {
            o.push_str(&re.replace_all(v, repl.as_str()))
        }))
    })
}

/// RE2's rewrite string (`\1` a group, `\\` a backslash, `$` itself) in
/// the regex crate's syntax.
fn rewrite(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut it = r.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str(&format!("${{{d}}}"));
                    it.next();
                }
                Some('\\') => {
                    out.push('\\');
                    it.next();
                }
                _ => out.push('\\'),
            },
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

fn regex_match(args: &[Datum], _: usize) -> FResult {
    let p = scalar_str(arg(args, 0)?).unwrap_or_default();
    // A whole-string match, as Pixie's (RE2::FullMatch).
    let re = regex::Regex::new(&format!("(?s)^(?:{p})$"))
        .map_err(|e| FuncError(format!("px.regex_match: bad pattern {p:?}: {e}")))?;
    per_string(arg(args, 1)?, &mut |s| {
        Ok(bools(&mut s.iter().map(|v| v.map(|v| re.is_match(v)))))
    })
}

fn hex_to_ascii(args: &[Datum], _: usize) -> FResult {
    unary(args, |v, o| {
        let h = v.trim();
        let h = h.strip_prefix("0x").unwrap_or(h);
        if h.len() % 2 != 0 {
            return;
        }
        let mut bytes = Vec::with_capacity(h.len() / 2);
        for i in (0..h.len()).step_by(2) {
            match h.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok()) {
                Some(b) => bytes.push(b),
                None => return,
            }
        }
        o.push_str(&String::from_utf8_lossy(&bytes));
    })
}

fn bytes_to_hex(args: &[Datum], _: usize) -> FResult {
    unary(args, |v, o| {
        use std::fmt::Write;
        for b in v.bytes() {
            let _ = write!(o, "\\x{b:02X}");
        }
    })
}

fn atoi(args: &[Datum], len: usize) -> FResult {
    let cols = columns(args, len)?;
    let s = cols[0]
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("expected strings")?;
    let d = cols[1]
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or("expected an INT64")?;
    let out: Int64Array = s
        .iter()
        .zip(d.iter())
        .map(
            |(s, d)| match s.and_then(|s| s.trim().parse::<i64>().ok()) {
                Some(v) => Some(v),
                None => d,
            },
        )
        .collect();
    Ok(finish(args, Arc::new(out)))
}

fn itoa(args: &[Datum], _: usize) -> FResult {
    arg(args, 0)?.map(|a| Ok(arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8)?))
}

fn split(args: &[Datum], _: usize) -> FResult {
    let d = scalar_str(arg(args, 1)?).ok_or("takes a constant delimiter")?;
    unary(args, |v, o| {
        let parts: Vec<&str> = if d.is_empty() {
            v.char_indices()
                .map(|(i, c)| &v[i..i + c.len_utf8()])
                .collect()
        } else {
            v.split(d.as_str()).collect()
        };
        o.push_str(&serde_json::Value::from(parts).to_string());
    })
}

/// Pixie's JSON of a normalized statement (`postgres`: placeholders as
/// `$1, $2, ...` in order of appearance, else `?`).
fn normalized_json(sql: &str, postgres: bool, out: &mut String) {
    let mut norm = String::new();
    let mut lits = Vec::new();
    loupe_protocol_parsers::normalize::normalize_sql_literals(sql, &mut norm, &mut lits);
    let query = if postgres {
        let mut q = String::with_capacity(norm.len() + 8);
        let mut n = 0;
        let b = norm.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let placeholder_end = if b[i] == b'?' {
                Some(i + 1)
            } else if b[i] == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                Some(j)
            } else {
                None
            };
            match placeholder_end {
                Some(end) => {
                    n += 1;
                    q.push_str(&format!("${n}"));
                    i = end;
                }
                None => {
                    let c = norm[i..].chars().next().unwrap_or('?');
                    q.push(c);
                    i += c.len_utf8();
                }
            }
        }
        q
    } else {
        norm
    };
    let params: Vec<&str> = lits.iter().filter_map(|(a, b)| sql.get(*a..*b)).collect();
    out.push_str(&format!(
        "{{\"query\":{},\"params\":{}}}",
        serde_json::Value::from(query),
        serde_json::Value::from(params)
    ));
}

fn normalize_pgsql(args: &[Datum], len: usize) -> FResult {
    if args.len() == 1 {
        return normalize_sql(args, len);
    }
    two_strings(
        args,
        len,
        |sql, cmd| {
            let mut o = String::new();
            if cmd == "Query" || cmd == "Execute" {
                normalized_json(sql, true, &mut o);
            } else {
                o.push_str(r#"{"error":"cmd_code must be one of 'Query' or 'Execute'"}"#);
            }
            o
        },
        strs,
        false,
    )
}

fn normalize_mysql(args: &[Datum], len: usize) -> FResult {
    if args.len() == 1 {
        return normalize_sql(args, len);
    }
    let cols = columns(args, len)?;
    let s = cols[0]
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("expected strings")?;
    let c = cols[1]
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or("expected INT64")?;
    let out: StringArray = s
        .iter()
        .zip(c.iter())
        .map(|(s, c)| {
            let (s, c) = (s?, c?);
            let mut o = String::new();
            if c == 3 || c == 23 {
                normalized_json(s, false, &mut o);
            } else {
                o.push_str(r#"{"error":"cmd_code must be one of '3' or '23'"}"#);
            }
            Some(o)
        })
        .collect();
    Ok(finish(args, Arc::new(out)))
}
