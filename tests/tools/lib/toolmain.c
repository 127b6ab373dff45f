#include "toolmain.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int tool_opt_help(int opt, void (*usage)(FILE *))
{
	usage(opt == 'h' ? stdout : stderr);
	return opt == 'h' ? 0 : 1;
}

bool tool_opt_addr(const char *tool, const char *s, struct netaddr *out)
{
	if (netaddr_parse(s, out))
		return true;
	fprintf(stderr, "%s: bad address \"%s\"\n", tool, s);
	return false;
}

bool tool_opt_timeout(const char *s, double *out)
{
	return tool_parse_double(s, 0.001, 1e6, out);
}

int tool_listen(const char *tool, const struct netaddr *a, int type,
		int udp_buffers)
{
	int fd = type == SOCK_DGRAM ? netutil_udp_bind(a)
				    : netutil_tcp_listen(a, 4096);
	struct netaddr bound;
	if (fd < 0 || !netutil_local_addr(fd, &bound)) {
		char shown[NETADDR_STRLEN];
		int e = errno;
		fprintf(stderr, "%s: cannot listen on %s: %s\n", tool,
			netaddr_format(a, shown, sizeof(shown)), strerror(e));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (type == SOCK_DGRAM && udp_buffers > 0)
		netutil_set_buffers(fd, udp_buffers);
	printf("listening on %d\n", netaddr_port(&bound));
	return fd;
}

int tool_finish(const char *tool, const char *line, const char *stats_file,
		const struct tool_stop *st)
{
	printf("%s: %s%s\n", tool, line, st->timed_out ? " (timeout)" : "");
	bool ok = stats_file == NULL || tool_write_file(stats_file, line);
	if (st->timed_out) {
		fprintf(stderr, "%s: timeout after %g s\n", tool,
			st->timeout_s);
		return 2;
	}
	return ok ? 0 : 1;
}
