//! Row functions that are not Arrow kernels: durations for people, JSON plucks.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, StringBuilder};
use loupe_topology::plan::Func;

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

/// `px.pluck*`: the value at `key` of each JSON object; null where the text
/// is not JSON, has no such key, or the value has the wrong type.
pub fn pluck(s: &StringArray, key: &str, f: Func) -> ArrayRef {
    let get = |v: Option<&str>| -> Option<serde_json::Value> {
        let mut doc: serde_json::Value = serde_json::from_str(v?).ok()?;
        doc.get_mut(key).map(serde_json::Value::take)
    };
    match f {
        Func::PluckInt64 => Arc::new(
            s.iter()
                .map(|v| {
                    get(v).and_then(|x| {
                        x.as_i64()
                            .or_else(|| x.as_f64().map(|f| f as i64))
                            .or_else(|| x.as_str().and_then(|t| t.parse().ok()))
                    })
                })
                .collect::<Int64Array>(),
        ),
        Func::PluckFloat64 => Arc::new(
            s.iter()
                .map(|v| {
                    get(v).and_then(|x| {
                        x.as_f64()
                            .or_else(|| x.as_str().and_then(|t| t.parse().ok()))
                    })
                })
                .collect::<Float64Array>(),
        ),
        _ => {
            let mut b = StringBuilder::new();
            for v in s.iter() {
                match get(v) {
                    Some(serde_json::Value::String(t)) => b.append_value(t),
                    Some(serde_json::Value::Null) | None => b.append_null(),
                    Some(other) => b.append_value(other.to_string()),
                }
            }
            Arc::new(b.finish())
        }
    }
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
    }
}
