//! What the parser knows about command names: which take a subcommand, which arguments are
//! keys (kept by default) and which are values (redacted), and which commands are answered by
//! several frames (the pub/sub family).

/// Which arguments (after the command and subcommand) are shown without `full_capture`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Key commands: the first argument is a key (or channel, or parameter name), every later
    /// argument is redacted. `GET k`, `SET k v`, `HSET k f v`, `PUBLISH ch msg`.
    FirstKey,
    /// Every argument is a key, channel or pattern: `DEL a b`, `MGET`, `SUBSCRIBE a b`.
    AllKeys,
    /// Key/value pairs: `MSET k1 v1 k2 v2` keeps `k1` and `k2`.
    KeyValuePairs,
    /// Arguments are options, not data: `SELECT 1`, `INFO memory`, `CONFIG GET maxmemory`.
    KeepAll,
    /// Arguments may be secrets or values with no key: `AUTH`, `ECHO`, `EVAL`, and every
    /// command this list does not know.
    RedactAll,
}

impl Policy {
    /// Whether argument `i` (0-based, after command and subcommand) is shown.
    pub(crate) fn keeps(self, i: u64) -> bool {
        match self {
            Policy::FirstKey => i == 0,
            Policy::AllKeys | Policy::KeepAll => true,
            Policy::KeyValuePairs => i.is_multiple_of(2),
            Policy::RedactAll => false,
        }
    }
}

/// Commands whose replies need special pairing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Family {
    #[default]
    Plain,
    /// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`: one reply frame per channel.
    Subscribe,
    /// `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE`: one frame per channel named, or, with
    /// no argument, one per channel subscribed until the count reaches 0.
    Unsubscribe,
    /// `HELLO`: may switch the connection to RESP3.
    Hello,
}

/// Commands whose first argument is a subcommand: `req_cmd` is then `"CLIENT SETNAME"`.
pub(crate) fn is_container(cmd: &str) -> bool {
    matches!(
        cmd,
        "ACL"
            | "CLIENT"
            | "CLUSTER"
            | "COMMAND"
            | "CONFIG"
            | "DEBUG"
            | "FUNCTION"
            | "LATENCY"
            | "MEMORY"
            | "MODULE"
            | "OBJECT"
            | "PUBSUB"
            | "SCRIPT"
            | "SLOWLOG"
            | "XGROUP"
            | "XINFO"
    )
}

