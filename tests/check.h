/* check.h — the unit tests' assertions. A failed CHECK prints where and what,
 * counts the failure and goes on; check_exit() ends the test with the
 * summary and a non-zero status if anything failed, or if nothing was
 * checked at all (a test that checks nothing cannot fail, so it fails). */
#ifndef KCPTUN_TEST_CHECK_H
#define KCPTUN_TEST_CHECK_H

#include <stdbool.h>

extern unsigned check_passed, check_failed;

bool check_report(bool ok, const char *expr, const char *file, int line);

#define CHECK(expr) check_report(!!(expr), #expr, __FILE__, __LINE__)
/* Stop the current test function on failure. */
#define REQUIRE(expr)             \
	do {                      \
		if (!CHECK(expr)) \
			return;   \
	} while (0)

/* Run one test function and print its name and outcome. ONLY=name (a
 * substring) runs just the matching ones: a trace (RDEBUG=1) of one
 * scenario without the others'. */
#define RUN(fn)                                                          \
	do {                                                             \
		if (!check_selected(#fn))                                \
			break;                                           \
		unsigned failed_before_ = check_failed;                  \
		fn();                                                    \
		check_print_result(#fn, check_failed == failed_before_); \
	} while (0)

bool check_selected(const char *name);
void check_print_result(const char *name, bool ok);
int check_exit(void);

#endif
