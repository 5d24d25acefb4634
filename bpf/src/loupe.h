/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * The one definition of everything the kernel programs (socket_trace.bpf.c)
 * hand to user space. The Rust mirror is bpf/src/events.rs; a test there
 * checks every size and field offset against this file (through
 * bpf/src/layout.c, compiled by build.rs), so the two cannot drift.
 *
 * Rules: fixed-width fields only, no implicit padding, every struct a
 * multiple of 8 bytes.
 */
#ifndef LOUPE_H
#define LOUPE_H

/* Payload bytes carried by one ring-buffer record. A syscall that moves more
 * bytes than this is split into several records (up to the per-syscall cap). */
#define LOUPE_CHUNK 4096
/* Upper bound on records one syscall can emit: caps the per-syscall payload at
 * LOUPE_MAX_CHUNKS * LOUPE_CHUNK bytes whatever the configured cap says. */
#define LOUPE_MAX_CHUNKS 16
/* iovec entries / mmsghdr messages looked at per syscall. Bytes beyond them
 * are reported as a gap of known length, never silently lost. */
#define LOUPE_MAX_IOV 16
#define LOUPE_MAX_MMSG 8

/* loupe_event_header.kind */
#define LOUPE_EV_DATA 1
#define LOUPE_EV_OPEN 2
#define LOUPE_EV_CLOSE 3
#define LOUPE_EV_TCP 4 /* a TCP counter of a connection already closed */

/* loupe_data_event.direction */
#define LOUPE_DIR_EGRESS 0  /* the process sent these bytes */
#define LOUPE_DIR_INGRESS 1 /* the process received these bytes */

/* loupe_conn_event.role */
#define LOUPE_ROLE_UNKNOWN 0 /* seen first on a data syscall */
#define LOUPE_ROLE_CLIENT 1  /* connect() */
#define LOUPE_ROLE_SERVER 2  /* accept()/accept4() */

/* loupe_data_event.source: the syscall family, for diagnostics and counts */
#define LOUPE_SRC_RW 1
#define LOUPE_SRC_VEC 2
#define LOUPE_SRC_SENDRECV 3
#define LOUPE_SRC_MSG 4
#define LOUPE_SRC_MMSG 5
#define LOUPE_SRC_SENDFILE 6

/* loupe_data_event.flags */
/* Last record of one syscall's bytes (of one message, for sendmmsg/recvmmsg):
 * on a UDP socket, the end of a datagram. */
#define LOUPE_FLAG_MSG_END 1

/* Indices of the per-CPU `stats` array. */
#define LOUPE_STAT_RB_DROPS 0        /* records the ring buffer had no room for */
#define LOUPE_STAT_RB_DROP_BYTES 1   /* payload bytes in those records */
#define LOUPE_STAT_EVENTS 2          /* records written */
#define LOUPE_STAT_PAYLOAD_BYTES 3   /* payload bytes written */
#define LOUPE_STAT_CAP_BYTES 4       /* bytes past the per-syscall cap (reported as gaps) */
#define LOUPE_STAT_READ_FAULTS 5     /* bpf_probe_read_user failures (reported as gaps) */
#define LOUPE_STAT_CONN_OPEN 6       /* connections first seen */
#define LOUPE_STAT_CONN_CLOSE 7      /* close() of a traced socket */
#define LOUPE_STAT_TCP_ESTABLISHED 8 /* sock:inet_sock_set_state -> ESTABLISHED */
#define LOUPE_STAT_TCP_CLOSED 9      /* sock:inet_sock_set_state -> CLOSE */
#define LOUPE_STAT_ARGS_LOST 10      /* syscall exits without a saved entry */
#define LOUPE_STAT_MMSG_SKIPPED 11   /* sendmmsg/recvmmsg messages past LOUPE_MAX_MMSG, not looked at */
#define LOUPE_STAT_UNTRACED_BYTES 12 /* bytes of connections user space marked not traced (not copied) */
#define LOUPE_STAT_TCP_RETRANS 13    /* segments retransmitted by traced connections */
#define LOUPE_STAT_TCP_RESETS 14     /* RSTs sent or received by traced connections */
#define LOUPE_STAT_TCP_UNOWNED 15    /* TCP retransmits/resets of sockets no traced process owns */
#define LOUPE_STAT_COUNT 16

struct loupe_event_header {
	__u32 kind;       /* LOUPE_EV_* */
	__u32 tgid;       /* process id */
	__u32 fd;         /* socket file descriptor in that process */
	__u32 generation; /* bumps each time (tgid, fd) names a new socket */
	__u64 ts_ns;      /* bpf_ktime_get_ns() at syscall exit (CLOCK_MONOTONIC) */
};

struct loupe_data_event {
	struct loupe_event_header h;
	__u64 offset;    /* stream offset of payload[0] in this direction */
	__u32 len;       /* payload bytes in this record */
	__u32 gap_after; /* bytes that follow payload in the stream but were not captured */
	__u32 direction; /* LOUPE_DIR_* */
	__u16 source;    /* LOUPE_SRC_* */
	__u16 flags;     /* LOUPE_FLAG_* */
	__u8 payload[LOUPE_CHUNK];
};

struct loupe_conn_event {
	struct loupe_event_header h;
	__u32 role;     /* LOUPE_ROLE_* */
	__u16 family;   /* AF_INET / AF_INET6 */
	__u16 protocol; /* IPPROTO_TCP / IPPROTO_UDP */
	__u16 local_port;
	__u16 remote_port;
	__u32 _pad;
	__u8 local_addr[16];  /* IPv4 in the first 4 bytes */
	__u8 remote_addr[16];
	__u64 bytes_sent; /* on close: stream offsets reached */
	__u64 bytes_recv;
	__u64 retransmits; /* on close: segments retransmitted so far */
	__u32 resets_sent;
	__u32 resets_received;
	/* The process, as the kernel saw it: user space may read /proc too late
	 * for a short-lived client. start_boottime_ns is the thread-group
	 * leader's start (what /proc/PID/stat field 22 reports, in ns). */
	__u64 start_boottime_ns;
	char comm[16];
};

/* loupe_tcp_event.what */
#define LOUPE_TCP_RETRANS 1
#define LOUPE_TCP_RST_SENT 2
#define LOUPE_TCP_RST_RECV 3

/* A retransmit or reset of a connection whose process already closed it (a
 * reset sent by close() with SO_LINGER 0 comes after the close record). */
struct loupe_tcp_event {
	struct loupe_event_header h;
	__u32 what;  /* LOUPE_TCP_* */
	__u32 count; /* segments (retransmits) or 1 */
};

/* The `conns` map, read by user space every sample (conn_stats): key. */
struct loupe_conn_key {
	__u32 tgid;
	__u32 fd;
};

/* The `conns` map: value. Counters are cumulative for this generation. */
struct loupe_conn_state {
	__u64 sk;   /* struct sock * identity of this generation */
	__u64 file; /* struct file * the fd pointed to: a match skips the socket checks */
	__u64 send_off; /* bytes sent (stream offset), traced or not */
	__u64 recv_off;
	__u64 retransmits;
	__u32 resets_sent;
	__u32 resets_received;
	__u32 generation;
	__u32 role;
};

#endif