/// The redaction policy of a command (`"GET"`, `"CONFIG SET"`), upper case.
pub(crate) fn policy(name: &str) -> Policy {
    match name {
        // Options and administration, no user data.
        "SELECT"
        | "INFO"
        | "DBSIZE"
        | "FLUSHALL"
        | "FLUSHDB"
        | "SCAN"
        | "WAIT"
        | "SWAPDB"
        | "LASTSAVE"
        | "SAVE"
        | "BGSAVE"
        | "BGREWRITEAOF"
        | "ROLE"
        | "TIME"
        | "READONLY"
        | "READWRITE"
        | "SHUTDOWN"
        | "REPLICAOF"
        | "SLAVEOF"
        | "RESET"
        | "QUIT"
        | "MULTI"
        | "EXEC"
        | "DISCARD"
        | "UNWATCH"
        | "RANDOMKEY"
        | "LOLWUT"
        | "CONFIG GET"
        | "CONFIG RESETSTAT"
        | "CONFIG REWRITE"
        | "CLIENT SETNAME"
        | "CLIENT GETNAME"
        | "CLIENT ID"
        | "CLIENT INFO"
        | "CLIENT LIST"
        | "CLIENT KILL"
        | "CLIENT REPLY"
        | "CLIENT TRACKING"
        | "CLIENT CACHING"
        | "CLIENT NO-EVICT"
        | "CLIENT PAUSE"
        | "CLIENT UNPAUSE"
        | "CLIENT SETINFO"
        | "COMMAND DOCS"
        | "COMMAND INFO"
        | "COMMAND COUNT"
        | "COMMAND LIST"
        | "MEMORY STATS"
        | "MEMORY DOCTOR"
        | "SLOWLOG GET"
        | "SLOWLOG LEN"
        | "SLOWLOG RESET"
        | "LATENCY LATEST"
        | "LATENCY DOCTOR"
        | "LATENCY HISTORY"
        | "PUBSUB CHANNELS"
        | "PUBSUB NUMSUB"
        | "PUBSUB NUMPAT"
        | "PUBSUB SHARDCHANNELS"
        | "PUBSUB SHARDNUMSUB"
        | "CLUSTER INFO"
        | "CLUSTER NODES"
        | "CLUSTER SLOTS"
        | "CLUSTER SHARDS"
        | "CLUSTER MYID"
        | "CLUSTER KEYSLOT"
        | "CLUSTER COUNTKEYSINSLOT"
        | "CLUSTER GETKEYSINSLOT"
        | "ACL WHOAMI"
        | "ACL CAT"
        | "ACL LIST"
        | "ACL USERS"
        | "ACL LOG"
        | "DEBUG PROTOCOL"
        | "DEBUG SLEEP"
        | "SCRIPT FLUSH"
        | "SCRIPT KILL"
        | "SCRIPT EXISTS"
        | "FUNCTION LIST"
        | "FUNCTION STATS"
        | "FUNCTION DELETE"
        | "FUNCTION FLUSH"
        | "FUNCTION KILL"
        | "MODULE LIST" => Policy::KeepAll,
        // Every argument a key, channel or pattern.
        "DEL" | "UNLINK" | "EXISTS" | "MGET" | "TOUCH" | "WATCH" | "TYPE" | "TTL" | "PTTL"
        | "EXPIRETIME" | "PEXPIRETIME" | "PERSIST" | "KEYS" | "STRLEN" | "INCR" | "DECR"
        | "GETDEL" | "DUMP" | "LLEN" | "SCARD" | "HLEN" | "HKEYS" | "HGETALL" | "HVALS"
        | "SMEMBERS" | "ZCARD" | "XLEN" | "PFCOUNT" | "PFMERGE" | "SDIFF" | "SINTER" | "SUNION"
        | "SDIFFSTORE" | "SINTERSTORE" | "SUNIONSTORE" | "RENAME" | "RENAMENX" | "COPY"
        | "RPOPLPUSH" | "LMOVE" | "BLMOVE" | "BRPOPLPUSH" | "BLPOP" | "BRPOP" | "BZPOPMIN"
        | "BZPOPMAX" | "SUBSCRIBE" | "UNSUBSCRIBE" | "PSUBSCRIBE" | "PUNSUBSCRIBE"
        | "SSUBSCRIBE" | "SUNSUBSCRIBE" | "OBJECT ENCODING" | "OBJECT FREQ" | "OBJECT IDLETIME"
        | "OBJECT REFCOUNT" | "MEMORY USAGE" | "XINFO STREAM" | "XINFO GROUPS" => Policy::AllKeys,
        "MSET" | "MSETNX" => Policy::KeyValuePairs,
        // Secrets, scripts, free-form values.
        "AUTH" | "ECHO" | "PING" | "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL"
        | "FCALL_RO" | "MIGRATE" | "SCRIPT LOAD" | "FUNCTION LOAD" | "FUNCTION RESTORE"
        | "MODULE LOAD" => Policy::RedactAll,
        // The parameter or user name is not secret, its value or rules are.
        "CONFIG SET" | "ACL SETUSER" | "ACL GETUSER" | "ACL DELUSER" => Policy::FirstKey,
        // Key commands: key first, then values, fields, members, scores, options.
        "GET"
        | "SET"
        | "SETEX"
        | "PSETEX"
        | "SETNX"
        | "GETSET"
        | "GETEX"
        | "APPEND"
        | "INCRBY"
        | "DECRBY"
        | "INCRBYFLOAT"
        | "GETRANGE"
        | "SETRANGE"
        | "GETBIT"
        | "SETBIT"
        | "BITCOUNT"
        | "BITPOS"
        | "BITFIELD"
        | "EXPIRE"
        | "PEXPIRE"
        | "EXPIREAT"
        | "PEXPIREAT"
        | "RESTORE"
        | "SORT"
        | "SORT_RO"
        | "LPUSH"
        | "RPUSH"
        | "LPUSHX"
        | "RPUSHX"
        | "LPOP"
        | "RPOP"
        | "LSET"
        | "LREM"
        | "LINSERT"
        | "LPOS"
        | "LRANGE"
        | "LINDEX"
        | "LTRIM"
        | "HSET"
        | "HSETNX"
        | "HMSET"
        | "HGET"
        | "HMGET"
        | "HDEL"
        | "HEXISTS"
        | "HINCRBY"
        | "HINCRBYFLOAT"
        | "HSTRLEN"
        | "HRANDFIELD"
        | "HSCAN"
        | "SADD"
        | "SREM"
        | "SISMEMBER"
        | "SMISMEMBER"
        | "SPOP"
        | "SRANDMEMBER"
        | "SSCAN"
        | "SMOVE"
        | "ZADD"
        | "ZREM"
        | "ZSCORE"
        | "ZMSCORE"
        | "ZINCRBY"
        | "ZRANGE"
        | "ZRANGEBYSCORE"
        | "ZRANGEBYLEX"
        | "ZREVRANGE"
        | "ZREVRANGEBYSCORE"
        | "ZRANK"
        | "ZREVRANK"
        | "ZCOUNT"
        | "ZLEXCOUNT"
        | "ZSCAN"
        | "ZPOPMIN"
        | "ZPOPMAX"
        | "ZREMRANGEBYSCORE"
        | "ZREMRANGEBYRANK"
        | "ZRANDMEMBER"
        | "XADD"
        | "XRANGE"
        | "XREVRANGE"
        | "XDEL"
        | "XTRIM"
        | "XACK"
        | "XCLAIM"
        | "XAUTOCLAIM"
        | "XPENDING"
        | "XSETID"
        | "PFADD"
        | "GEOADD"
        | "GEOPOS"
        | "GEODIST"
        | "GEOHASH"
        | "GEOSEARCH"
        | "GEORADIUS"
        | "GEORADIUSBYMEMBER"
        | "PUBLISH"
        | "SPUBLISH"
        | "HELLO"
        | "XGROUP CREATE"
        | "XGROUP DESTROY"
        | "XGROUP SETID"
        | "XGROUP CREATECONSUMER"
        | "XGROUP DELCONSUMER"
        | "XINFO CONSUMERS"
        | "LCS"
        | "SINTERCARD" => Policy::FirstKey,
        _ => Policy::RedactAll,
    }
}

