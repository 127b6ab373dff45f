/* link.c — one direction of linkem's link: see link.h. */
#include "link.h"

#include "tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Packets due this close to now are sent now: waking up again for a few
 * microseconds costs more accuracy than it buys. */
#define SLACK 20e-6
/* The queue always holds at least two full-size packets, else a small
 * --queue-ms at a low rate would pass nothing. */
#define MIN_QUEUE_BYTES 3000

/* ---- parameters --------------------------------------------------- */

/* "V" sets both directions, "V1,V2" sets a->b and b->a. */
static bool parse_pair(const char *s, double min, double max, double out[2])
{
	char tmp[64];
	if (strlen(s) >= sizeof(tmp))
		return false;
	strcpy(tmp, s);
	char *comma = strchr(tmp, ',');
	if (comma != NULL)
		*comma = '\0';
	if (!tool_parse_double(tmp, min, max, &out[0]))
		return false;
	out[1] = out[0];
	return comma == NULL || tool_parse_double(comma + 1, min, max, &out[1]);
}

bool link_param_set(struct dir d[2], const char *name, const char *val)
{
	double v[2];
	if (strcmp(name, "loss") == 0) {
		if (!parse_pair(val, 0, 1, v))
			return false;
		d[AB].p.loss = v[0];
		d[BA].p.loss = v[1];
	} else if (strcmp(name, "delay") == 0) {
		if (!parse_pair(val, 0, 60000, v))
			return false;
		d[AB].p.delay = v[0] / 1e3;
		d[BA].p.delay = v[1] / 1e3;
	} else if (strcmp(name, "jitter") == 0) {
		if (!parse_pair(val, 0, 60000, v))
			return false;
		d[AB].p.jitter = v[0] / 1e3;
		d[BA].p.jitter = v[1] / 1e3;
	} else if (strcmp(name, "rate") == 0) {
		if (!parse_pair(val, 0, 100000, v))
			return false;
		d[AB].p.rate_Bps = v[0] * 1e6 / 8;
		d[BA].p.rate_Bps = v[1] * 1e6 / 8;
	} else if (strcmp(name, "queue-ms") == 0) {
		if (!parse_pair(val, 0, 60000, v))
			return false;
		d[AB].p.queue_s = v[0] / 1e3;
		d[BA].p.queue_s = v[1] / 1e3;
		d[AB].p.queue_b = d[BA].p.queue_b = 0;
	} else if (strcmp(name, "queue-kb") == 0) {
		if (!parse_pair(val, 1, 1 << 22, v))
			return false;
		d[AB].p.queue_b = v[0] * 1024;
		d[BA].p.queue_b = v[1] * 1024;
	} else {
		return false;
	}
	return true;
}

double link_queue_limit(const struct params *p)
{
	double q = p->queue_b > 0 ? p->queue_b : p->queue_s * p->rate_Bps;
	return q < MIN_QUEUE_BYTES ? MIN_QUEUE_BYTES : q;
}

void link_params_print(const struct dir d[2])
{
	for (int i = 0; i < 2; i++) {
		printf("linkem: %s loss %g delay %g ms jitter %g ms rate %g "
		       "Mbit/s queue %.0f bytes\n",
		       d[i].name, d[i].p.loss, d[i].p.delay * 1e3,
		       d[i].p.jitter * 1e3, d[i].p.rate_Bps * 8 / 1e6,
		       d[i].p.rate_Bps > 0 ? link_queue_limit(&d[i].p) : 0.0);
	}
}

/* ---- delay heap --------------------------------------------------- */

static bool pkt_before(const void *va, const void *vb)
{
	const struct pkt *a = va, *b = vb;
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

/* ---- timers ------------------------------------------------------- */

static void timer_arm(struct dir *d)
{
	const struct pkt *top = pheap_top(&d->q);
	double when = top != NULL ? top->due : 0;
	if (when == d->armed)
		return;
	struct itimerspec its = {0};
	if (when > 0) {
		its.it_value.tv_sec = (time_t)when;
		its.it_value.tv_nsec =
		    (long)((when - (double)its.it_value.tv_sec) * 1e9);
		/* An all-zero it_value would disarm: never ask for 0. */
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(d->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
		perror("linkem: timerfd_settime");
		return;
	}
	d->armed = when;
}

void link_flush(struct dir *d)
{
	double now = tool_now();
	for (const struct pkt *top = pheap_top(&d->q);
	     top != NULL && top->due <= now + SLACK; top = pheap_top(&d->q)) {
		struct pkt *p = pheap_pop(&d->q);
		ssize_t n = write(d->out_fd, p->data, p->len);
		if (n == (ssize_t)p->len) {
			d->st.out++;
			d->st.out_bytes += p->len;
			d->tr.out_bytes += p->len;
		} else {
			d->st.werr++;
		}
		free(p);
	}
	timer_arm(d);
}

static void timer_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct dir *d = w->data;
	uint64_t expirations;
	/* EAGAIN when re-armed before we got here: harmless. */
	(void)!read(d->tfd, &expirations, sizeof(expirations));
	d->armed = 0;
	link_flush(d);
}

/* ---- ingress ------------------------------------------------------ */

void link_ingress(struct dir *d, const unsigned char *data, size_t len,
		  double now)
{
	d->st.in++;
	d->st.in_bytes += len;
	if (d->p.loss > 0 && prng_chance(&d->rng, d->p.loss)) {
		d->st.lost++;
		d->tr.lost++;
		return;
	}
	double depart = now;
	if (d->p.rate_Bps > 0) {
		double start = d->busy_until > now ? d->busy_until : now;
		double backlog = (start - now) * d->p.rate_Bps;
		if (backlog + (double)len > link_queue_limit(&d->p)) {
			d->st.qdrop++;
			d->tr.qdrop++;
			return;
		}
		double wait = start - now;
		d->tr.wait_sum += wait;
		if (wait > d->tr.wait_max)
			d->tr.wait_max = wait;
		d->tr.admitted++;
		depart = start + (double)len / d->p.rate_Bps;
		d->busy_until = depart;
	}
	if (d->q.n >= d->max_pkts) {
		d->st.overflow++;
		return;
	}
	double due = depart + d->p.delay;
	if (d->p.jitter > 0)
		due += (2 * prng_unit(&d->rng) - 1) * d->p.jitter;
	if (due < depart)
		due = depart;
	if (!d->reorder_ok && due < d->last_due)
		due = d->last_due;
	d->last_due = due;
	struct pkt *p = malloc(sizeof(*p) + len);
	if (p == NULL) {
		d->st.overflow++;
		return;
	}
	p->due = due;
	p->seq = d->seq++;
	p->len = len;
	memcpy(p->data, data, len);
	if (!pheap_push(&d->q, p)) {
		free(p);
		d->st.overflow++;
	}
}

/* ---- setup -------------------------------------------------------- */

bool link_dir_init(struct dir *d, struct ev_loop *loop, const char *name,
		   int in, int out, uint64_t seed)
{
	d->name = name;
	d->in_fd = in;
	d->out_fd = out;
	prng_seed(&d->rng, seed);
	pheap_init(&d->q, pkt_before);
	d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->tfd < 0) {
		perror("linkem: timerfd_create");
		return false;
	}
	ev_io_init(&d->w_timer, timer_cb, d->tfd, EV_READ);
	d->w_timer.data = d;
	ev_io_start(loop, &d->w_timer);
	return true;
}

void link_dir_free(struct dir *d)
{
	pheap_free(&d->q);
	if (d->tfd >= 0)
		close(d->tfd);
}
