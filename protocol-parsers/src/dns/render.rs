//! The JSON columns of `dns_events`, rendered as Pixie's DNS stitcher renders them
//! (`HeaderToJSONString`, `ProcessReq`, `ProcessResp` in Pixie's
//! `protocols/dns/stitcher.cc`): same keys, same order, no spaces.
//!
//! ```text
//! header   {"txid":4660,"qr":0,"opcode":0,"aa":0,"tc":0,"rd":1,"ra":0,"ad":0,"cd":0,
//!           "rcode":0,"num_queries":1,"num_answers":0,"num_auth":0,"num_addl":0}
//! req_body {"queries":[{"name":"example.test","type":"A"}]}
//! resp_body {"answers":[{"name":"www.example.test","type":"CNAME","cname":"example.test"},
//!           {"name":"example.test","type":"A","addr":"10.1.2.3"}]}
//! answers  ["example.test","10.1.2.3"]
//! ```
//! Pixie renders only A, AAAA and CNAME answers; other types get their RDATA in
//! presentation form under `"data"` (e.g. SRV `"0 5 5060 sip.example.test"`). Pixie writes
//! the query type from the address family of the question, so it is "" for anything but A
//! and AAAA; here it is the type's mnemonic.

use std::fmt::Write as _;

use super::message::{Answer, Header, Question, RdataKind, type_name};

/// Appends `s` as a JSON string literal.
pub(crate) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(crate) fn header(h: &Header) -> String {
    let mut s = String::with_capacity(160);
    let _ = write!(
        s,
        "{{\"txid\":{},\"qr\":{},\"opcode\":{},\"aa\":{},\"tc\":{},\"rd\":{},\"ra\":{},\"ad\":{},\"cd\":{},\"rcode\":{},\"num_queries\":{},\"num_answers\":{},\"num_auth\":{},\"num_addl\":{}}}",
        h.id,
        h.qr(),
        h.opcode(),
        h.aa(),
        h.tc(),
        h.rd(),
        h.ra(),
        h.ad(),
        h.cd(),
        h.rcode(),
        h.qdcount,
        h.ancount,
        h.nscount,
        h.arcount,
    );
    s
}

pub(crate) fn req_body(questions: &[Question]) -> String {
    let mut s = String::from("{\"queries\":[");
    for (i, q) in questions.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"name\":");
        json_str(&mut s, &q.name);
        s.push_str(",\"type\":");
        json_str(&mut s, &type_name(q.qtype));
        s.push('}');
    }
    s.push_str("]}");
    s
}

pub(crate) fn resp_body(answers: &[Answer]) -> String {
    let mut s = String::from("{\"answers\":[");
    for (i, a) in answers.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"name\":");
        json_str(&mut s, &a.name);
        s.push_str(",\"type\":");
        json_str(&mut s, &type_name(a.rtype));
        s.push_str(match a.kind {
            RdataKind::Addr => ",\"addr\":",
            RdataKind::Cname => ",\"cname\":",
            RdataKind::Other => ",\"data\":",
        });
        json_str(&mut s, &a.data);
        s.push('}');
    }
    s.push_str("]}");
    s
}

pub(crate) fn answers(answers: &[Answer]) -> String {
    let mut s = String::from("[");
    for (i, a) in answers.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_str(&mut s, &a.data);
    }
    s.push(']');
    s
}
