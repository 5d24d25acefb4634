//! Addresses and URIs.

use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray, StringBuilder};

use super::datum::*;
use super::{Const, FuncDef, Sig, sig};
use crate::plan::DType::{Boolean as B, Int64 as I, String as S};

const fn f(
    name: &'static str,
    sigs: &'static [Sig],
    consts: &'static [(usize, Const)],
    eval: super::EvalFn,
    doc: &'static str,
) -> FuncDef {
    FuncDef::new(name, sigs, eval, doc).consts(consts)
}

pub const FUNCS: &[FuncDef] = &[
    f("cidrs_contain_ip", &[sig(&[S, S], B)], &[(0, Const::Any)], cidrs_contain_ip, "(cidrs, ip): whether ip is in one of a JSON array of CIDRs (\"10.0.0.0/8\", IPv6 too); false for what does not parse.")
    .ex(&[(r#"'["10.0.0.0/8", "fd00::/8"]', '10.1.2.3'"#, "True"), (r#"'["10.0.0.0/8"]', '192.168.0.1'"#, "False"), (r#"'["fd00::/8"]', 'fd00::1'"#, "True"), ("'nope', '10.0.0.1'", "False")]),
    f("uri_parse", &[sig(&[S], S)], &[], uri_parse, "A URI's parts as JSON (scheme, userInfo, host, port, path without its leading /, query, fragment; those present), or \"Failed to parse URI\".")
    .ex(&[("'https://px.dev/community/?a=b#c'", r#"'{"scheme":"https","host":"px.dev","path":"community/","query":"a=b","fragment":"c"}'"#), ("'http://u@127.0.0.1:8080'", r#"'{"scheme":"http","userInfo":"u","host":"127.0.0.1","port":8080}'"#), ("'http://h:x/'", "'Port parsing failed.'")]),
    f("uri_recompose", &[sig(&[S, S, S, I, S, S, S], S)], &[], uri_recompose, "(scheme, userInfo, host, port, path, query, fragment): the URI they make; empty parts and port 0 left out.")
    .ex(&[("'grpc', '', '127.0.0.1', 0, '', 'q=1', ''", "'grpc://127.0.0.1/?q=1'"), ("'https', 'u', 'h', 443, 'a/b', '', 'f'", "'https://u@h:443/a/b#f'")]),
];

/// Whether `ip` is inside `cidr` (`a.b.c.d/len` or IPv6).
fn contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if len <= 128 => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn cidrs_contain_ip(args: &[Datum], _: usize) -> FResult {
    let cidrs: Vec<String> = scalar_str(&args[0])
        .and_then(|j| serde_json::from_str::<Vec<serde_json::Value>>(&j).ok())
        .map(|v| {
            v.into_iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    per_string(&args[1], &mut |s| {
        Ok(Arc::new(
            s.iter()
                .map(|ip| {
                    let ip = ip?.trim().parse::<IpAddr>().ok();
                    Some(ip.is_some_and(|ip| cidrs.iter().any(|c| contains(c, ip))))
                })
                .collect::<BooleanArray>(),
        ) as ArrayRef)
    })
}

/// RFC 3986's parts of `u`, or why not.
fn parse_uri(u: &str) -> Result<serde_json::Map<String, serde_json::Value>, &'static str> {
    const FAILED: &str = "Failed to parse URI";
    let mut out = serde_json::Map::new();
    let mut rest = u;
    if let Some(i) = rest.find(':')
        && rest[..i]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && rest[..i]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        out.insert("scheme".into(), rest[..i].into());
        rest = &rest[i + 1..];
    }
    let (before_frag, frag) = match rest.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let (before_query, query) = match before_frag.split_once('?') {
        Some((a, b)) => (a, Some(b)),
        None => (before_frag, None),
    };
    let mut path = before_query;
    if let Some(auth_and_path) = before_query.strip_prefix("//") {
        let end = auth_and_path.find('/').unwrap_or(auth_and_path.len());
        let authority = &auth_and_path[..end];
        path = &auth_and_path[end..];
        let hostport = match authority.rsplit_once('@') {
            Some((ui, hp)) => {
                out.insert("userInfo".into(), ui.into());
                hp
            }
            None => authority,
        };
        let (host, port) = if hostport.starts_with('[') {
            match hostport.find(']') {
                Some(i) => (&hostport[..=i], hostport[i + 1..].strip_prefix(':')),
                None => return Err(FAILED),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
            return Err(FAILED);
        }
        out.insert("host".into(), host.into());
        if let Some(p) = port {
            if p.starts_with('-') {
                return Err(FAILED);
            }
            let n: u16 = p.parse().map_err(|_| "Port parsing failed.")?;
            out.insert("port".into(), n.into());
        }
    }
    if path.chars().any(|c| c.is_whitespace()) {
        return Err(FAILED);
    }
    let path = path.strip_prefix('/').unwrap_or(path);
    if !path.is_empty() {
        out.insert("path".into(), path.into());
    }
    if let Some(q) = query {
        out.insert("query".into(), q.into());
    }
    if let Some(f) = frag {
        out.insert("fragment".into(), f.into());
    }
    Ok(out)
}

fn uri_parse(args: &[Datum], _: usize) -> FResult {
    per_string(&args[0], &mut |s| {
        Ok(strings_by(s, |u, o| match parse_uri(u) {
            // In Pixie's key order.
            Ok(m) => {
                let mut parts = Vec::new();
                for k in [
                    "scheme", "userInfo", "host", "port", "path", "query", "fragment",
                ] {
                    if let Some(v) = m.get(k) {
                        parts.push(format!("{}:{v}", serde_json::Value::from(k)));
                    }
                }
                o.push('{');
                o.push_str(&parts.join(","));
                o.push('}');
            }
            Err(e) => o.push_str(e),
        }))
    })
}

fn uri_recompose(args: &[Datum], len: usize) -> FResult {
    let cols = columns(args, len)?;
    let s = |i: usize| cols[i].as_any().downcast_ref::<StringArray>();
    let (Some(scheme), Some(ui), Some(host), Some(path), Some(query), Some(frag)) =
        (s(0), s(1), s(2), s(4), s(5), s(6))
    else {
        return Err("expected strings".into());
    };
    let port = cols[3]
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or("expected an INT64 port")?;
    let n = if all_scalar(args) { 1 } else { len };
    let mut b = StringBuilder::new();
    for r in 0..n {
        fn text(a: &StringArray, r: usize) -> &str {
            if a.is_null(r) { "" } else { a.value(r) }
        }
        let t = |a| text(a, r);
        let p = if port.is_null(r) { 0 } else { port.value(r) };
        if p < 0 {
            b.append_value("Failed to recompose URI");
            continue;
        }
        let mut o = String::new();
        if !t(scheme).is_empty() {
            o.push_str(t(scheme));
            o.push(':');
        }
        let authority = !t(host).is_empty();
        if authority {
            o.push_str("//");
            if !t(ui).is_empty() {
                o.push_str(t(ui));
                o.push('@');
            }
            o.push_str(t(host));
            if p > 0 {
                o.push_str(&format!(":{p}"));
            }
            o.push('/');
        }
        o.push_str(t(path));
        if !t(query).is_empty() {
            o.push('?');
            o.push_str(t(query));
        }
        if !t(frag).is_empty() {
            o.push('#');
            o.push_str(t(frag));
        }
        b.append_value(o);
    }
    Ok(shaped(args, Arc::new(b.finish())))
}
