#include "tool.h"

#include <signal.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

bool tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool tool_parse_size(const char *s, uint64_t *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	unsigned shift = 0;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return false;
	}
	if (*end != '\0' && end[1] != '\0')
		return false;
	if (shift > 0 && v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

bool tool_parse_double(const char *s, double min, double max, double *out)
{
	if (s == NULL || *s == '\0')
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
		return false;
	*out = v;
	return true;
}

double tool_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tool_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

bool tool_write_file(const char *path, const char *line)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		return false;
	}
	bool ok = fprintf(f, "%s\n", line) >= 0;
	ok = fclose(f) == 0 && ok;
	if (!ok)
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
	return ok;
}

void tool_put_be32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

void tool_put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

uint32_t tool_get_be32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = (v << 8) | p[i];
	return v;
}

uint64_t tool_get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void ss_header_encode(const struct ss_header *h,
		      unsigned char out[SS_HEADER_SIZE])
{
	tool_put_be32(out, SS_MAGIC);
	tool_put_be32(out + 4, h->flags);
	tool_put_be64(out + 8, h->up_size);
	tool_put_be64(out + 16, h->down_size);
	tool_put_be64(out + 24, h->seed);
}

bool ss_header_decode(const unsigned char in[SS_HEADER_SIZE],
		      struct ss_header *h)
{
	if (tool_get_be32(in) != SS_MAGIC)
		return false;
	h->flags = tool_get_be32(in + 4);
	if ((h->flags & ~SS_FLAG_NOHASH) != 0)
		return false;
	h->up_size = tool_get_be64(in + 8);
	h->down_size = tool_get_be64(in + 16);
	h->seed = tool_get_be64(in + 24);
	return true;
}

static void tool_stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct tool_stop *st = w->data;
	st->timed_out = true;
	ev_break(loop, EVBREAK_ALL);
}

static void tool_stop_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

void tool_stop_start(struct tool_stop *st, struct ev_loop *loop,
		     double timeout_s)
{
	st->timed_out = false;
	st->timeout_s = timeout_s;
	ev_timer_init(&st->w_timeout, tool_stop_timeout_cb, timeout_s, 0);
	st->w_timeout.data = st;
	ev_timer_start(loop, &st->w_timeout);
	ev_signal_init(&st->w_int, tool_stop_signal_cb, SIGINT);
	ev_signal_start(loop, &st->w_int);
	ev_signal_init(&st->w_term, tool_stop_signal_cb, SIGTERM);
	ev_signal_start(loop, &st->w_term);
}

void tool_stop_end(struct tool_stop *st, struct ev_loop *loop)
{
	ev_timer_stop(loop, &st->w_timeout);
	ev_signal_stop(loop, &st->w_int);
	ev_signal_stop(loop, &st->w_term);
}
