/* conf.c — JSON config file -> struct config.
 *
 * Everything is driven by one table (conf_fields below): a new option is one
 * row plus a member in struct config. The table gives defaults, type and
 * range checks, the field names used in error messages, and the set of known
 * keys for the unknown-key warning. Cross-field rules (mode, crypto) follow
 * the table walk in conf_check().
 *
 * Only this file knows json-parser.
 */
#include "conf.h"
#include "conf_scan.h"

#include "util/log.h"

#include <json-parser/json.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A real config is a few hundred bytes; the limit only stops us reading a
 * wrong path such as a log file or a disk image. */
#define CONF_MAX_SIZE (1024 * 1024)
/* json-parser's own allocation cap: 1 MiB of "[[[[" would otherwise cost
 * about a hundred times its size in json_value nodes. */
#define CONF_JSON_MAX_MEMORY (32UL * 1024 * 1024)
/* Longest JSON path we match ("kcp.sndwnd"); longer keys are unknown. */
#define CONF_PATH_MAX 64

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum field_type {
	FT_STRING, /* any non-empty string */
	FT_BIND,   /* address we listen on: "host:port", "[v6]:port", ":port" */
	FT_PEER,   /* address we send to: like FT_BIND but the host is needed */
	FT_INT,	   /* JSON integer in [min, max] */
	FT_BOOL,   /* JSON true / false */
};

struct conf_field {
	const char *path; /* JSON path, sections joined by '.' */
	enum field_type type;
	int min, max, def; /* FT_INT range and default; FT_BOOL default */
	size_t offset;	   /* destination in struct config */
};

/* The row macros check the member's C type at compile time: a _Generic with
 * one association fails to compile when the member has another type, so a
 * bool can never be written through an int pointer or vice versa. */
#define MEMBER_IS(m, T) _Generic(((struct config *)0)->m, T : 0)
#define ROW_STR(path, m)                                              \
	{                                                             \
		path, FT_STRING, 0, 0, 0,                             \
		    offsetof(struct config, m) + MEMBER_IS(m, char *) \
	}
#define ROW_ADDR(path, kind, m)                                       \
	{                                                             \
		path, kind, 0, 0, 0,                                  \
		    offsetof(struct config, m) + MEMBER_IS(m, char *) \
	}
#define ROW_INT(path, m, lo, hi, d)                                \
	{                                                          \
		path, FT_INT, lo, hi, d,                           \
		    offsetof(struct config, m) + MEMBER_IS(m, int) \
	}
#define ROW_BOOL(path, m, d)                                        \
	{                                                           \
		path, FT_BOOL, 0, 1, d,                             \
		    offsetof(struct config, m) + MEMBER_IS(m, bool) \
	}

