#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
#define P(n) SEC("tracepoint/syscalls/sys_enter_" #n) int en_##n(void *ctx) { return 0; } \
             SEC("tracepoint/syscalls/sys_exit_" #n) int ex_##n(void *ctx) { return 0; }
P(read) P(write) P(recvfrom) P(writev)
