/* udprelay — a UDP impairment relay between tunnel client and server in
 * e2e tests (loss, duplication, reordering, delay, jitter, rate limit,
 * NAT rebinding), with capture and replay. See usage() and
 * tests/tools/README.md.
 *
 * A datagram passes three stages per direction, each optional:
 *   ingress:  count, capture, loss roll, duplicate roll, delay + jitter
 *             (a min-heap ordered by due time, FIFO among equal times);
 *   rate:     token bucket with a bounded FIFO (drop when full);
 *   reorder:  a datagram picked for reordering is held until the next one
 *             in its direction has gone out, or REORDER_HOLD at most.
 * One ev_timer is armed for the earliest of heap top, bucket refill and
 * held deadline; nothing ever sleeps. */
#include "netutil.h"
#include "prng.h"
#include "tool.h"
#include "toolmain.h"

#include <ev.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define C2T	       0 /* client -> target */
#define T2C	       1 /* target -> client */
#define REORDER_HOLD   0.005
#define CLIENT_BUCKETS 1024
#define MAX_CLIENTS    4096
/* Timers may fire a hair early; treat anything this close as due. */
#define SLACK	    0.0001
#define UDP_BUFFERS (4 << 20)

struct client {
	struct client *hnext;
	struct netaddr addr;
	int up_fd;
	ev_io w_up;
	uint64_t since_rebind;
};

struct pkt {
	struct pkt *next; /* rate queue link */
	double due;
	uint64_t seq;
	struct client *c;
	int dir;
	size_t len;
	unsigned char data[];
};

struct stats {
	uint64_t in, out, lost, qdrop, dup, reord, senderr;
};

struct dir_state {
	struct prng rng;
	struct stats st;
	/* Rate stage. */
	struct pkt *qhead, *qtail;
	size_t qbytes;
	double tokens, refilled;
	/* Reorder stage. */
	struct pkt *held;
	double held_until;
};

static struct {
	struct ev_loop *loop;
	struct netaddr target;
	int lfd;
	ev_io w_listen;
	ev_timer w_sched;
	double loss, dup, reorder, delay, jitter, rate_Bps;
	size_t qlimit;
	uint64_t rebind_after;
	FILE *capture;
	struct client *buckets[CLIENT_BUCKETS];
	unsigned nclients;
	uint64_t rebinds, client_overflow;
	struct dir_state d[2];
	struct pkt **heap;
	size_t heap_len, heap_cap;
	uint64_t seq;
	struct tool_stop stop; /* SIGINT, SIGTERM, --timeout */
} g;

static unsigned char dgram[65536];
/* Separate: a rebind drains the old socket while dgram holds the
 * client's datagram that triggered it. */
static unsigned char drainbuf[65536];

static void usage(FILE *f)
{
	fprintf(f,
		"usage: udprelay --listen HOST:PORT --target HOST:PORT "
		"[impairments]\n"
		"       udprelay --replay FILE --target HOST:PORT "
		"[--replay-speed X]\n"
		"  Relays datagrams from each client to the target from a\n"
		"  per-client socket; replies go back to that client. PORT 0\n"
		"  picks a free port, printed as \"listening on PORT\".\n"
		"impairments (each direction rolls independently):\n"
		"  --loss P          drop with probability P (0..1)\n"
		"  --dup P           send twice with probability P\n"
		"  --reorder P       hold back until the next datagram passes\n"
		"                    (at most 5 ms) with probability P\n"
		"  --delay-ms D      one-way delay\n"
		"  --jitter-ms J     uniform extra delay in [-J, +J]\n"
		"  --rate-mbit R     token bucket at R Mbit/s with a bounded\n"
		"  --queue-kb K      queue (default 100 ms of R, >= 16 KiB)\n"
		"  --seed S          PRNG seed (default 1)\n"
		"  --rebind-after N  new per-client source port every N\n"
		"                    client->target datagrams (NAT rebinding)\n"
		"  --capture FILE    append client->target datagrams: u64 BE\n"
		"                    realtime us, u32 BE length, bytes\n"
		"other:\n"
		"  --timeout S       exit 2 after S seconds (default 300)\n"
		"  --stats-file F    write the stats line there on exit\n"
		"  --replay-speed X  replay pacing; 0 = no pauses (default 1)\n"
		"SIGTERM/SIGINT: print stats, exit 0.\n");
}

