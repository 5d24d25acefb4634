// SPDX-License-Identifier: GPL-2.0
/*
 * Socket data capture on syscall tracepoints.
 *
 * What: every byte a process moves through a TCP or UDP socket (IPv4/IPv6)
 * with read/write, readv/writev, sendto/recvfrom, sendmsg/recvmsg,
 * sendmmsg/recvmmsg and sendfile, plus connect/accept/accept4/close, goes to
 * user space through the `events` ring buffer as loupe_data_event records
 * (layout: loupe.h), up to `payload_cap` bytes per syscall; the rest of the
 * syscall is a gap record of known length, so a parser can skip a body
 * without losing its place in the stream.
 *
 * Why syscall tracepoints: this kernel has no kprobes and refuses
 * fentry/fexit. Data is read at syscall exit, when the return value says how
 * many bytes moved.
 *
 * Socket test: at each data-syscall exit the fd is resolved through the
 * task's fd table to its struct sock (CO-RE reads), so sockets opened before
 * the agent started are traced too, and an fd reused for another socket (or
 * a missed close) starts a new connection generation instead of gluing two
 * streams together.
 *
 * Losses: a full ring buffer drops the record and counts it in `stats`
 * (per CPU); it never blocks the traced program.
 *
 * Minimum kernel: 5.17 (bpf_loop, ring buffer, BTF).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "loupe.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define TCP_ESTABLISHED_STATE 1
#define TCP_CLOSE_STATE 7

/* Set by the loader before load (.rodata). */
const volatile __u32 agent_tgid = 0;
const volatile __u32 payload_cap = 16384;
/* Set when only the network namespaces in `netns_filter` are observed. */
const volatile __u32 netns_filtered = 0;
/* Wake the reader only when this many bytes wait; it also polls on a short
 * timer, so a quiet system still delivers promptly. */
const volatile __u64 wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by the loader */
} events SEC(".maps");

/* Inodes of the network namespaces observed when `netns_filtered` is set
 * (filled by the loader before attaching). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} netns_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LOUPE_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* A data record being filled, plus room so that a read of up to LOUPE_CHUNK
 * bytes at any position below LOUPE_CHUNK stays inside the map value (what
 * the verifier needs to see). */
/* State of the copy loop. It lives in a map value, not on the stack, so the
 * verifier sees its fields as unknown scalars and prunes loop states instead
 * of walking every iteration with exact values. */
struct cap_ctx {
	__u64 iov;      /* user struct iovec[] or 0 for a single buffer */
	__u64 iovcnt;
	__u64 seg_ptr;  /* current user segment */
	__u64 seg_left;
	__u64 remaining; /* bytes of this syscall not yet accounted for */
	__u64 budget;    /* payload bytes we may still copy */
	__u64 rec_off;   /* stream offset of the scratch record's first byte */
	__u32 iov_i;
	__u32 pos;       /* bytes in the scratch record */
	__u32 tgid;
	__u32 fd;
	__u32 generation;
	__u32 direction;
	__u32 source;
	__u32 _pad;
	__u64 ts;
};

struct scratch_buf {
	struct loupe_data_event ev;
	__u8 overflow[LOUPE_CHUNK];
	struct cap_ctx c;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch_buf);
} scratch SEC(".maps");

/* Connections: (tgid, fd) -> state (loupe.h: user space samples it). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct loupe_conn_key);
	__type(value, struct loupe_conn_state);
} conns SEC(".maps");

/* Which connection owns a socket: TCP's retransmit and reset tracepoints
 * name the socket, not the process or fd. */
struct sk_owner {
	__u32 tgid;
	__u32 fd;
	__u32 generation;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sk_owner);
} sk_owner SEC(".maps");

/* Connections user space decided carry no traced protocol: (tgid, fd) ->
 * the generation it decided for. Their bytes are counted, not copied. Kept
 * apart from `conns` so that user space never writes a value the programs
 * update (offsets), and a stale entry (older generation) matches nothing. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct loupe_conn_key);
	__type(value, __u32);
} untraced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} generation_counter SEC(".maps");

/* Syscall arguments saved at entry, read at exit. */
struct saved_args {
	__u64 valid; /* set at entry, cleared at exit */
	__u64 fd;
	__u64 ptr;   /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 count; /* iovcnt / vlen (unused for plain buffers) */
	__u32 source;
	__u32 direction;
};

