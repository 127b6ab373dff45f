/* conf_check.c — the config rules that one table row cannot express.
 *
 * conf.c checks each field on its own (type, range) from the table; what
 * spans fields lives here: which mode the set of addresses asks for, the
 * congestion controller against the older "kcp.nc", and method against
 * psk/password. Address syntax is here too, being a rule about a value's
 * text rather than about JSON. It also holds the message helpers that
 * both files use.
 *
 * This file knows nothing of json-parser.
 */
#include "conf_impl.h"

#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const conf_methods[] = {
    "none",
    "chacha20poly1305_ietf",
    "xchacha20poly1305_ietf",
    "aes256gcm",
};

bool conf_fail(char *err, size_t errlen, const char *fmt, ...)
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

/* Quotes, backslashes and control bytes become \xHH so that a key or value
 * cannot forge log lines or break the quoting. */
const char *conf_printable(char *out, size_t cap, const char *s, size_t len)
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

const char *conf_address_error(const char *s, bool need_host)
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
	return conf_fail(
	    err, errlen,
	    "\"kcp.cc\": \"%s\" is not a controller; use \"rate\", "
	    "\"classic\" or \"none\"",
	    conf_printable(shown, sizeof(shown), c->kcp.cc, strlen(c->kcp.cc)));
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

bool conf_check(struct config *c, char *err, size_t errlen)
{
	return conf_check_mode(c, err, errlen) &&
	       conf_check_cc(c, err, errlen) &&
	       conf_check_crypto(c, err, errlen);
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
