/* linkem — a user-space link emulator between two TUN devices, for the
 * benchmark lab (contrib/bench/lab.sh) on machines without netem.
 *
 * Each side is a TUN device (IFF_TUN | IFF_NO_PI) that linkem creates in
 * a network namespace by entering it with setns(2) just long enough to
 * open /dev/net/tun: the device belongs to the namespace the fd was opened
 * in, and stays usable from anywhere after that. The devices are not
 * persistent, so they vanish when linkem exits, however it exits.
 *
 * A packet read from one side goes through three stages per direction
 * before it is written to the other side:
 *   loss:   dropped with probability P (a seeded PRNG per direction);
 *   rate:   a virtual serialisation clock. The link is busy until
 *           `busy_until`; a packet departs at max(now, busy_until) +
 *           len / rate. The backlog in bytes is (busy_until - now) * rate,
 *           and a packet that would push it past the queue limit is
 *           dropped (drop-tail). No separate queue is needed: departure
 *           times are known at arrival;
 *   delay:  due = departure + delay +- uniform jitter. Unless --reorder-ok,
 *           due never goes below the previous packet's, so the link stays
 *           FIFO like a wire (jitter then only stretches gaps).
 * Packets wait in a min-heap by (due, seq); one timerfd per direction is
 * armed, with an absolute CLOCK_MONOTONIC deadline, for the heap top.
 * timerfd rather than an ev_timer because libev's epoll backend rounds
 * timeouts to milliseconds, which would add up to 1 ms per hop to every
 * delay and clump packets at high rates. */
#include "link.h"
#include "prng.h"
#include "tool.h"

#include <ev.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Reads per readiness event: enough to amortise the wakeup, few enough
 * that the other direction and the timers are not starved. */
#define READ_BATCH 64
/* Bound on packets held per direction (delay line plus queue), so that a
 * huge delay at an unlimited rate cannot eat the machine's memory. */
#define DEFAULT_MAX_PKTS 65536

static struct {
	struct ev_loop *loop;
	struct dir d[2];
	int fd[2]; /* tun of side a, side b */
	ev_io w_tun[2];
	ev_io w_ctl;
	int ctl_fd;
	char ctl_buf[4096];
	size_t ctl_len;
	ev_signal w_term, w_int, w_usr1;
	bool reorder_ok;
	const char *stats_file;
	FILE *trace;
	ev_timer w_trace;
	double trace_t0, trace_last;
} g;

static unsigned char rbuf[65536];

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: linkem --a NS:IFNAME --b NS:IFNAME [impairments] [other]\n"
	    "  Creates TUN device IFNAME in network namespace NS for each\n"
	    "  side (NS: a name in /run/netns, a path such as\n"
	    "  /proc/PID/ns/net, or - for linkem's own) and forwards IP\n"
	    "  packets between them, impaired. Prints \"linkem: ready\" once\n"
	    "  both devices exist; configure addresses after that.\n"
	    "impairments (V or A2B,B2A for different directions):\n"
	    "  --loss P        drop with probability P (0..1)\n"
	    "  --delay MS      one-way delay in milliseconds\n"
	    "  --jitter MS     uniform extra delay in [-MS, +MS]; FIFO kept\n"
	    "  --rate MBIT     serialisation rate in Mbit/s (0 = unlimited)\n"
	    "  --queue-ms MS   drop-tail queue as time at the rate (100)\n"
	    "  --queue-kb KB   ... or in KiB (overrides --queue-ms)\n"
	    "other:\n"
	    "  --reorder-ok    let jitter reorder packets\n"
	    "  --seed S        PRNG seed (default 1)\n"
	    "  --max-pkts N    packets held per direction (default 65536)\n"
	    "  --control FIFO  read commands from FIFO (created if missing):\n"
	    "                  impairment options as above, \"stats\",\n"
	    "                  \"reset\" (zero the counters)\n"
	    "  --stats-file F  write the counters there on exit\n"
	    "  --trace FILE    every --trace-ms (100) append a line per\n"
	    "                  interval: t_s, then per direction (a>b, b>a)\n"
	    "                  Mbit/s delivered, queue bytes at the end,\n"
	    "                  mean and max queueing delay ms of the packets\n"
	    "                  queued in it, queue drops, random losses\n"
	    "  --trace-ms MS   trace interval (default 100)\n"
	    "SIGUSR1 prints the counters; SIGTERM/SIGINT print them and exit "
	    "0.\n");
}

static double now_mono(void)
{
	return tool_now();
}

/* ---- counters ----------------------------------------------------- */

