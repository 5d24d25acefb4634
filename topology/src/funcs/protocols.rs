//! Names of protocols' codes (`px.http_resp_message(404)` is "Not Found").

use std::sync::Arc;

use arrow::array::{AsArray, StringBuilder};
use arrow::datatypes::Int64Type;

use super::datum::*;
use super::{FuncDef, sig};
use crate::plan::DType::{Int64 as I, String as S};

const CODE: &[super::Sig] = &[sig(&[I], S)];

const fn f(name: &'static str, eval: super::EvalFn, doc: &'static str) -> FuncDef {
    FuncDef::new(name, CODE, eval, doc)
}

pub const FUNCS: &[FuncDef] = &[
    f(
        "http_resp_message",
        http_resp_message,
        "An HTTP status's reason phrase; \"Unassigned\" for an unknown code.",
    )
    .ex(&[("404", "'Not Found'"), ("299", "'Unassigned'")]),
    f(
        "dns_rcode_name",
        dns_rcode_name,
        "A DNS response code's name (NXDOMAIN, ...); else the number.",
    )
    .ex(&[("3", "'NXDOMAIN'"), ("99", "'99'")]),
    f(
        "mysql_command_name",
        mysql_command_name,
        "A MySQL command's name (Query, StmtExecute, ...); else the number.",
    )
    .ex(&[("3", "'Query'"), ("23", "'StmtExecute'"), ("99", "'99'")]),
    f(
        "grpc_status_code_to_str",
        grpc_status,
        "A gRPC status code's name; \"unknown code\" else.",
    )
    .ex(&[("14", "'UNAVAILABLE'"), ("99", "'unknown code'")]),
    f(
        "protocol_name",
        protocol_name,
        "The name of Pixie's protocol number (1 HTTP, 5 PGSQL, ...).",
    )
    .ex(&[("5", "'PGSQL'"), ("42", "'Invalid (42)'")]),
    f(
        "kafka_api_key_name",
        kafka_api_key_name,
        "A Kafka API key's name; else the number.",
    )
    .ex(&[("0", "'Produce'"), ("999", "'999'")]),
    f(
        "mux_frame_type_name",
        mux_frame_type_name,
        "A Finagle Mux frame type's name; \"Unknown (n)\" else.",
    )
    .ex(&[("-1", "'Rreq'"), ("9", "'Unknown (9)'")]),
    f(
        "amqp_frame_type_name",
        amqp_frame_type_name,
        "An AMQP frame type's name; else the number.",
    )
    .ex(&[("8", "'Heartbeat'"), ("5", "'5'")]),
    f(
        "cql_opcode_name",
        cql_opcode_name,
        "A CQL opcode's name; else the number.",
    )
    .ex(&[("7", "'Query'"), ("99", "'99'")]),
];

fn by_code(args: &[Datum], name: impl Fn(i64, &mut String)) -> FResult {
    args.first().ok_or("takes one argument")?.map(|a| {
        let mut b = StringBuilder::new();
        let mut buf = String::new();
        for v in a.as_primitive::<Int64Type>().iter() {
            match v {
                Some(c) => {
                    buf.clear();
                    name(c, &mut buf);
                    b.append_value(&buf);
                }
                None => b.append_null(),
            }
        }
        Ok(Arc::new(b.finish()))
    })
}

/// The name at `code` in `table`, else `fallback`'s text.
fn lookup(table: &[(i64, &str)], code: i64, out: &mut String, fallback: impl FnOnce(&mut String)) {
    match table.iter().find(|(c, _)| *c == code) {
        Some((_, n)) => out.push_str(n),
        None => fallback(out),
    }
}

fn number(code: i64) -> impl FnOnce(&mut String) {
    move |o: &mut String| o.push_str(&code.to_string())
}

