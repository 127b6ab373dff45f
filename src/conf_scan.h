/* conf_scan.h — syntax error location for conf.c's messages.
 *
 * Internal to the config module; it knows JSON's grammar (with comments and
 * json-parser's leniencies) but builds nothing.
 */
#ifndef KCPTUN_CONF_SCAN_H
#define KCPTUN_CONF_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Byte offset of the first syntax error in text, or -1 when there is none
 * (or when nesting is too deep to bother locating it). */
long conf_scan_error_at(const char *text, size_t len);
/* True when text holds only whitespace and comments. */
bool conf_scan_blank(const char *text, size_t len);

#endif