/* ---- delay heap --------------------------------------------------- */

static bool pkt_before(const struct pkt *a, const struct pkt *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static bool heap_push(struct pkt *p)
{
	if (g.heap_len == g.heap_cap) {
		size_t cap = g.heap_cap ? g.heap_cap * 2 : 256;
		struct pkt **h = realloc(g.heap, cap * sizeof(*h));
		if (h == NULL)
			return false;
		g.heap = h;
		g.heap_cap = cap;
	}
	size_t i = g.heap_len++;
	while (i > 0 && pkt_before(p, g.heap[(i - 1) / 2])) {
		g.heap[i] = g.heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	g.heap[i] = p;
	return true;
}

static struct pkt *heap_pop(void)
{
	struct pkt *top = g.heap[0], *last = g.heap[--g.heap_len];
	size_t i = 0, n = g.heap_len;
	for (;;) {
		size_t k = 2 * i + 1;
		if (k >= n)
			break;
		if (k + 1 < n && pkt_before(g.heap[k + 1], g.heap[k]))
			k++;
		if (!pkt_before(g.heap[k], last))
			break;
		g.heap[i] = g.heap[k];
		i = k;
	}
	if (n > 0)
		g.heap[i] = last;
	return top;
}

/* ---- output ------------------------------------------------------- */

static void pkt_send(struct pkt *p)
{
	struct dir_state *d = &g.d[p->dir];
	ssize_t n;
	for (int tries = 0; tries < 2; tries++) {
		if (p->dir == C2T)
			n = send(p->c->up_fd, p->data, p->len, 0);
		else
			n = sendto(g.lfd, p->data, p->len, 0,
				   (struct sockaddr *)&p->c->addr.ss,
				   p->c->addr.len);
		/* A connected UDP socket reports an earlier ICMP error on
		 * the next send and drops that datagram: try once more. */
		if (n >= 0 || errno != ECONNREFUSED)
			break;
	}
	if (n == (ssize_t)p->len)
		d->st.out++;
	else
		d->st.senderr++;
	free(p);
}

/* Reorder stage: the last one before the socket. */
static void stage_reorder(struct pkt *p, double now)
{
	struct dir_state *d = &g.d[p->dir];
	if (d->held == NULL && prng_chance(&d->rng, g.reorder)) {
		d->held = p;
		d->held_until = now + REORDER_HOLD;
		d->st.reord++;
		return;
	}
	pkt_send(p);
	if (d->held != NULL) {
		pkt_send(d->held);
		d->held = NULL;
	}
}

static void rate_drain(struct dir_state *d, double now)
{
	double burst = g.rate_Bps * 0.01;
	if (burst < 3000)
		burst = 3000;
	d->tokens += (now - d->refilled) * g.rate_Bps;
	if (d->tokens > burst)
		d->tokens = burst;
	d->refilled = now;
	while (d->qhead != NULL && d->tokens >= (double)d->qhead->len) {
		struct pkt *p = d->qhead;
		d->qhead = p->next;
		if (d->qhead == NULL)
			d->qtail = NULL;
		d->qbytes -= p->len;
		d->tokens -= (double)p->len;
		stage_reorder(p, now);
	}
}

static void stage_rate(struct pkt *p, double now)
{
	struct dir_state *d = &g.d[p->dir];
	if (g.rate_Bps <= 0) {
		stage_reorder(p, now);
		return;
	}
	if (d->qbytes + p->len > g.qlimit) {
		d->st.qdrop++;
		free(p);
		return;
	}
	p->next = NULL;
	if (d->qtail != NULL)
		d->qtail->next = p;
	else
		d->qhead = p;
	d->qtail = p;
	d->qbytes += p->len;
	rate_drain(d, now);
}

/* Runs every stage that is due and arms the timer for the next one. */
static void schedule(void)
{
	double now = ev_now(g.loop);
	while (g.heap_len > 0 && g.heap[0]->due <= now + SLACK)
		stage_rate(heap_pop(), now);
	double next = -1;
	if (g.heap_len > 0)
		next = g.heap[0]->due;
	for (int i = 0; i < 2; i++) {
		struct dir_state *d = &g.d[i];
		if (d->qhead != NULL) {
			rate_drain(d, now);
			if (d->qhead != NULL) {
				double t =
				    now + ((double)d->qhead->len - d->tokens) /
					      g.rate_Bps;
				if (next < 0 || t < next)
					next = t;
			}
		}
		if (d->held != NULL && d->held_until <= now + SLACK) {
			pkt_send(d->held);
			d->held = NULL;
		}
		if (d->held != NULL && (next < 0 || d->held_until < next))
			next = d->held_until;
	}
	ev_timer_stop(g.loop, &g.w_sched);
	if (next >= 0) {
		ev_timer_set(&g.w_sched, next > now ? next - now : 0, 0);
		ev_timer_start(g.loop, &g.w_sched);
	}
}

static void sched_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	schedule();
}

/* ---- input -------------------------------------------------------- */

static void capture_write(const unsigned char *data, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned char hdr[12];
	tool_put_be64(hdr, (uint64_t)ts.tv_sec * 1000000u +
			       (uint64_t)ts.tv_nsec / 1000u);
	tool_put_be32(hdr + 8, (uint32_t)len);
	if (fwrite(hdr, sizeof(hdr), 1, g.capture) != 1 ||
	    fwrite(data, len, 1, g.capture) != 1) {
		fprintf(stderr, "udprelay: capture write failed, "
				"capture stopped\n");
		fclose(g.capture);
		g.capture = NULL;
	}
}

static void ingress(struct client *c, int dir, const unsigned char *data,
		    size_t len)
{
	struct dir_state *d = &g.d[dir];
	d->st.in++;
	if (dir == C2T && g.capture != NULL)
		capture_write(data, len);
	if (prng_chance(&d->rng, g.loss)) {
		d->st.lost++;
		return;
	}
	int copies = 1;
	if (prng_chance(&d->rng, g.dup)) {
		copies = 2;
		d->st.dup++;
	}
	double now = ev_now(g.loop);
	for (int i = 0; i < copies; i++) {
		struct pkt *p = malloc(sizeof(*p) + len);
		if (p == NULL) {
			d->st.qdrop++;
			return;
		}
		memcpy(p->data, data, len);
		p->len = len;
		p->c = c;
		p->dir = dir;
		p->seq = g.seq++;
		double delay = g.delay;
		if (g.jitter > 0)
			delay += (2 * prng_unit(&d->rng) - 1) * g.jitter;
		p->due = now + (delay > 0 ? delay : 0);
		if (p->due <= now && g.heap_len == 0)
			stage_rate(p, now);
		else if (!heap_push(p)) {
			d->st.qdrop++;
			free(p);
		}
	}
}

static void up_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct client *c = w->data;
	for (int budget = 64; budget > 0; budget--) {
		ssize_t n = recv(c->up_fd, dgram, sizeof(dgram), 0);
		if (n < 0 && errno == ECONNREFUSED)
			continue; /* ICMP for an earlier send; keep going */
		if (n < 0)
			break;
		ingress(c, T2C, dgram, (size_t)n);
	}
	schedule();
}

