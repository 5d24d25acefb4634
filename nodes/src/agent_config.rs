//! The agent's config file (`loupe agent --config FILE`): what the operator
//! who runs the agent chooses to keep beyond the default redaction, per
//! table. Only that file widens capture: no query, no flag of another
//! command and no message on the wire can, and what it widens shows in
//! `loupe nodes` and `loupe check`, so a reader of the data knows.
//!
//! ```toml
//! [capture.http_events]
//! query_values = true            # /login?user=bob, not /login?user=<redacted>
//! headers = ["x-session-id"]     # these headers' values, though their names look secret ("*": all)
//! body_bytes = 256               # the first 256 bytes of each body, not <redacted>
//!
//! [capture.pgsql_events]
//! literals = true                # SQL as sent, not with ? for literals
//!
//! [capture.mysql_events]
//! literals = true
//!
//! [capture.redis_events]
//! values = true                  # ["k","v"], not ["k","<redacted>"]
//! ```
//!
//! `dns_events` redacts nothing, so it has no section. An unknown table or
//! key is an error naming the line, never ignored: a typo must not leave
//! the operator believing something is captured (or hidden) that is not.

use std::path::Path;

use loupe_actors::protocols::ParserConfig;
use serde::Deserialize;

/// Most body bytes an operator may keep per message (the head limit).
pub const MAX_BODY_BYTES: usize = 64 << 10;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default)]
    pub capture: Capture,
}

/// One section per table that redacts something.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    pub http_events: Option<HttpCapture>,
    pub pgsql_events: Option<SqlCapture>,
    pub mysql_events: Option<SqlCapture>,
    pub redis_events: Option<RedisCapture>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCapture {
    /// Query-string values as sent.
    #[serde(default)]
    pub query_values: bool,
    /// Headers whose values are kept although their names look secret
    /// (case-insensitive); `"*"`: every header.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Leading bytes of each body kept (lossy UTF-8), at most
    /// [`MAX_BODY_BYTES`].
    #[serde(default)]
    pub body_bytes: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlCapture {
    /// Statements as sent, literals included.
    #[serde(default)]
    pub literals: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisCapture {
    /// Command arguments and replies as sent.
    #[serde(default)]
    pub values: bool,
}

impl AgentConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> anyhow::Result<AgentConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("the agent config {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("the agent config {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<AgentConfig> {
        let c: AgentConfig = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(h) = &c.capture.http_events {
            if h.body_bytes > MAX_BODY_BYTES {
                anyhow::bail!(
                    "capture.http_events.body_bytes = {}: at most {MAX_BODY_BYTES}",
                    h.body_bytes
                );
            }
            if let Some(bad) = h.headers.iter().find(|n| n.as_str() != "*" && !is_token(n)) {
                anyhow::bail!("capture.http_events.headers: {bad:?} is not a header name");
            }
        }
        Ok(c)
    }

    /// Sets the parsers' capture to what the file widens.
    pub fn apply(&self, p: &mut ParserConfig) {
        let c = &self.capture;
        if let Some(h) = &c.http_events {
            p.http_keep.query_values = h.query_values;
            p.http_keep.all_headers = h.headers.iter().any(|n| n == "*");
            p.http_keep.headers = h
                .headers
                .iter()
                .filter(|n| n.as_str() != "*")
                .map(|n| n.to_ascii_lowercase())
                .collect();
            p.http.keep_body_prefix = h.body_bytes;
        }
        if let Some(s) = &c.pgsql_events {
            p.pgsql.full_capture = s.literals;
        }
        if let Some(s) = &c.mysql_events {
            p.mysql.full_capture = s.literals;
        }
        if let Some(r) = &c.redis_events {
            p.redis.full_capture = r.values;
        }
    }

    /// What is kept beyond the default redaction, one entry per table
    /// (empty: nothing).
    pub fn widened(&self) -> Vec<String> {
        let c = &self.capture;
        let mut out = Vec::new();
        if let Some(h) = &c.http_events {
            let mut kept = Vec::new();
            if h.query_values {
                kept.push("query values".to_string());
            }
            if !h.headers.is_empty() {
                kept.push(format!("headers {}", h.headers.join(",")));
            }
            if h.body_bytes > 0 {
                kept.push(format!("{} body bytes", h.body_bytes));
            }
            if !kept.is_empty() {
                out.push(format!("http_events: {}", kept.join(", ")));
            }
        }
        for (table, on) in [
            ("pgsql_events", c.pgsql_events.as_ref().map(|s| s.literals)),
            ("mysql_events", c.mysql_events.as_ref().map(|s| s.literals)),
        ] {
            if on == Some(true) {
                out.push(format!("{table}: SQL literals"));
            }
        }
        if c.redis_events.as_ref().is_some_and(|r| r.values) {
            out.push("redis_events: values".into());
        }
        out
    }
}

/// An HTTP field name (RFC 9110 token).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_widened_by_default() {
        let c = AgentConfig::parse("").unwrap();
        assert!(c.widened().is_empty());
        let mut p = ParserConfig::default();
        c.apply(&mut p);
        assert!(!p.pgsql.full_capture && !p.mysql.full_capture && !p.redis.full_capture);
        assert!(!p.http_keep.query_values && p.http_keep.headers.is_empty());
        assert_eq!(p.http.keep_body_prefix, 0);
    }

    #[test]
    fn each_table_widens_only_itself() {
        let c = AgentConfig::parse(
            r#"
            [capture.http_events]
            query_values = true
            headers = ["X-Session-Id"]
            body_bytes = 128
            [capture.pgsql_events]
            literals = true
            "#,
        )
        .unwrap();
        let mut p = ParserConfig::default();
        c.apply(&mut p);
        assert!(p.http_keep.query_values);
        assert_eq!(p.http_keep.headers, ["x-session-id"]);
        assert!(!p.http_keep.all_headers);
        assert_eq!(p.http.keep_body_prefix, 128);
        assert!(p.pgsql.full_capture);
        assert!(!p.mysql.full_capture && !p.redis.full_capture);
        assert_eq!(
            c.widened(),
            [
                "http_events: query values, headers X-Session-Id, 128 body bytes",
                "pgsql_events: SQL literals"
            ]
        );
    }

    #[test]
    fn typos_are_errors_that_name_the_line() {
        let e = AgentConfig::parse("[capture.http_events]\nquery_value = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("query_value"), "{e}");
        let e = AgentConfig::parse("[capture.dns_events]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dns_events") && e.contains("http_events"), "{e}");
        let e = AgentConfig::parse("[capture.redis_events]\nvalues = \"yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = AgentConfig::parse("[capture.http_events]\nbody_bytes = 1000000\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 65536"), "{e}");
        let e = AgentConfig::parse("[capture.http_events]\nheaders = [\"a b\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a header name"), "{e}");
    }
}
