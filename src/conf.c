/* conf.c — JSON config file -> struct config.
 *
 * Everything is driven by one table (conf_fields below): a new option is one
 * row plus a member in struct config. The table gives defaults, type and
 * range checks, the field names used in error messages, and the set of known
 * keys for the unknown-key warning. Cross-field rules (mode, crypto) follow
 * the table walk in conf_check(), in conf_check.c.
 *
 * Only this file knows json-parser.
 */
#include "conf.h"
#include "conf_impl.h"
#include "conf_scan.h"

#include "util/log.h"

#include <json-parser/json.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
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
    ROW_INT("kcp.sndwnd", kcp.sndwnd, 16, 32768, 1024),
    ROW_INT("kcp.rcvwnd", kcp.rcvwnd, 16, 32768, 1024),
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

struct parse {
	struct config *conf;
	char *err;
	size_t errlen;
	bool seen[ARRAY_SIZE(conf_fields)];
};

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
	bool ok = conf_walk(&p, root, "") && conf_check(p.conf, err, errlen);
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
