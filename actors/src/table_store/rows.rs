//! Rows as they leave the parsers, and their columnar form.

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, StringBuilder, StringDictionaryBuilder,
    TimestampNanosecondBuilder,
};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use loupe_k8s::ProcessInfo;
use loupe_protocol_parsers::http::HttpRecord;
use std::sync::Arc;

/// What every record of one connection shares.
#[derive(Debug)]
pub struct ConnMeta {
    pub local_addr: String,
    pub local_port: u16,
    pub remote_addr: String,
    pub remote_port: u16,
    /// 1 client side, 2 server side (Pixie's `trace_role`).
    pub trace_role: i64,
    pub process: Arc<ProcessInfo>,
}

/// One `http_events` row before it is columnar. Headers are already
/// redacted; bodies kept only as far as the agent's config file says.
#[derive(Debug)]
pub struct HttpRow {
    pub conn: Arc<ConnMeta>,
    /// When the response completed, ns since the epoch.
    pub time_ns: i64,
    pub record: HttpRecord,
}

/// Marker stored in a body column: content is redacted by default (its size
/// is in the `*_body_size` column).
pub const REDACTED_BODY: &str = "<redacted>";

/// What a body column holds: by default never the content, only that
/// there was one; the leading bytes an operator chose to keep (the agent's
/// config file) when there are any.
fn body_marker(size: u64, prefix: &[u8]) -> std::borrow::Cow<'_, str> {
    if !prefix.is_empty() {
        String::from_utf8_lossy(prefix)
    } else if size > 0 {
        REDACTED_BODY.into()
    } else {
        "".into()
    }
}

/// Builds `http_events` record batches.
pub struct HttpBatchBuilder {
    time: TimestampNanosecondBuilder,
    upid: StringDictionaryBuilder<Int32Type>,
    remote_addr: StringBuilder,
    remote_port: Int64Builder,
    local_addr: StringBuilder,
    local_port: Int64Builder,
    trace_role: Int64Builder,
    encrypted: BooleanBuilder,
    major: Int64Builder,
    minor: Int64Builder,
    content_type: StringDictionaryBuilder<Int32Type>,
    req_headers: StringBuilder,
    req_method: StringDictionaryBuilder<Int32Type>,
    req_path: StringBuilder,
    req_body: StringBuilder,
    req_body_size: Int64Builder,
    resp_headers: StringBuilder,
    resp_status: Int64Builder,
    resp_message: StringDictionaryBuilder<Int32Type>,
    resp_body: StringBuilder,
    resp_body_size: Int64Builder,
    resp_latency: Int64Builder,
    rows: usize,
    min_time: i64,
    max_time: i64,
    json: String,
}

impl Default for HttpBatchBuilder {
    fn default() -> Self {
        HttpBatchBuilder {
            time: TimestampNanosecondBuilder::new(),
            upid: StringDictionaryBuilder::new(),
            remote_addr: StringBuilder::new(),
            remote_port: Int64Builder::new(),
            local_addr: StringBuilder::new(),
            local_port: Int64Builder::new(),
            trace_role: Int64Builder::new(),
            encrypted: BooleanBuilder::new(),
            major: Int64Builder::new(),
            minor: Int64Builder::new(),
            content_type: StringDictionaryBuilder::new(),
            req_headers: StringBuilder::new(),
            req_method: StringDictionaryBuilder::new(),
            req_path: StringBuilder::new(),
            req_body: StringBuilder::new(),
            req_body_size: Int64Builder::new(),
            resp_headers: StringBuilder::new(),
            resp_status: Int64Builder::new(),
            resp_message: StringDictionaryBuilder::new(),
            resp_body: StringBuilder::new(),
            resp_body_size: Int64Builder::new(),
            resp_latency: Int64Builder::new(),
            rows: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            json: String::with_capacity(512),
        }
    }
}

/// The stored schema of `http_events` (metadata columns come from `upid`).
pub fn stored_schema() -> arrow::datatypes::SchemaRef {
    static S: std::sync::OnceLock<arrow::datatypes::SchemaRef> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        loupe_topology::schema::stored_table(loupe_topology::schema::HTTP_EVENTS).unwrap_or_else(
            || loupe_topology::schema::stored(&loupe_topology::schema::http_events()),
        )
    })
    .clone()
}

