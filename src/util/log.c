#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

int log_level = LOG_LVL_DEFAULT;
static FILE *log_out;

void log_set_level(int level)
{
	if (level < LOG_LVL_FATAL) {
		level = LOG_LVL_FATAL;
	} else if (level > LOG_LVL_MAX) {
		level = LOG_LVL_MAX;
	}
	log_level = level;
}

void log_set_output(FILE *f)
{
	log_out = f;
}

static const char level_letter[] = "FEIVDTA";

void log_write(int level, const char *file, int line, const char *fmt, ...)
{
	FILE *out = log_out != NULL ? log_out : stderr;
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	const char *base = strrchr(file, '/');

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (level < 0 || level > LOG_LVL_MAX) {
		level = LOG_LVL_MAX;
	}
	/* One fprintf per part but a single flush: lines stay whole because
	 * this program is single-threaded. */
	fprintf(out, "%s.%03ld %c %s:%d ", stamp, ts.tv_nsec / 1000000L,
		level_letter[level], base != NULL ? base + 1 : file, line);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	fflush(out);
}

bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned burst)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	const long long now =
	    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (now - rl->window_start_ms >= 1000) {
		if (rl->suppressed > 0) {
			log_write(LOG_LVL_ERROR, __FILE__, __LINE__,
				  "(%u similar lines suppressed)",
				  rl->suppressed);
		}
		rl->window_start_ms = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < burst) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
