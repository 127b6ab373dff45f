/* conf.h — the daemon's configuration: JSON file -> struct config.
 *
 * Only conf.c knows the JSON library. Parsing is table-driven: one row per
 * field gives its JSON path, type, range and default. Every error names the
 * field and the rule; unknown keys produce a warning (logged).
 */
#ifndef KCPTUN_CONF_H
#define KCPTUN_CONF_H

#include <stdbool.h>
#include <stddef.h>

enum conf_mode {
	MODE_CLIENT = 1,     /* listen + udp_connect */
	MODE_SERVER = 2,     /* udp_bind + connect */
	MODE_RENDEZVOUS = 3, /* udp_bind only */
	MODE_PEER = 4, /* rendezvous_server + service_id (+ connect/listen) */
};

struct config {
	enum conf_mode mode;
	/* Addresses as written ("host:port", "[v6]:port", ":port"); NULL when
	 * absent. Resolved later, by the server module. */
	char *listen, *connect, *udp_bind, *udp_connect;
	char *rendezvous_server, *service_id, *http_listen, *netdev;
	char *method;	/* NULL or "none" = no encryption */
	char *password; /* NULL when absent; never both password and psk */
	char *psk;	/* base64 text as written */
	char *log;	/* log file path, NULL = stderr */
	char *user;	/* drop privileges to this user, NULL = stay */
	struct {
		int mtu, sndwnd, rcvwnd, nodelay, interval, resend, nc, flush;
		/* "rate", "classic" or "none"; NULL = "rate". nc = 1 is
		 * the older spelling of "none". */
		char *cc;
	} kcp;
	struct {
		bool nodelay, keepalive, reuseport;
		int sndbuf, rcvbuf; /* 0 = system default */
	} tcp;
	struct {
		bool reuseport;
		int sndbuf, rcvbuf; /* 0 = system default */
	} udp;
	int keepalive; /* s, 0 = off */
	int timeout;   /* s */
	int linger;    /* s */
	int time_wait; /* s */
	int loglevel;  /* 0..6 */
};

/* Parse JSON text (comments allowed). Returns a new config, or NULL with a
 * one-line message in err ("config: \"kcp.mtu\": 99 is out of range
 * 300..9000"). `name` prefixes syntax errors (file name). */
struct config *conf_parse(const char *text, size_t len, const char *name,
			  char *err, size_t errlen);
/* Read and parse a file; unreadable file -> NULL with err set. */
struct config *conf_read(const char *path, char *err, size_t errlen);
/* NULL-safe; wipes password and psk before freeing. */
void conf_free(struct config *conf);
/* "client", "server", "rendezvous", "peer" ("none" for 0), for logs. */
const char *conf_mode_name(enum conf_mode mode);

#endif
