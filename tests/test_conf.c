/* Unit tests for conf: defaults, ranges, types, addresses, modes, crypto
 * rules, unknown-key warnings, syntax error locations and the samples. */
#include "check.h"
#include "conf.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[512];

/* A valid client config to which a test adds one line. */
#define CLIENT \
	"\"listen\": \"127.0.0.1:1080\", \"udp_connect\": \"1.2.3.4:17000\""

static struct config *parse(const char *text)
{
	err[0] = '\0';
	return conf_parse(text, strlen(text), "t.json", err, sizeof(err));
}

/* The text must fail, and the message must contain both a and b. */
static bool fails_with(const char *text, const char *a, const char *b)
{
	struct config *c = parse(text);
	bool ok = c == NULL && strncmp(err, "config: ", 8) == 0 &&
		  strstr(err, a) != NULL && (b == NULL || strstr(err, b));
	if (!ok) {
		fprintf(stderr, "  input: %s\n  got:   %s\n", text,
			c != NULL ? "(parsed)" : err);
	}
	conf_free(c);
	return ok;
}

/* Parse `text` with log output captured; returns the log text (static). */
static const char *parse_logged(const char *text, struct config **out)
{
	static char buf[4096];
	FILE *f = tmpfile();
	if (f == NULL) {
		buf[0] = '\0';
		*out = NULL;
		return buf;
	}
	log_set_output(f);
	log_set_level(LOG_LVL_INFO);
	*out = parse(text);
	log_set_output(NULL);
	rewind(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_defaults(void)
{
	struct config *c = parse("{" CLIENT "}");
	REQUIRE(c != NULL);
	CHECK(c->mode == MODE_CLIENT);
	CHECK(c->kcp.mtu == 1400);
	CHECK(c->kcp.sndwnd == 1024);
	CHECK(c->kcp.rcvwnd == 1024);
	CHECK(c->kcp.nodelay == 1);
	CHECK(c->kcp.interval == 10);
	CHECK(c->kcp.resend == 2);
	CHECK(c->kcp.nc == 0);
	CHECK(c->kcp.flush == 2);
	CHECK(c->tcp.nodelay == true);
	CHECK(c->tcp.keepalive == false);
	CHECK(c->tcp.reuseport == false);
	CHECK(c->tcp.sndbuf == 0 && c->tcp.rcvbuf == 0);
	CHECK(c->udp.reuseport == false);
	CHECK(c->udp.sndbuf == 0 && c->udp.rcvbuf == 0);
	CHECK(c->keepalive == 25);
	CHECK(c->timeout == 600);
	CHECK(c->linger == 60);
	CHECK(c->time_wait == 120);
	CHECK(c->loglevel == 2);
	CHECK(c->connect == NULL && c->udp_bind == NULL);
	CHECK(c->method == NULL && c->psk == NULL && c->password == NULL);
	CHECK(c->log == NULL && c->user == NULL && c->netdev == NULL);
	CHECK(c->http_listen == NULL && c->service_id == NULL);
	CHECK(strcmp(c->listen, "127.0.0.1:1080") == 0);
	CHECK(strcmp(c->udp_connect, "1.2.3.4:17000") == 0);
	conf_free(c);
}

static void test_all_fields_set(void)
{
	struct config *c = parse(
	    "{" CLIENT ", \"http_listen\": \"127.0.0.1:8081\","
	    "\"netdev\": \"eth0\", \"log\": \"/tmp/k.log\", \"user\": "
	    "\"nobody\", \"method\": \"aes256gcm\", \"password\": \"pw\","
	    "\"kcp\": {\"mtu\": 1200, \"sndwnd\": 512, \"rcvwnd\": 2048,"
	    " \"nodelay\": 0, \"interval\": 20, \"resend\": 0, \"nc\": 1,"
	    " \"flush\": 0},"
	    "\"tcp\": {\"nodelay\": false, \"keepalive\": true, "
	    "\"reuseport\": true, \"sndbuf\": 65536, \"rcvbuf\": 131072},"
	    "\"udp\": {\"reuseport\": true, \"sndbuf\": 1, \"rcvbuf\": 2},"
	    "\"keepalive\": 0, \"timeout\": 10, \"linger\": 1, "
	    "\"time_wait\": 3600, \"loglevel\": 6}");
	REQUIRE(c != NULL);
	CHECK(strcmp(c->http_listen, "127.0.0.1:8081") == 0);
	CHECK(strcmp(c->netdev, "eth0") == 0);
	CHECK(strcmp(c->log, "/tmp/k.log") == 0);
	CHECK(strcmp(c->user, "nobody") == 0);
	CHECK(strcmp(c->method, "aes256gcm") == 0);
	CHECK(strcmp(c->password, "pw") == 0);
	CHECK(c->kcp.mtu == 1200 && c->kcp.sndwnd == 512);
	CHECK(c->kcp.rcvwnd == 2048 && c->kcp.nodelay == 0);
	CHECK(c->kcp.interval == 20 && c->kcp.resend == 0);
	CHECK(c->kcp.nc == 1 && c->kcp.flush == 0);
	CHECK(!c->tcp.nodelay && c->tcp.keepalive && c->tcp.reuseport);
	CHECK(c->tcp.sndbuf == 65536 && c->tcp.rcvbuf == 131072);
	CHECK(c->udp.reuseport && c->udp.sndbuf == 1 && c->udp.rcvbuf == 2);
	CHECK(c->keepalive == 0 && c->timeout == 10 && c->linger == 1);
	CHECK(c->time_wait == 3600 && c->loglevel == 6);
	conf_free(c);
}

/* One integer field set to `value` in an otherwise valid config. */
static struct config *with_int(const char *section, const char *key,
			       long long value)
{
	char text[512];
	if (section != NULL) {
		snprintf(text, sizeof(text),
			 "{" CLIENT ", \"%s\": {\"%s\": %lld}}", section, key,
			 value);
	} else {
		snprintf(text, sizeof(text), "{" CLIENT ", \"%s\": %lld}", key,
			 value);
	}
	return parse(text);
}

static bool range_ok(const char *section, const char *key, int min, int max)
{
	bool ok = true;
	struct config *c;
	long long good[] = {min, max};
	long long bad[] = {(long long)min - 1, (long long)max + 1};
	for (int i = 0; i < 2; i++) {
		c = with_int(section, key, good[i]);
		ok &= CHECK(c != NULL);
		conf_free(c);
		c = with_int(section, key, bad[i]);
		ok &= CHECK(c == NULL);
		ok &= CHECK(strstr(err, key) != NULL);
		ok &= CHECK(strstr(err, "out of range") != NULL);
		conf_free(c);
	}
	return ok;
}

static void test_range_edges(void)
{
	CHECK(range_ok("kcp", "mtu", 300, 9000));
	CHECK(range_ok("kcp", "sndwnd", 16, 32768)); /* the u16 wnd field */
	CHECK(range_ok("kcp", "rcvwnd", 16, 32768));
	CHECK(range_ok("kcp", "nodelay", 0, 1));
	CHECK(range_ok("kcp", "interval", 1, 1000));
	CHECK(range_ok("kcp", "resend", 0, 100));
	CHECK(range_ok("kcp", "nc", 0, 1));
	CHECK(range_ok("kcp", "flush", 0, 2));
	CHECK(range_ok("tcp", "sndbuf", 0, 67108864));
	CHECK(range_ok("udp", "rcvbuf", 0, 67108864));
	CHECK(range_ok(NULL, "keepalive", 0, 3600));
	CHECK(range_ok(NULL, "timeout", 10, 86400));
	CHECK(range_ok(NULL, "linger", 1, 3600));
	CHECK(range_ok(NULL, "time_wait", 1, 3600));
	CHECK(range_ok(NULL, "loglevel", 0, 6));
	/* The exact message format. */
	CHECK(fails_with("{" CLIENT ", \"kcp\": {\"mtu\": 99}}",
			 "config: \"kcp.mtu\": 99 is out of range 300..9000",
			 NULL));
}

static void test_wrong_types(void)
{
	CHECK(fails_with("{" CLIENT ", \"kcp\": {\"nodelay\": \"1\"}}",
			 "\"kcp.nodelay\": expected an integer, got string",
			 NULL));
	CHECK(fails_with("{" CLIENT ", \"kcp\": {\"mtu\": 1400.5}}",
			 "\"kcp.mtu\"", "expected an integer, got number"));
	CHECK(fails_with("{" CLIENT ", \"kcp\": {\"mtu\": 1e3}}", "\"kcp.mtu\"",
			 "expected an integer"));
	CHECK(fails_with("{" CLIENT ", \"timeout\": true}", "\"timeout\"",
			 "expected an integer, got boolean"));
	/* Beyond int64: json-parser hands us a double. */
	CHECK(fails_with("{" CLIENT
			 ", \"kcp\": {\"mtu\": 99999999999999999999}}",
			 "\"kcp.mtu\"", "out of range 300..9000"));
	CHECK(fails_with("{" CLIENT
			 ", \"kcp\": {\"mtu\": -9223372036854775808}}",
			 "\"kcp.mtu\"", "out of range"));
	CHECK(fails_with("{" CLIENT ", \"tcp\": {\"nodelay\": 1}}",
			 "\"tcp.nodelay\"",
			 "expected true or false, got integer"));
	CHECK(fails_with("{" CLIENT ", \"udp\": {\"reuseport\": \"true\"}}",
			 "\"udp.reuseport\"", "expected true or false"));
	CHECK(fails_with("{" CLIENT ", \"user\": 0}", "\"user\"",
			 "expected a string, got integer"));
	CHECK(fails_with("{" CLIENT ", \"psk\": null}", "\"psk\"",
			 "expected a string, got null"));
	CHECK(fails_with("{" CLIENT ", \"kcp\": [1]}", "\"kcp\"",
			 "expected an object"));
	CHECK(fails_with("{" CLIENT ", \"tcp\": 1}", "\"tcp\"",
			 "expected an object"));
	CHECK(fails_with("{" CLIENT ", \"user\": \"\"}", "\"user\"",
			 "must not be empty"));
	CHECK(fails_with("{" CLIENT ", \"user\": \"a\\u0000b\"}", "\"user\"",
			 "NUL"));
	CHECK(fails_with("{" CLIENT ", \"loglevel\": 1, \"loglevel\": 2}",
			 "\"loglevel\"", "duplicate"));
}

static void test_syntax_errors(void)
{
	/* json-parser itself reports column 0; we point at the byte. */
	CHECK(fails_with("{\n  \"listen\": \"a:1\",\n  \"x\": tru\n}",
			 "config: t.json:3:8: syntax error: ", NULL));
	CHECK(fails_with("{\n  \"a\": 1\n  \"b\": 2\n}",
			 "t.json:3:3: syntax error", NULL));
	/* Lines inside block comments count. */
	CHECK(fails_with("/* one\n two\n three */\n{\"a\": @}",
			 "t.json:4:7: syntax error", NULL));
	CHECK(fails_with("{\"a\": 1", "t.json:1:8: syntax error", NULL));
	CHECK(fails_with("{\"a\": 1} x", "t.json:1:10: syntax error",
			 "Trailing garbage"));
	CHECK(
	    fails_with("{\"a\": 1 /* open", "t.json:1:9: syntax error", NULL));
	CHECK(fails_with("{\"a\": \"\\ud800\"}", "t.json:", "syntax error"));
	CHECK(fails_with("{\"a\": 01}", "t.json:1:8: syntax error", NULL));
	CHECK(fails_with("{\"a\": -.5}", "t.json:1:8: syntax error", NULL));
	/* An unterminated string is shown where it opens. */
	CHECK(fails_with("{\"a\":\n  \"abc\n\n", "t.json:2:3: syntax error",
			 NULL));
	CHECK(fails_with("{\"a\": {",
			 "t.json:1:8: syntax error: ", "end of input"));
	CHECK(fails_with("{\"a\": 1", "syntax error: ", "end of input"));
	/* json-parser takes a NUL byte for the end of the input. */
	static const char nul[] = "{\"a\": \"x\0y\"}";
	err[0] = '\0';
	CHECK(conf_parse(nul, sizeof(nul) - 1, "t.json", err, sizeof(err)) ==
	      NULL);
	CHECK(strstr(err, "t.json:1:7: syntax error") != NULL);
}

static void test_too_deep(void)
{
	size_t n = 1024 * 1024;
	char *text = malloc(n);
	REQUIRE(text != NULL);
	memset(text, '[', n);
	err[0] = '\0';
	CHECK(conf_parse(text, n, "t.json", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "t.json: too large or too deeply nested") != NULL);
	free(text);
}

static void test_comments(void)
{
	struct config *c =
	    parse("// leading comment\n"
		  "{\n"
		  "  /* block\n     comment */\n"
		  "  \"listen\": \"127.0.0.1:1080\", // trailing\n"
		  "  \"udp_connect\": \"1.2.3.4:17000\"\n"
		  "} // after\n");
	CHECK(c != NULL && c->mode == MODE_CLIENT);
	conf_free(c);
}

static void test_empty_and_root(void)
{
	CHECK(fails_with("", "t.json", "empty"));
	CHECK(fails_with("  \n\t ", "t.json", "empty"));
	CHECK(fails_with("// only a comment\n", "t.json", "empty"));
	CHECK(fails_with("[1, 2]", "top level must be an object", "array"));
	CHECK(fails_with("\"str\"", "top level must be an object", "string"));
	CHECK(fails_with("{}", "no mode", "listen+udp_connect"));
}

static void test_files(void)
{
	struct config *c;
	c = conf_read("/nonexistent/dir/x.json", err, sizeof(err));
	CHECK(c == NULL);
	CHECK(strstr(err, "/nonexistent/dir/x.json") != NULL);
	CHECK(strstr(err, "No such file or directory") != NULL);

	c = conf_read(".", err, sizeof(err));
	CHECK(c == NULL && strstr(err, "Is a directory") != NULL);

	char path[] = "/tmp/test_conf_XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	FILE *f = fdopen(fd, "w");
	REQUIRE(f != NULL);
	fputs("{" CLIENT "}", f);
	for (int i = 0; i < 1024 * 1024; i++) {
		fputc(' ', f);
	}
	fclose(f);
	c = conf_read(path, err, sizeof(err));
	CHECK(c == NULL && strstr(err, "larger than") != NULL);
	CHECK(strstr(err, path) != NULL);

	f = fopen(path, "w");
	REQUIRE(f != NULL);
	fputs("{" CLIENT "}\n", f);
	fclose(f);
	c = conf_read(path, err, sizeof(err));
	CHECK(c != NULL && c->mode == MODE_CLIENT);
	conf_free(c);

	f = fopen(path, "w");
	REQUIRE(f != NULL);
	fputs("{\n\"listen\": x}", f);
	fclose(f);
	c = conf_read(path, err, sizeof(err));
	CHECK(c == NULL && strstr(err, path) != NULL &&
	      strstr(err, ":2:11: syntax error") != NULL);
	remove(path);
}

static void test_modes(void)
{
	struct config *c;
	c = parse("{\"listen\": \":1080\", \"udp_connect\": \"h:1\"}");
	CHECK(c != NULL && c->mode == MODE_CLIENT);
	conf_free(c);
	c = parse("{\"udp_bind\": \":17000\", \"connect\": \"h:22\"}");
	CHECK(c != NULL && c->mode == MODE_SERVER);
	conf_free(c);
	c = parse("{\"udp_bind\": \":17001\"}");
	CHECK(c != NULL && c->mode == MODE_RENDEZVOUS);
	conf_free(c);
	c = parse("{\"rendezvous_server\": \"r:1\", \"service_id\": \"s\", "
		  "\"connect\": \"h:22\"}");
	CHECK(c != NULL && c->mode == MODE_PEER);
	conf_free(c);
	c = parse("{\"rendezvous_server\": \"r:1\", \"service_id\": \"s\", "
		  "\"listen\": \":2222\"}");
	CHECK(c != NULL && c->mode == MODE_PEER);
	conf_free(c);
	CHECK(strcmp(conf_mode_name(MODE_CLIENT), "client") == 0);
	CHECK(strcmp(conf_mode_name(MODE_PEER), "peer") == 0);
	CHECK(strcmp(conf_mode_name((enum conf_mode)0), "none") == 0);
}

static void test_mode_errors(void)
{
	CHECK(fails_with("{\"listen\": \":1\"}", "\"listen\"",
			 "needs \"udp_connect\""));
	CHECK(fails_with("{\"connect\": \"h:1\"}", "\"connect\"",
			 "needs \"udp_bind\""));
	CHECK(fails_with("{\"udp_connect\": \"h:1\"}", "\"udp_connect\"",
			 "needs \"listen\""));
	CHECK(fails_with("{\"udp_connect\": \"h:1\", \"udp_bind\": \":2\", "
			 "\"listen\": \":3\"}",
			 "\"udp_connect\" and \"udp_bind\"", "cannot both"));
	CHECK(fails_with("{\"udp_connect\": \"h:1\", \"listen\": \":3\", "
			 "\"connect\": \"h:4\"}",
			 "\"listen\" and \"connect\"", "cannot both"));
	CHECK(fails_with("{\"udp_bind\": \":1\", \"listen\": \":3\"}",
			 "\"listen\" needs \"udp_connect\"", NULL));
	CHECK(fails_with("{\"service_id\": \"s\", \"connect\": \"h:1\"}",
			 "\"service_id\" needs \"rendezvous_server\"", NULL));
	CHECK(
	    fails_with("{\"rendezvous_server\": \"r:1\", \"connect\": \"h:1\"}",
		       "\"rendezvous_server\" needs \"service_id\"", NULL));
	CHECK(fails_with("{\"rendezvous_server\": \"r:1\", \"service_id\": "
			 "\"s\"}",
			 "peer mode needs exactly one of", NULL));
	CHECK(fails_with("{\"rendezvous_server\": \"r:1\", \"service_id\": "
			 "\"s\", \"listen\": \":1\", \"connect\": \"h:2\"}",
			 "peer mode needs exactly one of", NULL));
	CHECK(fails_with("{\"rendezvous_server\": \"r:1\", \"service_id\": "
			 "\"s\", \"connect\": \"h:2\", \"udp_connect\": "
			 "\"h:3\"}",
			 "peer mode", "\"udp_connect\""));
	CHECK(fails_with("{}",
			 "no mode: set listen+udp_connect (client) or "
			 "udp_bind+connect (server)",
			 NULL));
}

static bool addr_ok(const char *field, const char *addr)
{
	char text[256];
	snprintf(text, sizeof(text), "{" CLIENT ", \"%s\": \"%s\"}", field,
		 addr);
	struct config *c = parse(text);
	bool ok = c != NULL;
	if (!ok) {
		fprintf(stderr, "  %s\n", err);
	}
	conf_free(c);
	return ok;
}

static bool addr_bad(const char *field, const char *addr, const char *why)
{
	char text[256], quoted[64];
	snprintf(text, sizeof(text), "{" CLIENT ", \"%s\": \"%s\"}", field,
		 addr);
	snprintf(quoted, sizeof(quoted), "\"%s\"", field);
	return fails_with(text, quoted, why);
}

static void test_addresses(void)
{
	CHECK(addr_ok("http_listen", "127.0.0.1:8080"));
	CHECK(addr_ok("http_listen", "localhost:8080"));
	CHECK(addr_ok("http_listen", "[::1]:8080"));
	CHECK(addr_ok("http_listen", "[fe80::1%eth0]:1"));
	CHECK(addr_ok("http_listen", ":65535"));
	struct config *c = parse("{\"listen\": \"[::]:1080\", \"udp_connect\": "
				 "\"[2001:db8::1]:17000\"}");
	CHECK(c != NULL && strcmp(c->udp_connect, "[2001:db8::1]:17000") == 0);
	conf_free(c);

	CHECK(addr_bad("http_listen", "[::1:80", "bracket is not closed"));
	CHECK(
	    addr_bad("http_listen", "::1:80", "IPv6 addresses need brackets"));
	CHECK(addr_bad("http_listen", "localhost", "port is missing"));
	CHECK(addr_bad("http_listen", "localhost:", "port is empty"));
	CHECK(addr_bad("http_listen", "h:0", "1..65535"));
	CHECK(addr_bad("http_listen", "h:65536", "1..65535"));
	CHECK(addr_bad("http_listen", "h:99999999999999999999", "1..65535"));
	CHECK(addr_bad("http_listen", "h:8a", "digits only"));
	CHECK(addr_bad("http_listen", "h:+80", "digits only"));
	CHECK(addr_bad("http_listen", "[]:80", "empty"));
	CHECK(addr_bad("http_listen", "[::1]80", "port is missing"));
	CHECK(addr_bad("http_listen", "a b:80", "space"));
	CHECK(fails_with("{\"listen\": \":1\", \"udp_connect\": \":17000\"}",
			 "\"udp_connect\"", "a host is needed"));
	CHECK(fails_with("{\"listen\": \"x\", \"udp_connect\": \"h:1\"}",
			 "\"listen\": \"x\" is not a valid address", NULL));
}

static void test_crypto(void)
{
	struct config *c;
	CHECK(fails_with("{" CLIENT ", \"method\": \"aes128\", \"psk\": \"k\"}",
			 "\"method\": \"aes128\" is not supported",
			 "none, chacha20poly1305_ietf, xchacha20poly1305_ietf, "
			 "aes256gcm"));
	CHECK(fails_with("{" CLIENT ", \"method\": \"aes256gcm\", \"psk\": "
			 "\"k\", \"password\": \"p\"}",
			 "\"psk\" and \"password\" are both set", NULL));
	CHECK(fails_with("{" CLIENT ", \"method\": \"chacha20poly1305_ietf\"}",
			 "\"method\"", "needs \"psk\" or \"password\""));
	c = parse("{" CLIENT ", \"method\": \"xchacha20poly1305_ietf\", "
		  "\"psk\": \"k\"}");
	CHECK(c != NULL && strcmp(c->psk, "k") == 0);
	conf_free(c);
	c = parse("{" CLIENT ", \"method\": \"none\"}");
	CHECK(c != NULL && strcmp(c->method, "none") == 0);
	conf_free(c);

	/* A key without a method is an error, never plaintext by surprise. */
	CHECK(fails_with("{" CLIENT ", \"psk\": \"k\"}", "\"psk\" is set",
			 "\"method\" is not"));
	CHECK(fails_with("{" CLIENT ", \"password\": \"k\"}",
			 "\"password\" is set", "\"none\" to send in clear"));
	const char *log = parse_logged(
	    "{" CLIENT ", \"method\": \"none\", \"psk\": \"k\"}", &c);
	CHECK(c != NULL);
	CHECK(strstr(log, "\"psk\" is set") && strstr(log, "NOT encrypted"));
	conf_free(c);
	log = parse_logged("{" CLIENT ", \"method\": \"none\", \"password\": "
			   "\"p\"}",
			   &c);
	CHECK(c != NULL && strstr(log, "\"password\" is set"));
	conf_free(c);
}

static void test_unknown_keys(void)
{
	struct config *c;
	const char *log =
	    parse_logged("{" CLIENT ", \"kcp\": {\"mut\": 1400}}", &c);
	CHECK(c != NULL && c->kcp.mtu == 1400);
	CHECK(strstr(log, "config: unknown key \"kcp.mut\" (ignored)"));
	CHECK(strstr(log, "did you mean \"kcp.mtu\"?"));
	conf_free(c);

	log = parse_logged("{" CLIENT ", \"frobnicate\": {\"x\": [1]}}", &c);
	CHECK(c != NULL && strstr(log, "unknown key \"frobnicate\""));
	CHECK(strstr(log, "did you mean") == NULL);
	CHECK(strstr(log, "frobnicate.x") == NULL); /* not entered */
	conf_free(c);

	/* A dotted key is not a shortcut into a section. */
	log = parse_logged("{" CLIENT ", \"kcp.mtu\": 5}", &c);
	CHECK(c != NULL && c->kcp.mtu == 1400);
	CHECK(strstr(log, "unknown key \"kcp.mtu\""));
	conf_free(c);

	/* Control bytes in a key cannot forge a log line. */
	log = parse_logged("{" CLIENT ", \"a\\nb\\\"c\": 1}", &c);
	CHECK(c != NULL && strstr(log, "unknown key \"a\\x0ab\\x22c\""));
	conf_free(c);

	log = parse_logged("{" CLIENT ", \"tcp\": {\"nodelay\": true, "
			   "\"sndbfu\": 1}, \"udp\": {}}",
			   &c);
	CHECK(c != NULL && strstr(log, "\"tcp.sndbfu\"") &&
	      strstr(log, "did you mean \"tcp.sndbuf\""));
	conf_free(c);

	/* Long keys are shown cut, not overflowed. */
	char text[1024];
	char key[600];
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	snprintf(text, sizeof(text), "{" CLIENT ", \"%s\": 1}", key);
	log = parse_logged(text, &c);
	CHECK(c != NULL && strstr(log, "unknown key \"kkkk") &&
	      strstr(log, "...\" (ignored)"));
	conf_free(c);
}

static void test_congestion_controller(void)
{
	struct config *c = parse("{" CLIENT "}");
	CHECK(c != NULL && c->kcp.cc == NULL);
	conf_free(c);
	const char *names[] = {"rate", "classic", "none"};
	for (size_t i = 0; i < 3; i++) {
		char text[256];
		snprintf(text, sizeof(text),
			 "{" CLIENT ", \"kcp\": {\"cc\": \"%s\"}}", names[i]);
		c = parse(text);
		CHECK(c != NULL && strcmp(c->kcp.cc, names[i]) == 0);
		conf_free(c);
	}
	CHECK(fails_with("{" CLIENT ", \"kcp\": {\"cc\": \"bbr\"}}",
			 "\"kcp.cc\": \"bbr\" is not a controller",
			 "\"rate\", \"classic\" or \"none\""));
	CHECK(fails_with("{" CLIENT ", \"kcp\": {\"cc\": 1}}", "\"kcp.cc\"",
			 NULL));
	CHECK(fails_with("{" CLIENT ", \"kcp\": {\"nc\": 1, \"cc\": \"rate\"}}",
			 "\"kcp.nc\": 1 means no congestion control", "rate"));
	c = parse("{" CLIENT ", \"kcp\": {\"nc\": 1, \"cc\": \"none\"}}");
	CHECK(c != NULL);
	conf_free(c);
}

static void test_samples(void)
{
	struct config *c;
	c = conf_read("../client.json", err, sizeof(err));
	CHECK(c != NULL && c->mode == MODE_CLIENT);
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
	}
	CHECK(c != NULL && c->psk != NULL && c->method != NULL);
	conf_free(c);
	c = conf_read("../server.json", err, sizeof(err));
	CHECK(c != NULL && c->mode == MODE_SERVER);
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
	}
	conf_free(c);
	c = conf_read("../peer.json", err, sizeof(err));
	CHECK(c != NULL && c->mode == MODE_PEER);
	if (c == NULL) {
		fprintf(stderr, "  %s\n", err);
	}
	conf_free(c);
}