/* Keep in step with docs/CONFIG.md. */
static const struct conf_field conf_fields[] = {
    ROW_ADDR("listen", FT_BIND, listen),
    ROW_ADDR("connect", FT_PEER, connect),
    ROW_ADDR("udp_bind", FT_BIND, udp_bind),
    ROW_ADDR("udp_connect", FT_PEER, udp_connect),
    ROW_ADDR("rendezvous_server", FT_PEER, rendezvous_server),
    ROW_STR("service_id", service_id),
    ROW_ADDR("http_listen", FT_BIND, http_listen),
    ROW_STR("netdev", netdev),
    ROW_STR("method", method),
    ROW_STR("password", password),
    ROW_STR("psk", psk),
    ROW_STR("log", log),
    ROW_STR("user", user),
    ROW_INT("kcp.mtu", kcp.mtu, 300, 9000, 1400),
    ROW_INT("kcp.sndwnd", kcp.sndwnd, 16, 65535, 1024),
    ROW_INT("kcp.rcvwnd", kcp.rcvwnd, 16, 65535, 1024),
    ROW_INT("kcp.nodelay", kcp.nodelay, 0, 1, 1),
    ROW_INT("kcp.interval", kcp.interval, 1, 1000, 10),
    ROW_INT("kcp.resend", kcp.resend, 0, 100, 2),
    ROW_INT("kcp.nc", kcp.nc, 0, 1, 0),
    ROW_STR("kcp.cc", kcp.cc),
    ROW_INT("kcp.flush", kcp.flush, 0, 2, 2),
    ROW_BOOL("tcp.nodelay", tcp.nodelay, true),
    ROW_BOOL("tcp.keepalive", tcp.keepalive, false),
    ROW_BOOL("tcp.reuseport", tcp.reuseport, false),
    ROW_INT("tcp.sndbuf", tcp.sndbuf, 0, 67108864, 0),
    ROW_INT("tcp.rcvbuf", tcp.rcvbuf, 0, 67108864, 0),
    ROW_BOOL("udp.reuseport", udp.reuseport, false),
    ROW_INT("udp.sndbuf", udp.sndbuf, 0, 67108864, 0),
    ROW_INT("udp.rcvbuf", udp.rcvbuf, 0, 67108864, 0),
    ROW_INT("keepalive", keepalive, 0, 3600, 25),
    ROW_INT("timeout", timeout, 10, 86400, 600),
    ROW_INT("linger", linger, 1, 3600, 60),
    ROW_INT("time_wait", time_wait, 1, 3600, 120),
    ROW_INT("loglevel", loglevel, 0, 6, 2),
};

static const char *const conf_methods[] = {
    "none",
    "chacha20poly1305_ietf",
    "xchacha20poly1305_ietf",
    "aes256gcm",
};

struct parse {
	struct config *conf;
	char *err;
	size_t errlen;
	bool seen[ARRAY_SIZE(conf_fields)];
};

/* Write "config: <message>" into the caller's buffer. Always returns false
 * so that error paths read `return conf_fail(...)`. */
__attribute__((format(printf, 3, 4))) static bool
conf_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0) {
		return false;
	}
	int n = snprintf(err, errlen, "config: ");
	if (n < 0 || (size_t)n >= errlen) {
		return false;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* Copy untrusted text into a message: quotes, backslashes and control bytes
 * become \xHH so a key or value cannot forge log lines or break the quoting;
 * long text is cut with "...". */
static const char *conf_printable(char *out, size_t cap, const char *s,
				  size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const size_t limit = 48;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == limit || o + 8 >= cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

static const char *json_type_name(const json_value *v)
{
	switch (v->type) {
	case json_object:
		return "object";
	case json_array:
		return "array";
	case json_integer:
		return "integer";
	case json_double:
		return "number";
	case json_string:
		return "string";
	case json_boolean:
		return "boolean";
	case json_null:
		return "null";
	default:
		return "nothing";
	}
}

static const struct conf_field *conf_field_find(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_fields); i++) {
		if (strcmp(conf_fields[i].path, path) == 0) {
			return &conf_fields[i];
		}
	}
	return NULL;
}

/* A section is a path that prefixes some field ("kcp" for "kcp.mtu"). */
static bool conf_is_section(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < ARRAY_SIZE(conf_fields); i++) {
		if (strncmp(conf_fields[i].path, path, n) == 0 &&
		    conf_fields[i].path[n] == '.') {
			return true;
		}
	}
	return false;
}

/* Optimal string alignment distance (edits incl. adjacent swaps), used only
 * to suggest a known key for a misspelt one. Inputs are < CONF_PATH_MAX. */
static size_t conf_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[CONF_PATH_MAX + 1][CONF_PATH_MAX + 1];
	if (la > CONF_PATH_MAX || lb > CONF_PATH_MAX) {
		return SIZE_MAX;
	}
	for (size_t i = 0; i <= la; i++) {
		d[i][0] = i;
	}
	for (size_t j = 0; j <= lb; j++) {
		d[0][j] = j;
	}
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t best = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < best) {
				best = d[i - 1][j] + 1;
			}
			if (d[i][j - 1] + 1 < best) {
				best = d[i][j - 1] + 1;
			}
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best) {
				best = d[i - 2][j - 2] + 1;
			}
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