/* A fresh connected socket: a fresh ephemeral source port. */
static bool client_bind(struct client *c)
{
	int fd = netutil_connect(&g.target, SOCK_DGRAM);
	if (fd < 0) {
		fprintf(stderr, "udprelay: upstream socket: %s\n",
			strerror(errno));
		return false;
	}
	if (c->up_fd >= 0) {
		/* Replies that reached the old port before the switch are
		 * still delivered: rebinding tests a new address, loss is
		 * --loss's job. Later ones hit a closed port, as with a NAT
		 * that dropped the mapping. */
		ssize_t n;
		while ((n = recv(c->up_fd, drainbuf, sizeof(drainbuf), 0)) >=
			   0 ||
		       errno == ECONNREFUSED)
			if (n >= 0)
				ingress(c, T2C, drainbuf, (size_t)n);
		ev_io_stop(g.loop, &c->w_up);
		close(c->up_fd);
	}
	netutil_set_buffers(fd, UDP_BUFFERS);
	c->up_fd = fd;
	ev_io_init(&c->w_up, up_cb, fd, EV_READ);
	c->w_up.data = c;
	ev_io_start(g.loop, &c->w_up);
	return true;
}

static struct client *client_get(const struct netaddr *a)
{
	uint32_t b = netaddr_hash(a) % CLIENT_BUCKETS;
	for (struct client *c = g.buckets[b]; c != NULL; c = c->hnext)
		if (netaddr_equal(&c->addr, a))
			return c;
	if (g.nclients >= MAX_CLIENTS) {
		g.client_overflow++;
		return NULL;
	}
	struct client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->addr = *a;
	c->up_fd = -1;
	if (!client_bind(c)) {
		free(c);
		return NULL;
	}
	c->hnext = g.buckets[b];
	g.buckets[b] = c;
	g.nclients++;
	return c;
}