/* Per-task storage: no hashing, no preallocated table to fill; the slot
 * lives and dies with the thread. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct saved_args);
} active_args SEC(".maps");

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += n;
}

static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
}

/* The processes this agent observes: all but itself, and, when the agent is
 * one node among several on a shared kernel (`--netns`), only those of that
 * network namespace. */
static __always_inline int traced_tgid(__u32 tgid)
{
	if (tgid == agent_tgid)
		return 0;
	if (netns_filtered) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		__u32 ino = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
		if (!bpf_map_lookup_elem(&netns_filter, &ino))
			return 0;
	}
	return 1;
}

/* fd -> struct file * of the current task, or NULL. */
static __always_inline struct file *fd_to_file(__u32 fd)
{
	/* Trusted BTF pointers: plain loads (the verifier guards them), not
	 * one helper call per hop. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = task->files;
	if (!files)
		return NULL;
	struct fdtable *fdt = files->fdt;
	if (!fdt)
		return NULL;
	if (fd >= fdt->max_fds)
		return NULL;
	struct file **fd_array = fdt->fd;
	struct file *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fd_array[fd]))
		return NULL;
	return f;
}

/* file -> struct sock *, or NULL when it is not an inet TCP/UDP socket. */
static __always_inline struct sock *file_to_inet_sock(struct file *f, __u16 *family, __u16 *proto)
{
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (fam != AF_INET && fam != AF_INET6)
		return NULL;
	__u16 type = BPF_CORE_READ(sk, sk_type);
	if (type != SOCK_STREAM && type != SOCK_DGRAM)
		return NULL;
	__u16 p = BPF_CORE_READ(sk, sk_protocol);
	if (p != IPPROTO_TCP && p != IPPROTO_UDP)
		return NULL;
	*family = fam;
	*proto = p;
	return sk;
}

static __always_inline void emit_conn(__u32 kind, struct loupe_conn_key *key, struct loupe_conn_state *c,
				      struct sock *sk, __u16 family, __u16 proto)
{
	struct loupe_conn_event ev = {};
	ev.h.kind = kind;
	ev.h.tgid = key->tgid;
	ev.h.fd = key->fd;
	ev.h.generation = c->generation;
	ev.h.ts_ns = bpf_ktime_get_ns();
	ev.role = c->role;
	ev.family = family;
	ev.protocol = proto;
	ev.bytes_sent = c->send_off;
	ev.bytes_recv = c->recv_off;
	ev.retransmits = c->retransmits;
	ev.resets_sent = c->resets_sent;
	ev.resets_received = c->resets_received;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	ev.start_boottime_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	bpf_get_current_comm(&ev.comm, sizeof(ev.comm));
	if (sk) {
		ev.local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
		ev.remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (family == AF_INET) {
			__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
			__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
			__builtin_memcpy(ev.local_addr, &l, 4);
			__builtin_memcpy(ev.remote_addr, &r, 4);
		} else {
			BPF_CORE_READ_INTO(&ev.local_addr, sk, __sk_common.skc_v6_rcv_saddr);
			BPF_CORE_READ_INTO(&ev.remote_addr, sk, __sk_common.skc_v6_daddr);
		}
	}
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), rb_flags())) {
		stat_add(LOUPE_STAT_RB_DROPS, 1);
	} else {
		stat_add(LOUPE_STAT_EVENTS, 1);
	}
}

/*
 * The connection state for (tgid, fd), created (and announced with an OPEN
 * record) when the fd names a socket not seen before. `role` is applied when
 * known (connect/accept); data syscalls pass LOUPE_ROLE_UNKNOWN.
 */