const HTTP: &[(i64, &str)] = &[
    (100, "Continue"),
    (101, "Switching Protocols"),
    (102, "Processing"),
    (103, "Early Hints"),
    (200, "OK"),
    (201, "Created"),
    (202, "Accepted"),
    (203, "Non-Authoritative Information"),
    (204, "No Content"),
    (205, "Reset Content"),
    (206, "Partial Content"),
    (207, "Multi-Status"),
    (208, "Already Reported"),
    (226, "IM Used"),
    (300, "Multiple Choices"),
    (301, "Moved Permanently"),
    (302, "Found"),
    (303, "See Other"),
    (304, "Not Modified"),
    (305, "Use Proxy"),
    (306, "(Unused)"),
    (307, "Temporary Redirect"),
    (308, "Permanent Redirect"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (402, "Payment Required"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (406, "Not Acceptable"),
    (407, "Proxy Authentication Required"),
    (408, "Request Timeout"),
    (409, "Conflict"),
    (410, "Gone"),
    (411, "Length Required"),
    (412, "Precondition Failed"),
    (413, "Payload Too Large"),
    (414, "URI Too Long"),
    (415, "Unsupported Media Type"),
    (416, "Range Not Satisfiable"),
    (417, "Expectation Failed"),
    (421, "Misdirected Request"),
    (422, "Unprocessable Entity"),
    (423, "Locked"),
    (424, "Failed Dependency"),
    (425, "Too Early"),
    (426, "Upgrade Required"),
    (428, "Precondition Required"),
    (429, "Too Many Requests"),
    (431, "Request Header Fields Too Large"),
    (451, "Unavailable For Legal Reasons"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
    (505, "HTTP Version Not Supported"),
    (506, "Variant Also Negotiates"),
    (507, "Insufficient Storage"),
    (508, "Loop Detected"),
    (510, "Not Extended"),
    (511, "Network Authentication Required"),
];

fn http_resp_message(args: &[Datum], _: usize) -> FResult {
    by_code(args, |c, o| {
        lookup(HTTP, c, o, |o| o.push_str("Unassigned"))
    })
}

const DNS: &[(i64, &str)] = &[
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (7, "YXRRSET"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (10, "NOTZONE"),
    (11, "DSOTYPENI"),
    (16, "BADVERS"),
    (17, "BADKEY"),
    (18, "BADTIME"),
    (19, "BADMODE"),
    (20, "BADNAME"),
    (21, "BADALG"),
    (22, "BADTRUNC"),
    (23, "BADCOOKIE"),
];

fn dns_rcode_name(args: &[Datum], _: usize) -> FResult {
    by_code(args, |c, o| lookup(DNS, c, o, number(c)))
}

const MYSQL: &[&str] = &[
    "Sleep",
    "Quit",
    "InitDB",
    "Query",
    "FieldList",
    "CreateDB",
    "DropDB",
    "Refresh",
    "Shutdown",
    "Statistics",
    "ProcessInfo",
    "Connect",
    "ProcessKill",
    "Debug",
    "Ping",
    "Time",
    "DelayedInsert",
    "ChangeUser",
    "BinlogDump",
    "TableDump",
    "ConnectOut",
    "RegisterSlave",
    "StmtPrepare",
    "StmtExecute",
    "StmtSendLongData",
    "StmtClose",
    "StmtReset",
    "SetOption",
    "StmtFetch",
    "Daemon",
    "BinlogDumpGTID",
    "ResetConnection",
];

fn mysql_command_name(args: &[Datum], _: usize) -> FResult {
    by_code(args, |c, o| {
        match usize::try_from(c).ok().and_then(|i| MYSQL.get(i)) {
            Some(n) => o.push_str(n),
            None => o.push_str(&c.to_string()),
        }
    })
}

const GRPC: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

fn grpc_status(args: &[Datum], _: usize) -> FResult {
    by_code(args, |c, o| {
        match usize::try_from(c).ok().and_then(|i| GRPC.get(i)) {
            Some(n) => o.push_str(n),
            None if c == -1 => o.push_str("DO_NOT_USE"),
            None => o.push_str("unknown code"),
        }
    })
}

const PROTOCOLS: &[(i64, &str)] = &[
    (0, "Unknown"),
    (1, "HTTP"),
    (2, "HTTP2"),
    (3, "MySQL"),
    (4, "CQL"),
    (5, "PGSQL"),
    (6, "DNS"),
    (7, "Redis"),
    (8, "NATS"),
    (9, "Mongo"),
    (10, "Kafka"),
    (12, "AMQP"),
];

fn protocol_name(args: &[Datum], _: usize) -> FResult {
    by_code(args, |c, o| {
        lookup(PROTOCOLS, c, o, |o| o.push_str(&format!("Invalid ({c})")))
    })
}

const KAFKA: &[(i64, &str)] = &[
    (0, "Produce"),
    (1, "Fetch"),
    (2, "ListOffsets"),
    (3, "Metadata"),
    (4, "LeaderAndIsr"),
    (5, "StopReplica"),
    (6, "UpdateMetadata"),
    (7, "ControlledShutdown"),
    (8, "OffsetCommit"),
    (9, "OffsetFetch"),
    (10, "FindCoordinator"),
    (11, "JoinGroup"),
    (12, "Heartbeat"),
    (13, "LeaveGroup"),
    (14, "SyncGroup"),
    (15, "DescribeGroups"),
    (16, "ListGroups"),
    (17, "SaslHandshake"),
    (18, "ApiVersions"),
    (19, "CreateTopics"),
    (20, "DeleteTopics"),
    (21, "DeleteRecords"),
    (22, "InitProducerId"),
    (23, "OffsetForLeaderEpoch"),
    (24, "AddPartitionsToTxn"),
    (25, "AddOffsetsToTxn"),
    (26, "EndTxn"),
    (27, "WriteTxnMarkers"),
    (28, "TxnOffsetCommit"),
    (29, "DescribeAcls"),
    (30, "CreateAcls"),
    (31, "DeleteAcls"),
    (32, "DescribeConfigs"),
    (33, "AlterConfigs"),
    (34, "AlterReplicaLogDirs"),
    (35, "DescribeLogDirs"),
    (36, "SaslAuthenticate"),
    (37, "CreatePartitions"),
    (38, "CreateDelegationToken"),
    (39, "RenewDelegationToken"),
    (40, "ExpireDelegationToken"),
    (41, "DescribeDelegationToken"),
    (42, "DeleteGroups"),
    (43, "ElectLeaders"),
    (44, "IncrementalAlterConfigs"),
    (45, "AlterPartitionReassignments"),
    (46, "ListPartitionReassignments"),
    (47, "OffsetDelete"),
    (48, "DescribeClientQuotas"),
    (49, "AlterClientQuotas"),
    (50, "DescribeUserScramCredentials"),
    (51, "AlterUserScramCredentials"),
    (56, "AlterIsr"),
    (57, "UpdateFeatures"),
    (60, "DescribeCluster"),
    (61, "DescribeProducers"),
];

fn kafka_api_key_name(args: &[Datum], _: usize) -> FResult {
    by_code(args, |c, o| lookup(KAFKA, c, o, number(c)))
}

const CQL: &[(i64, &str)] = &[
    (0, "Error"),
    (1, "Startup"),
    (2, "Ready"),
    (3, "Authenticate"),
    (5, "Options"),
    (6, "Supported"),
    (7, "Query"),
    (8, "Result"),
    (9, "Prepare"),
    (10, "Execute"),
    (11, "Register"),
    (12, "Event"),
    (13, "Batch"),
    (14, "AuthChallenge"),
    (15, "AuthResponse"),
    (16, "AuthSuccess"),
];

fn cql_opcode_name(args: &[Datum], _: usize) -> FResult {
    by_code(args, |c, o| lookup(CQL, c, o, number(c)))
}

const MUX: &[(i64, &str)] = &[
    (1, "Treq"),
    (-1, "Rreq"),
    (2, "Tdispatch"),
    (-2, "Rdispatch"),
    (64, "Tdrain"),
    (-64, "Rdrain"),
    (65, "Tping"),
    (-65, "Rping"),
    (66, "Tdiscarded"),
    (-66, "Rdiscarded"),
    (67, "Tlease"),
    (68, "Tinit"),
    (-68, "Rinit"),
    (-128, "Rerr"),
    (127, "Rerr (legacy)"),
    (-62, "Tdiscarded (legacy)"),
];

fn mux_frame_type_name(args: &[Datum], _: usize) -> FResult {
    by_code(args, |c, o| {
        lookup(MUX, c, o, |o| o.push_str(&format!("Unknown ({c})")))
    })
}

const AMQP_FRAMES: &[(i64, &str)] = &[
    (1, "Frame method"),
    (2, "Content Header"),
    (3, "Content Body"),
    (8, "Heartbeat"),
];

fn amqp_frame_type_name(args: &[Datum], _: usize) -> FResult {
    by_code(args, |c, o| lookup(AMQP_FRAMES, c, o, number(c)))
}