static void listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	for (int budget = 64; budget > 0; budget--) {
		struct netaddr from;
		ssize_t n =
		    netutil_recvfrom(w->fd, dgram, sizeof(dgram), &from);
		if (n < 0)
			break;
		struct client *c = client_get(&from);
		if (c == NULL)
			continue;
		if (g.rebind_after > 0 && ++c->since_rebind > g.rebind_after) {
			/* Rebind before this datagram, so exactly N went
			 * out from the old port. */
			if (client_bind(c)) {
				g.rebinds++;
				c->since_rebind = 1;
			}
		}
		ingress(c, C2T, dgram, (size_t)n);
	}
	if (g.capture != NULL)
		fflush(g.capture);
	schedule();
}

static void stats_line(char *buf, size_t size)
{
	int n = 0;
	static const char *const names[2] = {"c2t", "t2c"};
	for (int i = 0; i < 2; i++) {
		const struct stats *s = &g.d[i].st;
		n += snprintf(buf + n, size - (size_t)n,
			      "%s_in %llu %s_out %llu %s_lost %llu "
			      "%s_qdrop %llu %s_dup %llu %s_reord %llu "
			      "%s_senderr %llu ",
			      names[i], (unsigned long long)s->in, names[i],
			      (unsigned long long)s->out, names[i],
			      (unsigned long long)s->lost, names[i],
			      (unsigned long long)s->qdrop, names[i],
			      (unsigned long long)s->dup, names[i],
			      (unsigned long long)s->reord, names[i],
			      (unsigned long long)s->senderr);
	}
	snprintf(buf + n, size - (size_t)n,
		 "clients %u rebinds %llu client_overflow %llu", g.nclients,
		 (unsigned long long)g.rebinds,
		 (unsigned long long)g.client_overflow);
}

static void cleanup(void)
{
	while (g.heap_len > 0)
		free(heap_pop());
	free(g.heap);
	for (int i = 0; i < 2; i++) {
		struct dir_state *d = &g.d[i];
		while (d->qhead != NULL) {
			struct pkt *p = d->qhead;
			d->qhead = p->next;
			free(p);
		}
		free(d->held);
	}
	for (int b = 0; b < CLIENT_BUCKETS; b++) {
		while (g.buckets[b] != NULL) {
			struct client *c = g.buckets[b];
			g.buckets[b] = c->hnext;
			ev_io_stop(g.loop, &c->w_up);
			close(c->up_fd);
			free(c);
		}
	}
	if (g.capture != NULL)
		fclose(g.capture);
}