/// The reply-pairing family of a command, upper case.
pub(crate) fn family(name: &str) -> Family {
    match name {
        "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" => Family::Subscribe,
        "UNSUBSCRIBE" | "PUNSUBSCRIBE" | "SUNSUBSCRIBE" => Family::Unsubscribe,
        "HELLO" => Family::Hello,
        _ => Family::Plain,
    }
}

/// Pub/sub frame kinds: the first element of a pub/sub reply or push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PubSubKind {
    /// `message`, `smessage`: [kind, channel, payload].
    Message,
    /// `pmessage`: [kind, pattern, channel, payload].
    PMessage,
    /// `subscribe` and friends: [kind, channel, subscription count].
    Subscription,
}

/// The pub/sub kind named by a frame's first element, and the element count it needs.
pub(crate) fn pubsub_kind(first: &[u8]) -> Option<(PubSubKind, u64)> {
    let eq = |s: &str| first.eq_ignore_ascii_case(s.as_bytes());
    if eq("message") || eq("smessage") {
        Some((PubSubKind::Message, 3))
    } else if eq("pmessage") {
        Some((PubSubKind::PMessage, 4))
    } else if [
        "subscribe",
        "psubscribe",
        "ssubscribe",
        "unsubscribe",
        "punsubscribe",
        "sunsubscribe",
    ]
    .iter()
    .any(|s| eq(s))
    {
        Some((PubSubKind::Subscription, 3))
    } else {
        None
    }
}