static __always_inline struct loupe_conn_state *conn_for(__u32 tgid, __u32 fd, __u32 role)
{
	struct file *f = fd_to_file(fd);
	struct loupe_conn_key key = {.tgid = tgid, .fd = fd};
	struct loupe_conn_state *c = bpf_map_lookup_elem(&conns, &key);
	/* Fast path: same open file as when this connection was first seen
	 * (the file pins the socket, so the socket is the same too). */
	if (c && f && c->file == (__u64)f && (role == LOUPE_ROLE_UNKNOWN || c->role == role))
		return c;
	__u16 family = 0, proto = 0;
	struct sock *sk = file_to_inet_sock(f, &family, &proto);
	if (!sk)
		return NULL;
	if (c && c->sk == (__u64)sk) {
		c->file = (__u64)f;
		if (role != LOUPE_ROLE_UNKNOWN && c->role != role) {
			c->role = role;
			emit_conn(LOUPE_EV_OPEN, &key, c, sk, family, proto);
		}
		return c;
	}
	if (c) {
		/* Same fd, another socket: the old one was closed without us seeing it. */
		emit_conn(LOUPE_EV_CLOSE, &key, c, NULL, 0, 0);
	}
	__u32 zero = 0;
	__u64 *gen = bpf_map_lookup_elem(&generation_counter, &zero);
	if (!gen)
		return NULL;
	struct loupe_conn_state fresh = {};
	fresh.sk = (__u64)sk;
	fresh.file = (__u64)f;
	fresh.generation = (__u32)__sync_fetch_and_add(gen, 1) + 1;
	fresh.role = role;
	if (bpf_map_update_elem(&conns, &key, &fresh, BPF_ANY))
		return NULL;
	struct sk_owner owner = {.tgid = tgid, .fd = fd, .generation = fresh.generation};
	__u64 skey = (__u64)sk;
	bpf_map_update_elem(&sk_owner, &skey, &owner, BPF_ANY);
	stat_add(LOUPE_STAT_CONN_OPEN, 1);
	emit_conn(LOUPE_EV_OPEN, &key, &fresh, sk, family, proto);
	return bpf_map_lookup_elem(&conns, &key);
}

/* ---- payload capture ------------------------------------------------- */


static __always_inline void fill_header(struct loupe_data_event *ev, struct cap_ctx *c)
{
	ev->h.kind = LOUPE_EV_DATA;
	ev->h.tgid = c->tgid;
	ev->h.fd = c->fd;
	ev->h.generation = c->generation;
	ev->h.ts_ns = c->ts;
	ev->direction = c->direction;
	ev->source = (__u16)c->source;
}

/* Sends the bytes gathered in scratch as one record; `end` marks the last
 * record of the syscall (or mmsg message). */
static __always_inline void flush(struct cap_ctx *c, int end)
{
	if (c->pos == 0)
		return;
	__u32 zero = 0;
	struct scratch_buf *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return;
	__u32 len = c->pos;
	if (len > LOUPE_CHUNK)
		len = LOUPE_CHUNK;
	fill_header(&s->ev, c);
	s->ev.offset = c->rec_off;
	s->ev.len = len;
	s->ev.gap_after = 0;
	s->ev.flags = end ? LOUPE_FLAG_MSG_END : 0;
	__u64 size = offsetof(struct loupe_data_event, payload) + len;
	if (bpf_ringbuf_output(&events, &s->ev, size, rb_flags())) {
		stat_add(LOUPE_STAT_RB_DROPS, 1);
		stat_add(LOUPE_STAT_RB_DROP_BYTES, len);
	} else {
		stat_add(LOUPE_STAT_EVENTS, 1);
		stat_add(LOUPE_STAT_PAYLOAD_BYTES, len);
	}
	c->rec_off += len;
	c->pos = 0;
}

/* A record with no payload: `len` stream bytes at the current offset are not
 * carried; `end` as for flush(). */
static __always_inline void emit_gap(struct cap_ctx *c, __u64 len, int end)
{
	if (len == 0)
		return;
	/* Only the fixed part of loupe_data_event goes out, with len = 0. */
	struct {
		struct loupe_event_header h;
		__u64 offset;
		__u32 len;
		__u32 gap_after;
		__u32 direction;
		__u16 source;
		__u16 flags;
	} g = {};
	g.h.kind = LOUPE_EV_DATA;
	g.h.tgid = c->tgid;
	g.h.fd = c->fd;
	g.h.generation = c->generation;
	g.h.ts_ns = c->ts;
	g.direction = c->direction;
	g.source = (__u16)c->source;
	g.flags = end ? LOUPE_FLAG_MSG_END : 0;
	g.offset = c->rec_off;
	g.gap_after = len > 0xffffffffULL ? 0xffffffff : (__u32)len;
	if (bpf_ringbuf_output(&events, &g, sizeof(g), rb_flags())) {
		stat_add(LOUPE_STAT_RB_DROPS, 1);
	} else {
		stat_add(LOUPE_STAT_EVENTS, 1);
	}
	c->rec_off += g.gap_after;
}

