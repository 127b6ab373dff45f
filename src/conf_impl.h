/* conf_impl.h — what conf.c (JSON and the field table) and conf_check.c
 * (rules beyond the table) share. Internal to the config module.
 *
 * Neither side knows the other's data: conf.c fills a struct config from
 * the table and hands it to conf_check(); conf_check.c never sees JSON.
 */
#ifndef KCPTUN_CONF_IMPL_H
#define KCPTUN_CONF_IMPL_H

#include "conf.h"

#include <stdbool.h>
#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Write "config: <message>" into the caller's buffer. Always returns false
 * so that error paths read `return conf_fail(...)`. */
__attribute__((format(printf, 3, 4))) bool conf_fail(char *err, size_t errlen,
						     const char *fmt, ...);
/* Copy untrusted text into a message (quotes, backslashes and control bytes
 * escaped, long text cut with "..."); returns out. */
const char *conf_printable(char *out, size_t cap, const char *s, size_t len);
/* Why s is not an address as written ("host:port", "[v6]:port", and
 * ":port" unless need_host), or NULL when it is one. Syntax only:
 * resolving is the server's job. */
const char *conf_address_error(const char *s, bool need_host);
/* The cross-field rules, run after every field is set: derives c->mode
 * from the addresses, checks the congestion controller and the crypto
 * choice. False with err set on the first broken rule. */
bool conf_check(struct config *c, char *err, size_t errlen);

#endif