/* ---- replay ------------------------------------------------------- */

static void sleep_until(double t)
{
	double left = t - tool_now();
	if (left <= 0)
		return;
	struct timespec ts = {.tv_sec = (time_t)left,
			      .tv_nsec =
				  (long)((left - (double)(time_t)left) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Sends every captured datagram to the target from one fresh socket,
 * keeping the captured gaps divided by speed, then counts replies for a
 * moment (a replay must not provoke any). */
static int replay(const char *path, double speed, double timeout)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "udprelay: %s: %s\n", path, strerror(errno));
		return 1;
	}
	int fd = netutil_connect(&g.target, SOCK_DGRAM);
	if (fd < 0) {
		fprintf(stderr, "udprelay: socket: %s\n", strerror(errno));
		fclose(f);
		return 1;
	}
	netutil_set_buffers(fd, UDP_BUFFERS);
	double t0 = tool_now(), deadline = t0 + timeout;
	uint64_t first = 0, n = 0, bytes = 0, replies = 0, errs = 0;
	unsigned char hdr[12];
	int rc = 0;
	while (fread(hdr, sizeof(hdr), 1, f) == 1) {
		uint64_t ts = tool_get_be64(hdr);
		uint32_t len = tool_get_be32(hdr + 8);
		if (len > sizeof(dgram) || fread(dgram, len, 1, f) != 1) {
			fprintf(stderr, "udprelay: %s: truncated record %llu\n",
				path, (unsigned long long)n);
			rc = 1;
			break;
		}
		if (n == 0)
			first = ts;
		/* Appended runs may go back in time: send those at once. */
		if (speed > 0 && ts > first)
			sleep_until(t0 + (double)(ts - first) * 1e-6 / speed);
		if (tool_now() > deadline) {
			rc = 2;
			break;
		}
		if (send(fd, dgram, len, 0) != (ssize_t)len)
			errs++;
		n++;
		bytes += len;
		while (recv(fd, dgram, sizeof(dgram), 0) >= 0)
			replies++;
	}
	double sent_at = tool_now();
	double until = sent_at + 0.2 < deadline ? sent_at + 0.2 : deadline;
	while (tool_now() < until) {
		if (recv(fd, dgram, sizeof(dgram), 0) >= 0)
			replies++;
		else
			sleep_until(tool_now() + 0.001);
	}
	fclose(f);
	close(fd);
	printf("udprelay: replayed %llu datagrams, %llu bytes in %.3f s, "
	       "send errors %llu, replies %llu\n",
	       (unsigned long long)n, (unsigned long long)bytes, sent_at - t0,
	       (unsigned long long)errs, (unsigned long long)replies);
	return rc;
}

/* ---- main ---------------------------------------------------------- */