/* One step of the copy loop (bpf_loop callback): either move to the next
 * iovec segment or copy a piece of the current one into scratch. */
static long cap_step(__u64 index, void *arg)
{
	__u32 zero = 0;
	struct scratch_buf *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 1;
	struct cap_ctx *c = &s->c;
	if (c->remaining == 0)
		return 1;
	if (c->seg_left == 0) {
		if (c->iov == 0 || c->iov_i >= c->iovcnt || c->iov_i >= LOUPE_MAX_IOV)
			return 1;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v),
					(void *)(c->iov + (__u64)c->iov_i * sizeof(struct iovec))))
			return 1;
		c->iov_i++;
		c->seg_ptr = (__u64)v.iov_base;
		c->seg_left = v.iov_len < c->remaining ? v.iov_len : c->remaining;
		return 0;
	}
	if (c->budget == 0)
		return 1;
	__u64 n = c->seg_left;
	if (n > c->budget)
		n = c->budget;
	__u32 pos = c->pos;
	if (pos >= LOUPE_CHUNK)
		return 1;
	if (n > LOUPE_CHUNK - pos)
		n = LOUPE_CHUNK - pos;
	if (n > LOUPE_CHUNK)
		n = LOUPE_CHUNK;
	if (bpf_probe_read_user(&s->ev.payload[pos], n, (void *)c->seg_ptr)) {
		/* Unreadable user memory (paged out): a gap of known length. */
		flush(c, 0);
		emit_gap(c, n, c->remaining == n);
		stat_add(LOUPE_STAT_READ_FAULTS, n);
	} else {
		c->pos = pos + n;
	}
	c->seg_ptr += n;
	c->seg_left -= n;
	c->remaining -= n;
	c->budget -= n;
	if (c->pos >= LOUPE_CHUNK)
		flush(c, c->remaining == 0);
	return 0;
}

/* Capture `total` bytes moved by one syscall (or one mmsg message). */
static __always_inline void capture(struct cap_ctx *c, __u64 total)
{
	c->remaining = total;
	c->pos = 0;
	__u64 cap = payload_cap;
	if (cap > (__u64)LOUPE_CHUNK * LOUPE_MAX_CHUNKS)
		cap = (__u64)LOUPE_CHUNK * LOUPE_MAX_CHUNKS;
	c->budget = cap;
	bpf_loop(2 * LOUPE_MAX_IOV + LOUPE_MAX_CHUNKS + 2, cap_step, NULL, 0);
	flush(c, c->remaining == 0);
	if (c->remaining) {
		stat_add(LOUPE_STAT_CAP_BYTES, c->remaining);
		emit_gap(c, c->remaining, 1);
		c->remaining = 0;
	}
}

/* ---- syscall entry: save arguments ----------------------------------- */

static __always_inline int save_args(struct trace_event_raw_sys_enter *ctx, __u32 source,
				     __u32 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced_tgid(id >> 32))
		return 0;
	struct saved_args *a =
		bpf_task_storage_get(&active_args, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!a)
		return 0;
	a->valid = 1;
	a->fd = ctx->args[0];
	a->ptr = ctx->args[1];
	a->count = ctx->args[2];
	a->source = source;
	a->direction = direction;
	return 0;
}

/* ---- syscall exit: capture ------------------------------------------- */

struct mmsg_ctx {
	__u64 msgs; /* user struct mmsghdr[] */
	__u64 n;    /* messages the syscall moved */
};

/* One message of sendmmsg/recvmmsg (bpf_loop callback). */
static long mmsg_step(__u64 i, void *arg)
{
	struct mmsg_ctx *m = arg;
	if (i >= m->n)
		return 1;
	struct mmsghdr *h = (struct mmsghdr *)(m->msgs + i * sizeof(struct mmsghdr));
	unsigned int len = 0;
	struct iovec *iov = NULL;
	__u64 iovlen = 0;
	if (bpf_probe_read_user(&len, sizeof(len), &h->msg_len) ||
	    bpf_probe_read_user(&iov, sizeof(iov), &h->msg_hdr.msg_iov) ||
	    bpf_probe_read_user(&iovlen, sizeof(iovlen), &h->msg_hdr.msg_iovlen))
		return 1;
	__u32 zero = 0;
	struct scratch_buf *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 1;
	struct cap_ctx *c = &s->c;
	c->iov = (__u64)iov;
	c->iovcnt = iovlen;
	c->iov_i = 0;
	c->seg_left = 0;
	capture(c, len);
	return 0;
}