/// Headers as a JSON object, written into `out` without allocating;
/// repeated names join their values with ", ".
fn headers_json(out: &mut String, headers: &[(String, String)]) {
    out.clear();
    out.push('{');
    let mut first = true;
    for (i, (name, value)) in headers.iter().enumerate() {
        if headers[..i]
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        push_json_str(out, name);
        out.push_str(":\"");
        push_json_escaped(out, value);
        for (n, v) in &headers[i + 1..] {
            if n.eq_ignore_ascii_case(name) {
                out.push_str(", ");
                push_json_escaped(out, v);
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_escaped(out, s);
    out.push('"');
}

/// JSON string escaping (RFC 8259): quote, backslash and control characters.
/// Every byte that needs escaping is ASCII, so the scan is over bytes and the
/// common case (nothing to escape) is one `push_str`.
fn push_json_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on char boundaries.
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            use std::fmt::Write;
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

impl HttpBatchBuilder {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn append(&mut self, row: &HttpRow) {
        self.append_record(&row.conn, row.time_ns, &row.record);
    }

    /// One row: the record of a connection, completed at `time_ns` (wall).
    pub fn append_record(&mut self, c: &ConnMeta, time_ns: i64, r: &HttpRecord) {
        let p = &c.process;
        self.time.append_value(time_ns);
        self.min_time = self.min_time.min(time_ns);
        self.max_time = self.max_time.max(time_ns);
        self.upid.append_value(&p.upid);
        self.remote_addr.append_value(&c.remote_addr);
        self.remote_port.append_value(c.remote_port as i64);
        self.local_addr.append_value(&c.local_addr);
        self.local_port.append_value(c.local_port as i64);
        self.trace_role.append_value(c.trace_role);
        self.encrypted.append_value(false);
        self.major.append_value(1);
        self.minor.append_value(r.resp.minor_version as i64);
        let ct = if r.resp.content_type.is_empty() {
            &r.req.content_type
        } else {
            &r.resp.content_type
        };
        self.content_type.append_value(ct);
        headers_json(&mut self.json, &r.req.headers);
        self.req_headers.append_value(&self.json);
        self.req_method.append_value(&r.req.method);
        self.req_path.append_value(&r.req.path);
        self.req_body
            .append_value(body_marker(r.req.body_size, &r.req.body_prefix));
        self.req_body_size
            .append_value(r.req.body_size.min(i64::MAX as u64) as i64);
        headers_json(&mut self.json, &r.resp.headers);
        self.resp_headers.append_value(&self.json);
        self.resp_status.append_value(r.resp.status as i64);
        self.resp_message.append_value(&r.resp.reason);
        self.resp_body
            .append_value(body_marker(r.resp.body_size, &r.resp.body_prefix));
        self.resp_body_size
            .append_value(r.resp.body_size.min(i64::MAX as u64) as i64);
        self.resp_latency
            .append_value(r.latency_ns().min(i64::MAX as u64) as i64);
        self.rows += 1;
    }

    /// Finishes the batch; returns it with its time range.
    pub fn finish(&mut self) -> Option<(RecordBatch, i64, i64)> {
        if self.rows == 0 {
            return None;
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.upid.finish()),
            Arc::new(self.remote_addr.finish()),
            Arc::new(self.remote_port.finish()),
            Arc::new(self.local_addr.finish()),
            Arc::new(self.local_port.finish()),
            Arc::new(self.trace_role.finish()),
            Arc::new(self.encrypted.finish()),
            Arc::new(self.major.finish()),
            Arc::new(self.minor.finish()),
            Arc::new(self.content_type.finish()),
            Arc::new(self.req_headers.finish()),
            Arc::new(self.req_method.finish()),
            Arc::new(self.req_path.finish()),
            Arc::new(self.req_body.finish()),
            Arc::new(self.req_body_size.finish()),
            Arc::new(self.resp_headers.finish()),
            Arc::new(self.resp_status.finish()),
            Arc::new(self.resp_message.finish()),
            Arc::new(self.resp_body.finish()),
            Arc::new(self.resp_body_size.finish()),
            Arc::new(self.resp_latency.finish()),
        ];
        let range = (self.min_time, self.max_time);
        self.rows = 0;
        self.min_time = i64::MAX;
        self.max_time = i64::MIN;
        // Invariant: the columns above match the stored schema of
        // `http_events` field for field; `batch_matches_schema` keeps it so.
        let batch = RecordBatch::try_new(stored_schema(), cols)
            .expect("http_events builder columns match the schema");
        Some((batch, range.0, range.1))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use loupe_protocol_parsers::http::HttpMessage;

    pub(crate) fn row(time_ns: i64, path: &str) -> HttpRow {
        let mut req = HttpMessage {
            method: "GET".into(),
            path: path.into(),
            ts_start_ns: 100,
            ..Default::default()
        };
        req.headers = vec![
            ("Host".into(), "a".into()),
            ("X-A".into(), "1".into()),
            ("x-a".into(), "2\"".into()),
        ];
        let resp = HttpMessage {
            status: 200,
            reason: "OK".into(),
            ts_end_ns: 350,
            body_size: 5,
            ..Default::default()
        };
        HttpRow {
            conn: Arc::new(ConnMeta {
                local_addr: "127.0.0.1".into(),
                local_port: 80,
                remote_addr: "127.0.0.1".into(),
                remote_port: 5000,
                trace_role: 2,
                process: Arc::new(ProcessInfo {
                    upid: "n:1:2".into(),
                    node: "n".into(),
                    pid: 1,
                    ..Default::default()
                }),
            }),
            time_ns,
            record: HttpRecord { req, resp },
        }
    }

    #[test]
    fn batch_matches_schema() {
        let mut b = HttpBatchBuilder::default();
        b.append(&row(10, "/a"));
        b.append(&row(20, "/b"));
        let (batch, lo, hi) = b.finish().unwrap();
        assert_eq!((batch.num_rows(), lo, hi), (2, 10, 20));
        assert!(b.finish().is_none());
        let json = batch.column_by_name("req_headers").unwrap();
        let s = arrow::array::as_string_array(json).value(0);
        assert_eq!(s, r#"{"Host":"a","X-A":"1, 2\""}"#);
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        assert_eq!(v["X-A"], "1, 2\"");
        let mut out = String::new();
        headers_json(&mut out, &[("a\u{1}\n".into(), "\\é\t".into())]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["a\u{1}\n"], "\\é\t");
        let lat = batch.column_by_name("resp_latency").unwrap();
        assert_eq!(
            arrow::array::as_primitive_array::<arrow::datatypes::Int64Type>(lat).value(0),
            250
        );
    }
}
