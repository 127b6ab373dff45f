/* log.h — levelled, timestamped logging to stderr (or a file).
 *
 * Levels (config "loglevel", -v / -s on the command line):
 *   0 FATAL    only what stops the program
 *   1 ERROR    + errors and warnings
 *   2 INFO     + start, stop, notable events (default)
 *   3 VERBOSE  + every session opened and closed
 *   4 DEBUG    + internal state changes
 *   5 TRACE    + per-packet events (rate-limited on the packet path)
 *   6 ALL      + everything, for developers
 */
#ifndef KCPTUN_UTIL_LOG_H
#define KCPTUN_UTIL_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level {
	LOG_LVL_FATAL = 0,
	LOG_LVL_ERROR = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_VERBOSE = 3,
	LOG_LVL_DEBUG = 4,
	LOG_LVL_TRACE = 5,
	LOG_LVL_ALL = 6,
};
#define LOG_LVL_DEFAULT LOG_LVL_INFO
#define LOG_LVL_MAX	LOG_LVL_ALL

/* The current threshold; messages above it are not formatted at all. */
extern int log_level;

/* Clamp and set the threshold. */
void log_set_level(int level);
/* Send output to an open stream (not closed by us); NULL restores stderr. */
void log_set_output(FILE *f);

/* Write one line: timestamp, level letter, source location, message. */
void log_write(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Per-call-site rate limit for the packet path: at most `burst` lines per
 * second, then one summary of how many were suppressed. */
struct log_ratelimit {
	long long window_start_ms;
	unsigned printed;
	unsigned suppressed;
};
bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned burst);

#define LOG_ENABLED(lvl) ((lvl) <= log_level)

#define LOG_AT(lvl, ...)                                                   \
	do {                                                               \
		if (LOG_ENABLED(lvl))                                      \
			log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#define LOGF(...) LOG_AT(LOG_LVL_FATAL, __VA_ARGS__)
#define LOGE(...) LOG_AT(LOG_LVL_ERROR, __VA_ARGS__)
#define LOGW(...) LOG_AT(LOG_LVL_ERROR, "warning: " __VA_ARGS__)
#define LOGI(...) LOG_AT(LOG_LVL_INFO, __VA_ARGS__)
#define LOGV(...) LOG_AT(LOG_LVL_VERBOSE, __VA_ARGS__)
#define LOGD(...) LOG_AT(LOG_LVL_DEBUG, __VA_ARGS__)
#define LOGT(...) LOG_AT(LOG_LVL_TRACE, __VA_ARGS__)

/* Rate-limited variant: at most 10 lines per second from this call site. */
#define LOG_RL(lvl, ...)                                                   \
	do {                                                               \
		static struct log_ratelimit rl_;                           \
		if (LOG_ENABLED(lvl) && log_ratelimit_allow(&rl_, 10))     \
			log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#endif
