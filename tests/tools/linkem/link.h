/* link.h — linkem's model of one direction of the link: loss, a rate
 * with a drop-tail queue, delay and jitter, and the packets in flight in a
 * min-heap by due time, sent by a timerfd (the why of each is in main.c's
 * opening comment). main.c owns the devices, the control FIFO, the
 * counters' output and the trace; it feeds packets in with link_ingress()
 * and the timer sends them. */
#ifndef LINKEM_LINK_H
#define LINKEM_LINK_H

#include "pheap.h"
#include "prng.h"

#include <ev.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AB 0 /* a -> b */
#define BA 1 /* b -> a */

struct pkt {
	double due;
	uint64_t seq;
	size_t len;
	unsigned char data[];
};

struct params {
	double loss;	 /* probability 0..1 */
	double delay;	 /* seconds, one way */
	double jitter;	 /* seconds, uniform +- */
	double rate_Bps; /* bytes per second, 0 = unlimited */
	double queue_s;	 /* queue limit as time at the rate ... */
	double queue_b;	 /* ... or in bytes when > 0 */
};

struct stats {
	uint64_t in, in_bytes, out, out_bytes, lost, qdrop, overflow, werr;
};

/* What --trace reports for one direction and one interval. Kept apart
 * from struct stats so that a "reset" of the counters does not turn an
 * interval's difference negative. */
struct trace_acc {
	uint64_t out_bytes, qdrop, lost;
	double wait_sum, wait_max; /* queueing delay of admitted packets */
	uint64_t admitted;
};

struct dir {
	const char *name;
	int in_fd, out_fd;
	struct params p;
	struct prng rng;
	struct stats st;
	struct trace_acc tr;
	double busy_until, last_due;
	uint64_t seq;
	struct pheap q; /* struct pkt in flight, earliest due first */
	int tfd;
	ev_io w_timer;
	double armed;	 /* deadline the timerfd holds, 0 = disarmed */
	bool reorder_ok; /* jitter may reorder */
	size_t max_pkts; /* bound on packets held */
};

/* Applies one impairment option (name without dashes, value "V" for
 * both directions or "V1,V2" for a->b and b->a) to d[AB] and d[BA]. False
 * if the name is unknown or the value bad. */
bool link_param_set(struct dir d[2], const char *name, const char *val);
/* The queue limit in bytes (at least two full-size packets). */
double link_queue_limit(const struct params *p);
void link_params_print(const struct dir d[2]);

/* Sets up direction d from fd in to fd out with its own PRNG stream and
 * starts its timer watcher on loop. False (reported) if no timerfd. */
bool link_dir_init(struct dir *d, struct ev_loop *loop, const char *name,
		   int in, int out, uint64_t seed);
/* Frees the packets still held; NULL-safe on a direction never set up
 * (tfd -1). */
void link_dir_free(struct dir *d);

/* A packet read from d's input at time now: impaired and held. */
void link_ingress(struct dir *d, const unsigned char *data, size_t len,
		  double now);
/* Writes every packet that is due, then re-arms the timer. */
void link_flush(struct dir *d);

#endif
