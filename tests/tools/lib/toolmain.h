/* toolmain.h — the parts of main() the server-like test tools share:
 * option arguments, the "listening on PORT" line the e2e scripts read to
 * learn a port, and the summary, stats file and exit status at the end.
 * Every function that can fail reports on stderr as "<tool>: ..." itself,
 * so callers only return 1. */
#ifndef KCPTUN_TEST_TOOLMAIN_H
#define KCPTUN_TEST_TOOLMAIN_H

#include "netutil.h"
#include "tool.h"

#include <stdbool.h>
#include <stdio.h>

/* The end of a getopt_long switch: 'h' (--help) prints usage on stdout and
 * gives exit status 0, anything else (an unknown option, a missing value)
 * prints it on stderr and gives 1. */
int tool_opt_help(int opt, void (*usage)(FILE *));
/* netaddr_parse, or "<tool>: bad address \"<s>\"" and false. */
bool tool_opt_addr(const char *tool, const char *s, struct netaddr *out);
/* --timeout S: one range for every tool, 1 ms .. about 11 days. */
bool tool_opt_timeout(const char *s, double *out);

/* Opens the tool's socket on a (SOCK_STREAM: listening, backlog 4096;
 * SOCK_DGRAM: bound, with udp_buffers bytes of kernel buffers if > 0) and
 * prints "listening on PORT". The fd, or -1 after a message. */
int tool_listen(const char *tool, const struct netaddr *a, int type,
		int udp_buffers);

/* Ends a run stopped by st: prints "<tool>: <line>", marked "(timeout)"
 * when the timer ended it, writes line to stats_file (if not NULL) and
 * returns the exit status: 2 on timeout, 1 if the stats file could not be
 * written, else 0. */
int tool_finish(const char *tool, const char *line, const char *stats_file,
		const struct tool_stop *st);

#endif