static bool opt_prob(const char *arg, double *out)
{
	return tool_parse_double(arg, 0, 1, out);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"target", required_argument, NULL, 'T'},
	    {"loss", required_argument, NULL, 'L'},
	    {"dup", required_argument, NULL, 'D'},
	    {"reorder", required_argument, NULL, 'R'},
	    {"delay-ms", required_argument, NULL, 'd'},
	    {"jitter-ms", required_argument, NULL, 'j'},
	    {"rate-mbit", required_argument, NULL, 'r'},
	    {"queue-kb", required_argument, NULL, 'q'},
	    {"seed", required_argument, NULL, 's'},
	    {"rebind-after", required_argument, NULL, 'b'},
	    {"capture", required_argument, NULL, 'c'},
	    {"replay", required_argument, NULL, 'p'},
	    {"replay-speed", required_argument, NULL, 'S'},
	    {"timeout", required_argument, NULL, 't'},
	    {"stats-file", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *listen_str = NULL, *target_str = NULL, *capture = NULL;
	const char *replay_file = NULL, *stats_file = NULL;
	double timeout = 300, speed = 1, rate_mbit = 0, ms;
	uint64_t seed = 1, queue_kb = 0;
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		bool ok = true;
		switch (o) {
		case 'l':
			listen_str = optarg;
			break;
		case 'T':
			target_str = optarg;
			break;
		case 'L':
			ok = opt_prob(optarg, &g.loss);
			break;
		case 'D':
			ok = opt_prob(optarg, &g.dup);
			break;
		case 'R':
			ok = opt_prob(optarg, &g.reorder);
			break;
		case 'd':
		case 'j':
			ok = tool_parse_double(optarg, 0, 600000, &ms);
			*(o == 'd' ? &g.delay : &g.jitter) = ms / 1000.0;
			break;
		case 'r':
			ok = tool_parse_double(optarg, 0.001, 1e6, &rate_mbit);
			break;
		case 'q':
			ok = tool_parse_u64(optarg, 1, 1 << 20, &queue_kb);
			break;
		case 's':
			ok = tool_parse_u64(optarg, 0, UINT64_MAX, &seed);
			break;
		case 'b':
			ok = tool_parse_u64(optarg, 1, UINT64_MAX,
					    &g.rebind_after);
			break;
		case 'c':
			capture = optarg;
			break;
		case 'p':
			replay_file = optarg;
			break;
		case 'S':
			ok = tool_parse_double(optarg, 0, 1e6, &speed);
			break;
		case 't':
			ok = tool_opt_timeout(optarg, &timeout);
			break;
		case 'f':
			stats_file = optarg;
			break;
		default:
			return tool_opt_help(o, usage);
		}
		if (!ok) {
			fprintf(stderr, "udprelay: bad value \"%s\"\n", optarg);
			return 1;
		}
	}
	if (target_str == NULL || optind != argc ||
	    (listen_str == NULL) == (replay_file == NULL)) {
		usage(stderr);
		return 1;
	}
	if (!tool_opt_addr("udprelay", target_str, &g.target))
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	tool_raise_nofile();
	if (replay_file != NULL)
		return replay(replay_file, speed, timeout);

	struct netaddr la;
	if (!tool_opt_addr("udprelay", listen_str, &la))
		return 1;
	g.rate_Bps = rate_mbit * 1e6 / 8;
	g.qlimit =
	    queue_kb > 0 ? (size_t)queue_kb * 1024 : (size_t)(g.rate_Bps * 0.1);
	if (g.qlimit < 16 * 1024)
		g.qlimit = 16 * 1024;
	/* Separate streams: one direction's traffic must not change the
	 * other's rolls, so runs stay reproducible per direction. */
	prng_seed(&g.d[C2T].rng, seed);
	prng_seed(&g.d[T2C].rng, seed ^ 0x5A5A5A5A5A5A5A5AULL);
	if (capture != NULL && (g.capture = fopen(capture, "ab")) == NULL) {
		fprintf(stderr, "udprelay: %s: %s\n", capture, strerror(errno));
		return 1;
	}
	g.lfd = tool_listen("udprelay", &la, SOCK_DGRAM, UDP_BUFFERS);
	if (g.lfd < 0) {
		if (g.capture != NULL)
			fclose(g.capture);
		return 1;
	}

	g.loop = ev_default_loop(0);
	double now = ev_now(g.loop);
	g.d[C2T].refilled = g.d[T2C].refilled = now;
	ev_io_init(&g.w_listen, listen_cb, g.lfd, EV_READ);
	ev_io_start(g.loop, &g.w_listen);
	ev_init(&g.w_sched, sched_cb);
	tool_stop_start(&g.stop, g.loop, timeout);

	ev_run(g.loop, 0);

	char line[1024];
	stats_line(line, sizeof(line));
	int rc = tool_finish("udprelay", line, stats_file, &g.stop);
	cleanup();
	ev_io_stop(g.loop, &g.w_listen);
	close(g.lfd);
	tool_stop_end(&g.stop, g.loop);
	ev_loop_destroy(g.loop);
	return rc;
}