static void stats_format(const struct dir *d, char *buf, size_t size)
{
	const struct stats *s = &d->st;
	snprintf(buf, size,
		 "%s in %llu in_bytes %llu out %llu out_bytes %llu lost %llu "
		 "qdrop %llu overflow %llu werr %llu held %zu",
		 d->name, (unsigned long long)s->in,
		 (unsigned long long)s->in_bytes, (unsigned long long)s->out,
		 (unsigned long long)s->out_bytes, (unsigned long long)s->lost,
		 (unsigned long long)s->qdrop, (unsigned long long)s->overflow,
		 (unsigned long long)s->werr, d->q.n);
}

static void stats_print(void)
{
	char line[2][256];
	for (int i = 0; i < 2; i++) {
		stats_format(&g.d[i], line[i], sizeof(line[i]));
		printf("linkem: %s\n", line[i]);
	}
	if (g.stats_file != NULL) {
		char both[520];
		snprintf(both, sizeof(both), "%s\n%s", line[0], line[1]);
		(void)tool_write_file(g.stats_file, both);
	}
}

/* ---- trace ------------------------------------------------------- */

/* One line per interval, both directions, so that a plot needs no join.
 * The queue delay is what packets that entered the queue in the interval
 * waited before their serialisation began (the sojourn a packet sees is
 * that plus its own len/rate); an interval with no packet reports what a
 * packet arriving at its end would wait, so an idle queue reads 0. */
static void trace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	double now = now_mono(), dt = now - g.trace_last;
	if (dt <= 0)
		return;
	g.trace_last = now;
	fprintf(g.trace, "%.3f", now - g.trace_t0);
	for (int i = 0; i < 2; i++) {
		struct dir *d = &g.d[i];
		struct trace_acc *t = &d->tr;
		double backlog = 0, mean;
		if (d->p.rate_Bps > 0 && d->busy_until > now)
			backlog = (d->busy_until - now) * d->p.rate_Bps;
		if (t->admitted > 0)
			mean = t->wait_sum / (double)t->admitted;
		else
			mean = d->p.rate_Bps > 0 ? backlog / d->p.rate_Bps : 0;
		fprintf(g.trace, " %.3f %.0f %.2f %.2f %llu %llu",
			(double)t->out_bytes * 8 / dt / 1e6, backlog,
			mean * 1e3, (t->admitted ? t->wait_max : mean) * 1e3,
			(unsigned long long)t->qdrop,
			(unsigned long long)t->lost);
		memset(t, 0, sizeof(*t));
	}
	fputc('\n', g.trace);
	/* Readers (plots, a script's tail) want whole lines as they come. */
	fflush(g.trace);
}

static bool trace_open(const char *path, double interval_s)
{
	g.trace = fopen(path, "w");
	if (g.trace == NULL) {
		fprintf(stderr, "linkem: --trace %s: %s\n", path,
			strerror(errno));
		return false;
	}
	fprintf(g.trace,
		"# linkem trace, every %g ms. Per direction: Mbit/s "
		"delivered (IP bytes), queue bytes at the interval's end,\n"
		"# mean and max queueing delay ms of packets queued in it, "
		"queue-full drops, random losses.\n"
		"# t_s ab_mbit ab_qbytes ab_qdelay_ms ab_qmax_ms ab_qdrop "
		"ab_lost ba_mbit ba_qbytes ba_qdelay_ms ba_qmax_ms ba_qdrop "
		"ba_lost\n",
		interval_s * 1e3);
	fflush(g.trace);
	g.trace_t0 = g.trace_last = now_mono();
	ev_timer_init(&g.w_trace, trace_cb, interval_s, interval_s);
	ev_timer_start(g.loop, &g.w_trace);
	return true;
}

/* ---- devices' input ---------------------------------------------- */

static void tun_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct dir *d = w->data;
	double now = now_mono();
	for (int i = 0; i < READ_BATCH; i++) {
		ssize_t n = read(d->in_fd, rbuf, sizeof(rbuf));
		if (n <= 0)
			break;
		link_ingress(d, rbuf, (size_t)n, now);
	}
	/* A zero-delay, unlimited link sends at once; otherwise this only
	 * re-arms the timer when the new packet is the earliest. */
	link_flush(d);
}

/* ---- control FIFO ------------------------------------------------- */