static void conf_warn_unknown(const char *prefix, const char *key,
			      size_t keylen, const char *path)
{
	char shown[CONF_PATH_MAX * 5];
	char hint[CONF_PATH_MAX + 32] = "";
	if (path != NULL) {
		size_t best = 3; /* suggest only within two edits */
		for (size_t i = 0; i < ARRAY_SIZE(conf_fields); i++) {
			size_t d = conf_distance(path, conf_fields[i].path);
			if (d < best) {
				best = d;
				snprintf(hint, sizeof(hint),
					 "; did you mean \"%s\"?",
					 conf_fields[i].path);
			}
		}
	}
	conf_printable(shown, sizeof(shown), key, keylen);
	LOGW("config: unknown key \"%s%s%s\" (ignored)%s", prefix,
	     prefix[0] != '\0' ? "." : "", shown, hint);
}

/* Syntax of an address as written; resolving it is the server's job. */
static const char *conf_address_error(const char *s, bool need_host)
{
	const char *port;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL) {
			return "the IPv6 address bracket is not closed";
		}
		if (close == s + 1) {
			return "the host in brackets is empty";
		}
		if (memchr(s + 1, '[', (size_t)(close - s - 1)) != NULL) {
			return "unexpected '[' inside brackets";
		}
		if (close[1] != ':') {
			return "the port is missing after ']' (expected "
			       "[v6]:port)";
		}
		port = close + 2;
	} else {
		const char *colon = strchr(s, ':');
		if (colon == NULL) {
			return "the port is missing (expected host:port)";
		}
		if (strchr(colon + 1, ':') != NULL) {
			return "IPv6 addresses need brackets, e.g. [::1]:17000";
		}
		if (colon == s && need_host) {
			return "a host is needed here (only listening "
			       "addresses "
			       "may be written :port)";
		}
		if (strpbrk(s, "[]") != NULL && strpbrk(s, "[]") < colon) {
			return "unexpected bracket in the host";
		}
		port = colon + 1;
	}
	for (const char *c = s; c < port; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			return "the host contains a space or control character";
		}
	}
	if (*port == '\0') {
		return "the port is empty";
	}
	long value = 0;
	for (const char *c = port; *c != '\0'; c++) {
		if (*c < '0' || *c > '9') {
			return "the port must be decimal digits only";
		}
		value = value * 10 + (*c - '0');
		if (value > 65535) {
			break;
		}
	}
	if (value < 1 || value > 65535) {
		return "the port must be 1..65535";
	}
	return NULL;
}

static bool conf_set_string(struct parse *p, const struct conf_field *f,
			    const json_value *v)
{
	char shown[256];
	if (v->type != json_string) {
		return conf_fail(p->err, p->errlen,
				 "\"%s\": expected a string, got %s", f->path,
				 json_type_name(v));
	}
	const char *s = v->u.string.ptr;
	size_t len = v->u.string.length;
	if (len == 0) {
		return conf_fail(p->err, p->errlen,
				 "\"%s\": must not be empty (remove the key to "
				 "leave it unset)",
				 f->path);
	}
	if (strlen(s) != len) {
		return conf_fail(p->err, p->errlen,
				 "\"%s\": must not contain a NUL character",
				 f->path);
	}
	if (f->type == FT_BIND || f->type == FT_PEER) {
		const char *why = conf_address_error(s, f->type == FT_PEER);
		if (why != NULL) {
			return conf_fail(
			    p->err, p->errlen,
			    "\"%s\": \"%s\" is not a valid "
			    "address: %s",
			    f->path,
			    conf_printable(shown, sizeof(shown), s, len), why);
		}
	}
	char *copy = strdup(s);
	if (copy == NULL) {
		return conf_fail(p->err, p->errlen, "\"%s\": out of memory",
				 f->path);
	}
	*(char **)((char *)p->conf + f->offset) = copy;
	return true;
}