struct mmsg_sum {
	__u64 msgs; /* user struct mmsghdr[] */
	__u64 n;
	__u64 bytes;
};

static long mmsg_sum_step(__u64 i, void *arg)
{
	struct mmsg_sum *m = arg;
	if (i >= m->n)
		return 1;
	struct mmsghdr *h = (struct mmsghdr *)(m->msgs + i * sizeof(struct mmsghdr));
	unsigned int len = 0;
	if (bpf_probe_read_user(&len, sizeof(len), &h->msg_len))
		return 1;
	m->bytes += len;
	return 0;
}

/* Bytes moved by the first `n` messages of a sendmmsg/recvmmsg (messages
 * past LOUPE_MAX_MMSG are not looked at, as for capture). */
static __always_inline __u64 mmsg_bytes(__u64 msgs, __u64 n)
{
	struct mmsg_sum m = {.msgs = msgs, .n = n, .bytes = 0};
	bpf_loop(LOUPE_MAX_MMSG, mmsg_sum_step, &m, 0);
	return m.bytes;
}

/*
 * Syscall exit of a data syscall. `source` is a compile-time constant per
 * program, so each program keeps only its own branch (verifier budget).
 */
static __always_inline int data_exit(struct trace_event_raw_sys_exit *ctx, const __u32 source)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!traced_tgid(tgid))
		return 0;
	struct saved_args *ap = bpf_task_storage_get(&active_args, bpf_get_current_task_btf(), 0, 0);
	if (!ap || !ap->valid) {
		stat_add(LOUPE_STAT_ARGS_LOST, 1);
		return 0;
	}
	struct saved_args a = *ap;
	ap->valid = 0;
	long ret = ctx->ret;
	if (ret <= 0)
		return 0;
	__u32 fd = (__u32)a.fd;
	struct loupe_conn_state *conn = conn_for(tgid, fd, LOUPE_ROLE_UNKNOWN);
	if (!conn)
		return 0;
	struct loupe_conn_key ukey = {.tgid = tgid, .fd = fd};
	__u32 *ugen = bpf_map_lookup_elem(&untraced, &ukey);
	if (ugen && *ugen == conn->generation) {
		/* No traced protocol here: count the bytes, copy nothing. */
		__u64 *off = a.direction == LOUPE_DIR_EGRESS ? &conn->send_off : &conn->recv_off;
		__u64 n = (__u64)ret;
		if (source == LOUPE_SRC_MMSG)
			n = mmsg_bytes(a.ptr, n);
		__sync_fetch_and_add(off, n);
		stat_add(LOUPE_STAT_UNTRACED_BYTES, n);
		return 0;
	}

	__u32 zero = 0;
	struct scratch_buf *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	struct cap_ctx *cp = &s->c;
	__builtin_memset(cp, 0, sizeof(*cp));
