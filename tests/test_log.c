/* Unit tests for util/log: level filtering, clamping and rate limiting. */
#include "check.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *capture(int level, int threshold, const char *msg)
{
	static char buf[4096];
	FILE *f = tmpfile();
	log_set_output(f);
	log_set_level(threshold);
	LOG_AT(level, "%s", msg);
	log_set_output(NULL);
	rewind(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_filtering(void)
{
	CHECK(strstr(capture(LOG_LVL_INFO, LOG_LVL_INFO, "hello"), "hello"));
	CHECK(strstr(capture(LOG_LVL_INFO, LOG_LVL_INFO, "x"), " I ") != NULL);
	CHECK(capture(LOG_LVL_DEBUG, LOG_LVL_INFO, "hidden")[0] == '\0');
	CHECK(strstr(capture(LOG_LVL_FATAL, LOG_LVL_FATAL, "f"), " F "));
}

static void test_clamp(void)
{
	log_set_level(-3);
	CHECK(log_level == LOG_LVL_FATAL);
	log_set_level(99);
	CHECK(log_level == LOG_LVL_ALL);
	log_set_level(LOG_LVL_DEFAULT);
	CHECK(log_level == 2);
}

static void test_ratelimit(void)
{
	struct log_ratelimit rl = {0};
	unsigned allowed = 0;
	FILE *f = tmpfile();
	log_set_output(f);
	for (int i = 0; i < 1000; i++) {
		allowed += log_ratelimit_allow(&rl, 10);
	}
	log_set_output(NULL);
	fclose(f);
	/* All 1000 calls fall in one or two 1-second windows. */
	CHECK(allowed >= 10 && allowed <= 20);
	CHECK(rl.suppressed > 0 || allowed == 20);
}

int main(void)
{
	RUN(test_filtering);
	RUN(test_clamp);
	RUN(test_ratelimit);
	return check_exit();
}