static bool conf_set_int(struct parse *p, const struct conf_field *f,
			 const json_value *v)
{
	if (v->type == json_double) {
		double d = v->u.dbl;
		/* json-parser stores integers too big for int64 as doubles;
		 * for those "out of range" is the helpful message. */
		if (isfinite(d) && d == floor(d) &&
		    (d < f->min || d > f->max)) {
			return conf_fail(p->err, p->errlen,
					 "\"%s\": %.17g is out of range %d..%d",
					 f->path, d, f->min, f->max);
		}
		return conf_fail(p->err, p->errlen,
				 "\"%s\": expected an integer, got number %g "
				 "(write it without fraction or exponent)",
				 f->path, d);
	}
	if (v->type != json_integer) {
		return conf_fail(p->err, p->errlen,
				 "\"%s\": expected an integer, got %s", f->path,
				 json_type_name(v));
	}
	if (v->u.integer < f->min || v->u.integer > f->max) {
		return conf_fail(p->err, p->errlen,
				 "\"%s\": %" PRId64 " is out of range %d..%d",
				 f->path, (int64_t)v->u.integer, f->min,
				 f->max);
	}
	*(int *)((char *)p->conf + f->offset) = (int)v->u.integer;
	return true;
}

static bool conf_set_field(struct parse *p, const struct conf_field *f,
			   const json_value *v)
{
	size_t idx = (size_t)(f - conf_fields);
	if (p->seen[idx]) {
		return conf_fail(p->err, p->errlen,
				 "\"%s\": duplicate key (set it once)",
				 f->path);
	}
	p->seen[idx] = true;
	switch (f->type) {
	case FT_INT:
		return conf_set_int(p, f, v);
	case FT_BOOL:
		if (v->type != json_boolean) {
			return conf_fail(p->err, p->errlen,
					 "\"%s\": expected true or false, got "
					 "%s",
					 f->path, json_type_name(v));
		}
		*(bool *)((char *)p->conf + f->offset) = v->u.boolean != 0;
		return true;
	default:
		return conf_set_string(p, f, v);
	}
}

/* Walk one JSON object whose keys live under `prefix` ("" for the root).
 * Only known sections are entered, so the recursion depth is bounded by the
 * table, not by the input. */
static bool conf_walk(struct parse *p, const json_value *obj,
		      const char *prefix)
{
	for (unsigned i = 0; i < obj->u.object.length; i++) {
		const json_object_entry *e = &obj->u.object.values[i];
		char path[CONF_PATH_MAX];
		bool plain = e->name_length > 0 &&
			     strlen(e->name) == e->name_length &&
			     strchr(e->name, '.') == NULL;
		int n = snprintf(path, sizeof(path), "%s%s%s", prefix,
				 prefix[0] != '\0' ? "." : "", e->name);
		if (!plain || n < 0 || (size_t)n >= sizeof(path)) {
			conf_warn_unknown(prefix, e->name, e->name_length,
					  NULL);
			continue;
		}
		const struct conf_field *f = conf_field_find(path);
		if (f != NULL) {
			if (!conf_set_field(p, f, e->value)) {
				return false;
			}
		} else if (conf_is_section(path)) {
			if (e->value->type != json_object) {
				return conf_fail(p->err, p->errlen,
						 "\"%s\": expected an object "
						 "{ ... }, got %s",
						 path,
						 json_type_name(e->value));
			}
			if (!conf_walk(p, e->value, path)) {
				return false;
			}
		} else {
			conf_warn_unknown(prefix, e->name, e->name_length,
					  path);
		}
	}
	return true;
}