#define c (*cp)
	c.tgid = tgid;
	c.fd = fd;
	c.generation = conn->generation;
	c.direction = a.direction;
	c.source = source;
	c.ts = bpf_ktime_get_ns();
	__u64 *offp = a.direction == LOUPE_DIR_EGRESS ? &conn->send_off : &conn->recv_off;

	if (source == LOUPE_SRC_MMSG) {
		/* ret = number of messages. Offsets advance as each is captured;
		 * messages past LOUPE_MAX_MMSG are not looked at (counted). */
		__u64 n = (__u64)ret;
		if (n > LOUPE_MAX_MMSG) {
			stat_add(LOUPE_STAT_MMSG_SKIPPED, n - LOUPE_MAX_MMSG);
			n = LOUPE_MAX_MMSG;
		}
		c.rec_off = *offp;
		struct mmsg_ctx m = {.msgs = a.ptr, .n = n};
		bpf_loop(LOUPE_MAX_MMSG, mmsg_step, &m, 0);
		*offp = c.rec_off;
		return 0;
	}

	c.rec_off = __sync_fetch_and_add(offp, (__u64)ret);
	if (source == LOUPE_SRC_SENDFILE) {
		/* The kernel moved file bytes: a gap of known length. */
		emit_gap(&c, (__u64)ret, 1);
		return 0;
	}
	if (source == LOUPE_SRC_RW || source == LOUPE_SRC_SENDRECV) {
		if ((__u64)ret <= LOUPE_CHUNK && (__u64)ret <= payload_cap) {
			/* One buffer that fits one record: copy it directly. */
			__u32 len = (__u32)ret;
			if (len > LOUPE_CHUNK)
				return 0;
			fill_header(&s->ev, &c);
			s->ev.offset = c.rec_off;
			s->ev.len = len;
			s->ev.gap_after = 0;
			s->ev.flags = LOUPE_FLAG_MSG_END;
			if (bpf_probe_read_user(s->ev.payload, len, (void *)a.ptr)) {
				emit_gap(&c, len, 1);
				stat_add(LOUPE_STAT_READ_FAULTS, len);
				return 0;
			}
			if (bpf_ringbuf_output(&events, &s->ev, offsetof(struct loupe_data_event, payload) + len,
					       rb_flags())) {
				stat_add(LOUPE_STAT_RB_DROPS, 1);
				stat_add(LOUPE_STAT_RB_DROP_BYTES, len);
			} else {
				stat_add(LOUPE_STAT_EVENTS, 1);
				stat_add(LOUPE_STAT_PAYLOAD_BYTES, len);
			}
			return 0;
		}
		c.seg_ptr = a.ptr;
		c.seg_left = (__u64)ret;
	} else if (source == LOUPE_SRC_VEC) {
		c.iov = a.ptr;
		c.iovcnt = a.count;
	} else {
		struct user_msghdr *m = (struct user_msghdr *)a.ptr;
		struct iovec *iov = NULL;
		__u64 iovlen = 0;
		bpf_probe_read_user(&iov, sizeof(iov), &m->msg_iov);
		bpf_probe_read_user(&iovlen, sizeof(iovlen), &m->msg_iovlen);
		c.iov = (__u64)iov;
		c.iovcnt = iovlen;
	}
	capture(&c, (__u64)ret);
	return 0;
#undef c
}

#define DATA_PROBES(name, source, direction)                                         \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                  \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                      \
	{                                                                            \
		return save_args(ctx, source, direction);                            \
	}                                                                            \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                   \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                        \
	{                                                                            \
		return data_exit(ctx, source);                                       \
	}

DATA_PROBES(read, LOUPE_SRC_RW, LOUPE_DIR_INGRESS)
DATA_PROBES(write, LOUPE_SRC_RW, LOUPE_DIR_EGRESS)
DATA_PROBES(readv, LOUPE_SRC_VEC, LOUPE_DIR_INGRESS)
DATA_PROBES(writev, LOUPE_SRC_VEC, LOUPE_DIR_EGRESS)
DATA_PROBES(recvfrom, LOUPE_SRC_SENDRECV, LOUPE_DIR_INGRESS)
DATA_PROBES(sendto, LOUPE_SRC_SENDRECV, LOUPE_DIR_EGRESS)
DATA_PROBES(recvmsg, LOUPE_SRC_MSG, LOUPE_DIR_INGRESS)
DATA_PROBES(sendmsg, LOUPE_SRC_MSG, LOUPE_DIR_EGRESS)
DATA_PROBES(recvmmsg, LOUPE_SRC_MMSG, LOUPE_DIR_INGRESS)
DATA_PROBES(sendmmsg, LOUPE_SRC_MMSG, LOUPE_DIR_EGRESS)

/* sendfile(out_fd, in_fd, offset, count): out_fd is args[0]. */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile64(struct trace_event_raw_sys_enter *ctx)
{
	return save_args(ctx, LOUPE_SRC_SENDFILE, LOUPE_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile64(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx, LOUPE_SRC_SENDFILE);
}

/* ---- connection lifecycle -------------------------------------------- */

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return save_args(ctx, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!traced_tgid(tgid))
		return 0;
	struct saved_args *ap = bpf_task_storage_get(&active_args, bpf_get_current_task_btf(), 0, 0);
	if (!ap || !ap->valid)
		return 0;
	__u32 fd = (__u32)ap->fd;
	ap->valid = 0;
	long ret = ctx->ret;
	if (ret != 0 && ret != -EINPROGRESS)
		return 0;
	conn_for(tgid, fd, LOUPE_ROLE_CLIENT);
	return 0;
}

