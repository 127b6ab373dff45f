#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned check_passed, check_failed;

bool check_report(bool ok, const char *expr, const char *file, int line)
{
	if (ok) {
		check_passed++;
	} else {
		check_failed++;
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
	}
	return ok;
}

bool check_selected(const char *name)
{
	const char *only = getenv("ONLY");
	return only == NULL || strstr(name, only) != NULL;
}

void check_print_result(const char *name, bool ok)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	fflush(stdout);
}

int check_exit(void)
{
	printf("%u checks passed, %u failed\n", check_passed, check_failed);
	if (check_passed + check_failed == 0) {
		fprintf(stderr,
			"no checks ran: a test that checks nothing fails\n");
		return 1;
	}
	return check_failed == 0 ? 0 : 1;
}