static void test_misc(void)
{
	conf_free(NULL);
	/* A tiny error buffer is cut, never overrun. */
	char small[16];
	CHECK(conf_parse("{}", 2, "t", small, sizeof(small)) == NULL);
	CHECK(strlen(small) == sizeof(small) - 1);
	CHECK(conf_parse("{}", 2, "t", NULL, 0) == NULL);
	CHECK(conf_parse("{}", 2, NULL, err, sizeof(err)) == NULL);
	/* Text is taken by length, not up to a NUL. */
	const char text[] = "{" CLIENT "}garbage";
	struct config *c =
	    conf_parse(text, strlen("{" CLIENT "}"), "t", err, sizeof(err));
	CHECK(c != NULL);
	conf_free(c);
}

int main(void)
{
	RUN(test_defaults);
	RUN(test_all_fields_set);
	RUN(test_range_edges);
	RUN(test_wrong_types);
	RUN(test_syntax_errors);
	RUN(test_too_deep);
	RUN(test_comments);
	RUN(test_empty_and_root);
	RUN(test_files);
	RUN(test_modes);
	RUN(test_mode_errors);
	RUN(test_addresses);
	RUN(test_crypto);
	RUN(test_unknown_keys);
	RUN(test_congestion_controller);
	RUN(test_samples);
	RUN(test_misc);
	return check_exit();
}