static __always_inline int accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!traced_tgid(tgid))
		return 0;
	long ret = ctx->ret;
	if (ret < 0)
		return 0;
	conn_for(tgid, (__u32)ret, LOUPE_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!traced_tgid(tgid))
		return 0;
	struct loupe_conn_key key = {.tgid = tgid, .fd = (__u32)ctx->args[0]};
	struct loupe_conn_state *c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return 0;
	emit_conn(LOUPE_EV_CLOSE, &key, c, NULL, 0, 0);
	stat_add(LOUPE_STAT_CONN_CLOSE, 1);
	bpf_map_delete_elem(&conns, &key);
	bpf_map_delete_elem(&untraced, &key);
	return 0;
}

/* TCP state changes: counted, for `loupe check` and conn_stats. */
SEC("tracepoint/sock/inet_sock_set_state")
int sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (ctx->newstate == TCP_ESTABLISHED_STATE)
		stat_add(LOUPE_STAT_TCP_ESTABLISHED, 1);
	else if (ctx->newstate == TCP_CLOSE_STATE)
		stat_add(LOUPE_STAT_TCP_CLOSED, 1);
	return 0;
}

/* ---- TCP retransmits and resets (conn_stats) ------------------------- */

/* Adds `n` to counter `what` of the connection owning socket `sk`: in place
 * while the connection is open, as a record once its process closed it. */
static __always_inline void tcp_count(const void *sk, __u32 what, __u32 n)
{
	if (!sk)
		return;
	__u64 skey = (__u64)sk;
	struct sk_owner *o = bpf_map_lookup_elem(&sk_owner, &skey);
	if (!o) {
		stat_add(LOUPE_STAT_TCP_UNOWNED, 1);
		return;
	}
	stat_add(what == LOUPE_TCP_RETRANS ? LOUPE_STAT_TCP_RETRANS : LOUPE_STAT_TCP_RESETS, n);
	struct loupe_conn_key key = {.tgid = o->tgid, .fd = o->fd};
	struct loupe_conn_state *c = bpf_map_lookup_elem(&conns, &key);
	if (c && c->generation == o->generation && c->sk == skey) {
		if (what == LOUPE_TCP_RETRANS)
			__sync_fetch_and_add(&c->retransmits, n);
		else if (what == LOUPE_TCP_RST_SENT)
			__sync_fetch_and_add(&c->resets_sent, n);
		else
			__sync_fetch_and_add(&c->resets_received, n);
		return;
	}
	struct loupe_tcp_event ev = {};
	ev.h.kind = LOUPE_EV_TCP;
	ev.h.tgid = o->tgid;
	ev.h.fd = o->fd;
	ev.h.generation = o->generation;
	ev.h.ts_ns = bpf_ktime_get_ns();
	ev.what = what;
	ev.count = n;
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), rb_flags()))
		stat_add(LOUPE_STAT_RB_DROPS, 1);
	else
		stat_add(LOUPE_STAT_EVENTS, 1);
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
	if (bpf_core_field_exists(ctx->err) && ctx->err)
		return 0;
	/* Segments in the retransmitted skb, as the kernel's total_retrans
	 * counts them (tcp_skb_pcount). */
	struct sk_buff *skb = (struct sk_buff *)ctx->skbaddr;
	struct tcp_skb_cb *cb =
		(struct tcp_skb_cb *)((void *)skb + bpf_core_field_offset(struct sk_buff, cb));
	__u16 segs = 0;
	bpf_probe_read_kernel(&segs, sizeof(segs),
			      (void *)cb + bpf_core_field_offset(struct tcp_skb_cb, tcp_gso_segs));
	tcp_count(ctx->skaddr, LOUPE_TCP_RETRANS, segs ? segs : 1);
	return 0;
}

SEC("tracepoint/tcp/tcp_send_reset")
int tcp_send_reset(struct trace_event_raw_tcp_send_reset *ctx)
{
	tcp_count(ctx->skaddr, LOUPE_TCP_RST_SENT, 1);
	return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tcp_receive_reset(struct trace_event_raw_tcp_event_sk *ctx)
{
	tcp_count(ctx->skaddr, LOUPE_TCP_RST_RECV, 1);
	return 0;
}