/* Which mode the set of addresses asks for; contradictions are errors. */
static bool conf_check_mode(struct config *c, char *err, size_t errlen)
{
	if (c->rendezvous_server != NULL || c->service_id != NULL) {
		if (c->rendezvous_server == NULL) {
			return conf_fail(err, errlen,
					 "\"service_id\" needs "
					 "\"rendezvous_server\" (peer mode)");
		}
		if (c->service_id == NULL) {
			return conf_fail(err, errlen,
					 "\"rendezvous_server\" needs "
					 "\"service_id\" (peer mode)");
		}
		if (c->udp_connect != NULL || c->udp_bind != NULL) {
			return conf_fail(err, errlen,
					 "peer mode (\"rendezvous_server\") "
					 "cannot use \"%s\": the rendezvous "
					 "server arranges the UDP path",
					 c->udp_connect != NULL ? "udp_connect"
								: "udp_bind");
		}
		if ((c->listen != NULL) == (c->connect != NULL)) {
			return conf_fail(err, errlen,
					 "peer mode needs exactly one of "
					 "\"listen\" (use a remote service) or "
					 "\"connect\" (offer a local service)");
		}
		c->mode = MODE_PEER;
		return true;
	}
	if (c->listen != NULL && c->connect != NULL) {
		return conf_fail(
		    err, errlen,
		    "\"listen\" and \"connect\" cannot both be set "
		    "(outside peer mode): listen+udp_connect makes "
		    "a client, udp_bind+connect a server");
	}
	if (c->udp_connect != NULL && c->udp_bind != NULL) {
		return conf_fail(err, errlen,
				 "\"udp_connect\" and \"udp_bind\" cannot both "
				 "be set: udp_connect makes a client, udp_bind "
				 "a server");
	}
	if (c->udp_connect != NULL) {
		if (c->listen == NULL) {
			return conf_fail(err, errlen,
					 "\"udp_connect\" (client mode) needs "
					 "\"listen\"");
		}
		c->mode = MODE_CLIENT;
		return true;
	}
	if (c->udp_bind != NULL) {
		if (c->listen != NULL) {
			return conf_fail(err, errlen,
					 "\"listen\" needs \"udp_connect\" "
					 "(client mode), not \"udp_bind\" "
					 "(server mode)");
		}
		c->mode = c->connect != NULL ? MODE_SERVER : MODE_RENDEZVOUS;
		return true;
	}
	if (c->listen != NULL) {
		return conf_fail(err, errlen,
				 "\"listen\" (client mode) needs "
				 "\"udp_connect\"");
	}
	if (c->connect != NULL) {
		return conf_fail(
		    err, errlen,
		    "\"connect\" (server mode) needs \"udp_bind\"");
	}
	return conf_fail(err, errlen,
			 "no mode: set listen+udp_connect (client) or "
			 "udp_bind+connect (server)");
}

/* "kcp.cc" names the congestion controller; absent, "kcp.nc" decides. */
static bool conf_check_cc(const struct config *c, char *err, size_t errlen)
{
	static const char *const names[] = {"rate", "classic", "none"};
	if (c->kcp.cc == NULL) {
		return true;
	}
	if (c->kcp.nc != 0 && strcmp(c->kcp.cc, "none") != 0) {
		return conf_fail(err, errlen,
				 "\"kcp.nc\": 1 means no congestion control, "
				 "but \"kcp.cc\" is \"%s\"; set one of them",
				 c->kcp.cc);
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(c->kcp.cc, names[i]) == 0) {
			return true;
		}
	}
	char shown[64];
	return conf_fail(err, errlen,
			 "\"kcp.cc\": \"%s\" is not a controller; use \"rate\", "
			 "\"classic\" or \"none\"",
			 conf_printable(shown, sizeof(shown), c->kcp.cc,
					strlen(c->kcp.cc)));
}

