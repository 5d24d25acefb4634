/* Prints the size and field offsets of every struct in loupe.h, one per line
 * ("name value"); build.rs turns the output into the table the Rust mirror is
 * tested against. Host program, compiled by build.rs with clang-19. */
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include "loupe.h"

#define SZ(t) printf("%s.size %zu\n", #t, sizeof(struct t))
#define OFF(t, f) printf("%s.%s %zu\n", #t, #f, offsetof(struct t, f))

int main(void)
{
	SZ(loupe_event_header);
	OFF(loupe_event_header, kind);
	OFF(loupe_event_header, tgid);
	OFF(loupe_event_header, fd);
	OFF(loupe_event_header, generation);
	OFF(loupe_event_header, ts_ns);
	SZ(loupe_data_event);
	OFF(loupe_data_event, h);
	OFF(loupe_data_event, offset);
	OFF(loupe_data_event, len);
	OFF(loupe_data_event, gap_after);
	OFF(loupe_data_event, direction);
	OFF(loupe_data_event, source);
	OFF(loupe_data_event, flags);
	OFF(loupe_data_event, payload);
	SZ(loupe_conn_event);
	OFF(loupe_conn_event, h);
	OFF(loupe_conn_event, role);
	OFF(loupe_conn_event, family);
	OFF(loupe_conn_event, protocol);
	OFF(loupe_conn_event, local_port);
	OFF(loupe_conn_event, remote_port);
	OFF(loupe_conn_event, local_addr);
	OFF(loupe_conn_event, remote_addr);
	OFF(loupe_conn_event, bytes_sent);
	OFF(loupe_conn_event, bytes_recv);
	OFF(loupe_conn_event, retransmits);
	OFF(loupe_conn_event, resets_sent);
	OFF(loupe_conn_event, resets_received);
	OFF(loupe_conn_event, start_boottime_ns);
	OFF(loupe_conn_event, comm);
	SZ(loupe_tcp_event);
	OFF(loupe_tcp_event, h);
	OFF(loupe_tcp_event, what);
	OFF(loupe_tcp_event, count);
	SZ(loupe_conn_key);
	SZ(loupe_conn_state);
	OFF(loupe_conn_state, sk);
	OFF(loupe_conn_state, send_off);
	OFF(loupe_conn_state, recv_off);
	OFF(loupe_conn_state, retransmits);
	OFF(loupe_conn_state, resets_sent);
	OFF(loupe_conn_state, resets_received);
	OFF(loupe_conn_state, generation);
	OFF(loupe_conn_state, role);
	printf("LOUPE_CHUNK %d\n", LOUPE_CHUNK);
	printf("LOUPE_STAT_COUNT %d\n", LOUPE_STAT_COUNT);
	printf("LOUPE_STAT_ARGS_LOST %d\n", LOUPE_STAT_ARGS_LOST);
	printf("LOUPE_STAT_MMSG_SKIPPED %d\n", LOUPE_STAT_MMSG_SKIPPED);
	printf("LOUPE_STAT_RB_DROPS %d\n", LOUPE_STAT_RB_DROPS);
	printf("LOUPE_STAT_TCP_CLOSED %d\n", LOUPE_STAT_TCP_CLOSED);
	printf("LOUPE_STAT_UNTRACED_BYTES %d\n", LOUPE_STAT_UNTRACED_BYTES);
	printf("LOUPE_FLAG_MSG_END %d\n", LOUPE_FLAG_MSG_END);
	return 0;
}