/* One command line: "stats", "reset" or impairment options. */
static void ctl_command(char *line)
{
	char *save = NULL, *tok = strtok_r(line, " \t\r", &save);
	if (tok == NULL)
		return;
	if (strcmp(tok, "stats") == 0) {
		stats_print();
		return;
	}
	if (strcmp(tok, "reset") == 0) {
		memset(&g.d[AB].st, 0, sizeof(g.d[AB].st));
		memset(&g.d[BA].st, 0, sizeof(g.d[BA].st));
		printf("linkem: counters reset\n");
		return;
	}
	bool ok = true;
	while (tok != NULL && ok) {
		const char *name = tok;
		while (*name == '-')
			name++;
		char *val = strtok_r(NULL, " \t\r", &save);
		if (val == NULL || !link_param_set(g.d, name, val)) {
			printf("linkem: control: bad \"%s %s\"\n", tok,
			       val ? val : "");
			ok = false;
		}
		tok = strtok_r(NULL, " \t\r", &save);
	}
	link_params_print(g.d);
}

static void ctl_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	ssize_t n = read(g.ctl_fd, g.ctl_buf + g.ctl_len,
			 sizeof(g.ctl_buf) - 1 - g.ctl_len);
	if (n <= 0)
		return;
	g.ctl_len += (size_t)n;
	g.ctl_buf[g.ctl_len] = '\0';
	char *start = g.ctl_buf, *nl;
	while ((nl = strchr(start, '\n')) != NULL) {
		*nl = '\0';
		ctl_command(start);
		start = nl + 1;
	}
	g.ctl_len -= (size_t)(start - g.ctl_buf);
	memmove(g.ctl_buf, start, g.ctl_len);
	/* A line longer than the buffer is garbage: drop it. */
	if (g.ctl_len == sizeof(g.ctl_buf) - 1)
		g.ctl_len = 0;
}

static bool ctl_open(const char *path)
{
	if (mkfifo(path, 0600) != 0 && errno != EEXIST) {
		fprintf(stderr, "linkem: mkfifo %s: %s\n", path,
			strerror(errno));
		return false;
	}
	/* O_RDWR: we are a writer too, so the FIFO never reports EOF when
	 * the last outside writer closes and the loop never spins. */
	g.ctl_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (g.ctl_fd < 0) {
		fprintf(stderr, "linkem: open %s: %s\n", path, strerror(errno));
		return false;
	}
	return true;
}

/* ---- devices ------------------------------------------------------ */

/* Opens TUN device ifname inside the namespace named by ns ("-" for our
 * own), returning the fd or -1. We come back to our own namespace before
 * returning, whatever happened. */