static bool conf_check_crypto(struct config *c, char *err, size_t errlen)
{
	bool encrypted = false;
	if (c->method != NULL) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(conf_methods); i++) {
			if (strcmp(c->method, conf_methods[i]) == 0) {
				break;
			}
		}
		if (i == ARRAY_SIZE(conf_methods)) {
			char shown[256];
			return conf_fail(
			    err, errlen,
			    "\"method\": \"%s\" is not supported; use one "
			    "of none, chacha20poly1305_ietf, "
			    "xchacha20poly1305_ietf, aes256gcm",
			    conf_printable(shown, sizeof(shown), c->method,
					   strlen(c->method)));
		}
		encrypted = i != 0;
	}
	if (c->psk != NULL && c->password != NULL) {
		return conf_fail(err, errlen,
				 "\"psk\" and \"password\" are both set; use "
				 "one");
	}
	if (encrypted && c->psk == NULL && c->password == NULL) {
		return conf_fail(err, errlen,
				 "\"method\": %s needs \"psk\" or \"password\"",
				 c->method);
	}
	if (c->method == NULL && (c->psk != NULL || c->password != NULL)) {
		/* A key without a method most likely means "encrypt": never
		 * quietly send in clear what the user meant to protect. */
		return conf_fail(
		    err, errlen,
		    "\"%s\" is set but \"method\" is not: set "
		    "\"method\" (e.g. \"xchacha20poly1305_ietf\"), "
		    "or \"none\" to send in clear",
		    c->psk != NULL ? "psk" : "password");
	}
	if (!encrypted && (c->psk != NULL || c->password != NULL)) {
		LOGW("config: \"%s\" is set but \"method\" is %s: it is "
		     "unused and traffic is NOT encrypted",
		     c->psk != NULL ? "psk" : "password",
		     c->method != NULL ? "none" : "not set");
	}
	return true;
}

static void conf_syntax_error(const char *text, size_t len, const char *name,
			      const char *jerr, char *err, size_t errlen)
{
	unsigned line = 0, col = 0;
	int used = 0;
	const char *msg = jerr;
	const char *at;
	char clean[json_error_max + 16];

	/* json-parser writes "L:C: message" or "message (at L:C)". */
	if (sscanf(jerr, "%u:%u: %n", &line, &col, &used) == 2 && used > 0) {
		msg = jerr + used;
		snprintf(clean, sizeof(clean), "%s", msg);
	} else if ((at = strstr(jerr, " (at ")) != NULL &&
		   sscanf(at, " (at %u:%u)", &line, &col) == 2) {
		snprintf(clean, sizeof(clean), "%.*s", (int)(at - jerr), jerr);
	} else {
		snprintf(clean, sizeof(clean), "%s", jerr);
	}
	for (char *c = clean; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			*c = '?';
		}
	}
	/* json-parser prints the offending character with %c; at the end of
	 * the input that is a NUL, which cuts the message: "Unexpected `". */
	size_t n = strlen(clean), ticks = 0;
	for (size_t i = 0; i < n; i++) {
		ticks += clean[i] == '`';
	}
	if (n > 0 && clean[n - 1] == '`' && ticks % 2 == 1) {
		clean[--n] = '\0';
	}
	if (n == 0 || clean[n - 1] == ' ') {
		snprintf(clean + n, sizeof(clean) - n, "%send of input",
			 n == 0 ? "unexpected " : "");
	}
	if (strstr(clean, "Memory allocation failure") != NULL) {
		conf_fail(err, errlen, "%s: too large or too deeply nested",
			  name);
		return;
	}

	long off = conf_scan_error_at(text, len);
	if (off >= 0) {
		line = 1;
		col = 1;
		for (long i = 0; i < off; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		conf_fail(err, errlen, "%s:%u:%u: syntax error: %s", name, line,
			  col, clean);
	} else if (line > 0) {
		conf_fail(err, errlen, "%s:%u: syntax error: %s", name, line,
			  clean);
	} else {
		conf_fail(err, errlen, "%s: syntax error: %s", name, clean);
	}
}

/* Wipe secrets in the parse tree before json-parser frees it: the tree is
 * a second copy of the password. */
static void conf_wipe(volatile char *p, size_t n)
{
	while (n-- > 0) {
		*p++ = 0;
	}
}

static void conf_wipe_tree(json_value *root)
{
	for (unsigned i = 0; i < root->u.object.length; i++) {
		json_object_entry *e = &root->u.object.values[i];
		if (e->value->type == json_string &&
		    (strcmp(e->name, "psk") == 0 ||
		     strcmp(e->name, "password") == 0)) {
			conf_wipe(e->value->u.string.ptr,
				  e->value->u.string.length);
		}
	}
}