static int tun_open_in(const char *ns, const char *ifname)
{
	int self = -1, target = -1, fd = -1;
	if (strcmp(ns, "-") != 0) {
		char path[4096 + 16];
		snprintf(path, sizeof(path), "%s%s",
			 ns[0] == '/' ? "" : "/run/netns/", ns);
		self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		target = open(path, O_RDONLY | O_CLOEXEC);
		if (self < 0 || target < 0) {
			fprintf(stderr, "linkem: open %s: %s\n",
				self < 0 ? "/proc/self/ns/net" : path,
				strerror(errno));
			goto out;
		}
		if (setns(target, CLONE_NEWNET) != 0) {
			fprintf(stderr, "linkem: setns %s: %s\n", path,
				strerror(errno));
			goto out;
		}
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "linkem: /dev/net/tun: %s\n", strerror(errno));
	} else {
		struct ifreq ifr = {0};
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
			fprintf(stderr, "linkem: TUNSETIFF %s in %s: %s\n",
				ifname, ns, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	if (self >= 0 && setns(self, CLONE_NEWNET) != 0) {
		/* Running on in a foreign namespace would be a silent
		 * surprise for whatever we do next: refuse. */
		fprintf(stderr, "linkem: cannot return to own namespace: %s\n",
			strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return fd;
}

/* "NS:IFNAME" -> fd. */
static int side_open(const char *spec)
{
	char ns[4096];
	const char *colon = strrchr(spec, ':');
	if (colon == NULL || colon == spec || colon[1] == '\0' ||
	    strlen(colon + 1) >= IFNAMSIZ ||
	    (size_t)(colon - spec) >= sizeof(ns)) {
		fprintf(stderr, "linkem: bad side \"%s\" (want NS:IFNAME)\n",
			spec);
		return -1;
	}
	memcpy(ns, spec, (size_t)(colon - spec));
	ns[colon - spec] = '\0';
	return tun_open_in(ns, colon + 1);
}

/* ---- main --------------------------------------------------------- */

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	if (w->signum == SIGUSR1) {
		stats_print();
		return;
	}
	ev_break(loop, EVBREAK_ALL);
}

static int bad_arg(const char *name, const char *val)
{
	fprintf(stderr, "linkem: bad --%s \"%s\"\n", name, val ? val : "");
	return 1;
}

int main(int argc, char **argv)
{
	const char *side[2] = {NULL, NULL}, *control = NULL, *trace = NULL;
	uint64_t seed = 1, max_pkts = DEFAULT_MAX_PKTS;
	double trace_ms = 100;
	g.d[AB].p.queue_s = g.d[BA].p.queue_s = 0.1;
	g.d[AB].tfd = g.d[BA].tfd = g.ctl_fd = -1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(arg, "--reorder-ok") == 0) {
			g.reorder_ok = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 || i + 1 >= argc) {
			usage(stderr);
			return 1;
		}
		const char *name = arg + 2, *val = argv[++i];
		if (strcmp(name, "a") == 0)
			side[0] = val;
		else if (strcmp(name, "b") == 0)
			side[1] = val;
		else if (strcmp(name, "control") == 0)
			control = val;
		else if (strcmp(name, "stats-file") == 0)
			g.stats_file = val;
		else if (strcmp(name, "trace") == 0)
			trace = val;
		else if (strcmp(name, "trace-ms") == 0) {
			if (!tool_parse_double(val, 1, 60000, &trace_ms))
				return bad_arg(name, val);
		} else if (strcmp(name, "seed") == 0) {
			if (!tool_parse_u64(val, 0, UINT64_MAX, &seed))
				return bad_arg(name, val);
		} else if (strcmp(name, "max-pkts") == 0) {
			if (!tool_parse_u64(val, 16, 1u << 24, &max_pkts))
				return bad_arg(name, val);
		} else if (!link_param_set(g.d, name, val)) {
			return bad_arg(name, val);
		}
	}
	if (side[0] == NULL || side[1] == NULL) {
		usage(stderr);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Hrtimer slack (50 us by default) would be added to every wakeup;
	 * ask for the minimum so that delays are what was asked. */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	g.fd[0] = side_open(side[0]);
	g.fd[1] = g.fd[0] >= 0 ? side_open(side[1]) : -1;
	if (g.fd[0] < 0 || g.fd[1] < 0) {
		if (g.fd[0] >= 0)
			close(g.fd[0]);
		return 1;
	}
	if (control != NULL && !ctl_open(control)) {
		close(g.fd[0]);
		close(g.fd[1]);
		return 1;
	}
	g.loop = ev_default_loop(EVFLAG_AUTO);
	/* Distinct streams per direction from one seed. */
	for (int i = 0; i < 2; i++) {
		g.d[i].reorder_ok = g.reorder_ok;
		g.d[i].max_pkts = (size_t)max_pkts;
	}
	if (!link_dir_init(&g.d[AB], g.loop, "a>b", g.fd[0], g.fd[1], seed) ||
	    !link_dir_init(&g.d[BA], g.loop, "b>a", g.fd[1], g.fd[0],
			   prng_mix(seed + 1))) {
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		ev_io_init(&g.w_tun[i], tun_cb, g.fd[i], EV_READ);
		g.w_tun[i].data = &g.d[i == 0 ? AB : BA];
		ev_io_start(g.loop, &g.w_tun[i]);
	}
	if (g.ctl_fd >= 0) {
		ev_io_init(&g.w_ctl, ctl_cb, g.ctl_fd, EV_READ);
		ev_io_start(g.loop, &g.w_ctl);
	}
	if (trace != NULL && !trace_open(trace, trace_ms / 1e3))
		return 1;
	ev_signal_init(&g.w_term, signal_cb, SIGTERM);
	ev_signal_init(&g.w_int, signal_cb, SIGINT);
	ev_signal_init(&g.w_usr1, signal_cb, SIGUSR1);
	ev_signal_start(g.loop, &g.w_term);
	ev_signal_start(g.loop, &g.w_int);
	ev_signal_start(g.loop, &g.w_usr1);
	signal(SIGPIPE, SIG_IGN);

	link_params_print(g.d);
	printf("linkem: ready a %s b %s\n", side[0], side[1]);
	ev_run(g.loop, 0);

	stats_print();
	link_dir_free(&g.d[AB]);
	link_dir_free(&g.d[BA]);
	close(g.fd[0]);
	close(g.fd[1]);
	if (g.ctl_fd >= 0)
		close(g.ctl_fd);
	if (g.trace != NULL)
		fclose(g.trace);
	ev_loop_destroy(g.loop);
	return 0;
}