struct config *conf_parse(const char *text, size_t len, const char *name,
			  char *err, size_t errlen)
{
	if (err != NULL && errlen > 0) {
		err[0] = '\0';
	}
	if (name == NULL) {
		name = "<config>";
	}
	if (len > CONF_MAX_SIZE) {
		conf_fail(err, errlen, "%s: larger than %d bytes", name,
			  CONF_MAX_SIZE);
		return NULL;
	}
	if (conf_scan_blank(text, len)) {
		conf_fail(err, errlen, "%s: file is empty", name);
		return NULL;
	}

	json_settings settings = {0};
	settings.settings = json_enable_comments;
	settings.max_memory = CONF_JSON_MAX_MEMORY;
	char jerr[json_error_max] = "";
	json_value *root = json_parse_ex(&settings, text, len, jerr);
	if (root == NULL) {
		conf_syntax_error(text, len, name, jerr, err, errlen);
		return NULL;
	}
	if (root->type != json_object) {
		conf_fail(err, errlen,
			  "%s: the top level must be an object { ... }, got %s",
			  name, json_type_name(root));
		json_value_free(root);
		return NULL;
	}

	struct parse p = {.err = err, .errlen = errlen};
	p.conf = calloc(1, sizeof(*p.conf));
	if (p.conf == NULL) {
		conf_fail(err, errlen, "%s: out of memory", name);
		conf_wipe_tree(root);
		json_value_free(root);
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(conf_fields); i++) {
		const struct conf_field *f = &conf_fields[i];
		void *dst = (char *)p.conf + f->offset;
		if (f->type == FT_INT) {
			*(int *)dst = f->def;
		} else if (f->type == FT_BOOL) {
			*(bool *)dst = f->def != 0;
		}
	}
	bool ok = conf_walk(&p, root, "") &&
		  conf_check_mode(p.conf, err, errlen) &&
		  conf_check_cc(p.conf, err, errlen) &&
		  conf_check_crypto(p.conf, err, errlen);
	conf_wipe_tree(root);
	json_value_free(root);
	if (!ok) {
		conf_free(p.conf);
		return NULL;
	}
	return p.conf;
}

struct config *conf_read(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		conf_fail(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	/* Read one byte past the limit to tell "too big" from "exactly at
	 * the limit"; works for pipes and /dev/stdin, where stat cannot. */
	size_t cap = CONF_MAX_SIZE + 1;
	char *buf = malloc(cap);
	if (buf == NULL) {
		fclose(f);
		conf_fail(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	size_t len = fread(buf, 1, cap, f);
	int read_errno = ferror(f) ? errno : 0;
	fclose(f);
	struct config *conf = NULL;
	if (read_errno != 0) {
		conf_fail(err, errlen, "%s: %s", path, strerror(read_errno));
	} else if (len > CONF_MAX_SIZE) {
		conf_fail(err, errlen, "%s: larger than %d bytes (1 MiB)", path,
			  CONF_MAX_SIZE);
	} else {
		conf = conf_parse(buf, len, path, err, errlen);
	}
	conf_wipe(buf, len); /* the file text holds the secrets too */
	free(buf);
	return conf;
}

static void conf_free_secret(char *s)
{
	if (s != NULL) {
		conf_wipe(s, strlen(s));
		free(s);
	}
}

void conf_free(struct config *conf)
{
	if (conf == NULL) {
		return;
	}
	conf_free_secret(conf->password);
	conf_free_secret(conf->psk);
	conf->password = conf->psk = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(conf_fields); i++) {
		const struct conf_field *f = &conf_fields[i];
		if (f->type != FT_INT && f->type != FT_BOOL) {
			free(*(char **)((char *)conf + f->offset));
		}
	}
	free(conf);
}

const char *conf_mode_name(enum conf_mode mode)
{
	switch (mode) {
	case MODE_CLIENT:
		return "client";
	case MODE_SERVER:
		return "server";
	case MODE_RENDEZVOUS:
		return "rendezvous";
	case MODE_PEER:
		return "peer";
	default:
		return "none";
	}
}
