/* main.c — command line, signals, privileges and the loop's lifetime. */
#include "conf.h"
#include "crypto.h"
#include "server.h"
#include "util/log.h"

#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <grp.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Exit codes: 0 normal, 1 runtime or config failure, 2 usage. */
enum { EXIT_USAGE = 2 };

/* The key shipped in the sample configs: working out of the box on
 * loopback, but public, so using it for real deserves a warning. */
static const char sample_psk[] = "Ew9dGep7HwyguHBqpVRReEk15ffFodwHm9hsdzEX1fA=";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: kcptun-libev -c FILE [-v]... [-s]...\n"
		"       kcptun-libev --genpsk METHOD\n"
		"       kcptun-libev --list-methods | --version | --help\n"
		"\n"
		"  -c, --config FILE   run with this JSON config\n"
		"  -v, --verbose       log more (repeatable)\n"
		"  -s, --silent        log less (repeatable)\n"
		"      --genpsk METHOD print a fresh random key for \"psk\"\n"
		"      --list-methods  print the encryption methods available\n"
		"      --version       print program and protocol versions\n"
		"  -h, --help          this text\n");
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	LOGI("signal %d: shutting down", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	server_log_stats(w->data);
}

static bool drop_privileges(const char *user)
{
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		LOGF("\"user\": no such user \"%s\"", user);
		return false;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		LOGF("\"user\": cannot become \"%s\": %s", user,
		     strerror(errno));
		return false;
	}
	LOGI("running as user %s", user);
	return true;
}

/* One descriptor per connection: the usual soft limit of 1024 would cap a
 * server far below the 65,535 sessions it is built for. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	/* Enough for 65,535 sessions plus the sockets around them. Raising the
	 * hard limit needs privileges (root, CAP_SYS_RESOURCE); without them
	 * the soft limit goes up to the hard one. */
	const rlim_t want = 1 << 17;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		struct rlimit more = {want,
				      want > rl.rlim_max ? want : rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &more) != 0 &&
		    rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
				LOGW("cannot raise the open file limit: %s",
				     strerror(errno));
			}
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		LOGD("open file limit: %llu", (unsigned long long)rl.rlim_cur);
	}
}

/* glibc raises its mmap threshold to the size of any mmap'd block that is
 * freed: the config reader's 1 MiB buffer would lift it past the replay
 * guard's bloom filters and the receive batch, which then land in the brk
 * heap, where calloc() clears the recycled top chunk (≈128 KiB per block
 * dirtied at start-up) and freed memory rarely goes back to the kernel.
 * Pinning the threshold keeps every block of 128 KiB or more in its own
 * mapping: untouched pages stay unbacked and free() returns them. No block
 * that large is allocated per session or per datagram, so the hot paths
 * are unaffected. */
static void pin_malloc_policy(void)
{
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
	if (mallopt(M_MMAP_THRESHOLD, 128 * 1024) != 1) {
		LOGD("mallopt(M_MMAP_THRESHOLD) refused");
	}
#endif
}

static int run(const char *path, int verbosity)
{
	char err[512];
	pin_malloc_policy();
	struct config *conf = conf_read(path, err, sizeof(err));
	if (conf == NULL) {
		LOGF("%s", err);
		return EXIT_FAILURE;
	}
	log_set_level(conf->loglevel + verbosity);
	FILE *logfile = NULL;
	if (conf->log != NULL) {
		logfile = fopen(conf->log, "a");
		if (logfile == NULL) {
			LOGF("\"log\": cannot open %s: %s", conf->log,
			     strerror(errno));
			conf_free(conf);
			return EXIT_FAILURE;
		}
		log_set_output(logfile);
	}
	if (conf->psk != NULL && strcmp(conf->psk, sample_psk) == 0) {
		LOGW(
		    "\"psk\" is the sample key everyone has: generate your own "
		    "with kcptun-libev --genpsk METHOD");
	}

	raise_fd_limit();
	struct ev_loop *loop = ev_default_loop(0);
	int rc = EXIT_FAILURE;
	struct server *srv = server_new(loop, conf, err, sizeof(err));
	if (srv == NULL) {
		LOGF("%s", err);
		goto out;
	}
	if (conf->user != NULL && !drop_privileges(conf->user)) {
		goto out;
	}
	ev_signal w_int, w_term, w_hup;
	ev_signal_init(&w_int, signal_cb, SIGINT);
	ev_signal_init(&w_term, signal_cb, SIGTERM);
	ev_signal_init(&w_hup, sighup_cb, SIGHUP);
	w_hup.data = srv;
	ev_signal_start(loop, &w_int);
	ev_signal_start(loop, &w_term);
	ev_signal_start(loop, &w_hup);

	LOGI("kcptun-libev %s (protocol %d) started as %s", KCPTUN_VERSION,
	     KCPTUN_PROTOCOL_VERSION,
	     conf->mode == MODE_CLIENT ? "client" : "server");
	ev_run(loop, 0);

	/* Reset every session so the peers learn now, not at their dead-link
	 * timeout. */
	server_shutdown(srv);
	server_log_stats(srv);
	ev_signal_stop(loop, &w_int);
	ev_signal_stop(loop, &w_term);
	ev_signal_stop(loop, &w_hup);
	rc = EXIT_SUCCESS;
out:
	server_free(srv);
	ev_loop_destroy(loop);
	conf_free(conf);
	if (logfile != NULL) {
		log_set_output(NULL);
		fclose(logfile);
	}
	return rc;
}

int main(int argc, char **argv)
{
	enum { OPT_GENPSK = 256, OPT_LIST, OPT_VERSION };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"silent", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {"genpsk", required_argument, NULL, OPT_GENPSK},
	    {"list-methods", no_argument, NULL, OPT_LIST},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *genpsk = NULL;
	int verbosity = 0;
	bool list = false;
	int c;

	opterr = 0; /* we print our own message */
	while ((c = getopt_long(argc, argv, ":c:vsh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'v':
			verbosity++;
			break;
		case 's':
			verbosity--;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case OPT_GENPSK:
			genpsk = optarg;
			break;
		case OPT_LIST:
			list = true;
			break;
		case OPT_VERSION:
			printf("kcptun-libev %s, protocol %d, encryption %s\n",
			       KCPTUN_VERSION, KCPTUN_PROTOCOL_VERSION,
			       crypto_built_in() ? "built in" : "not built");
			return EXIT_SUCCESS;
		case ':':
			fprintf(stderr,
				"kcptun-libev: option %s needs an "
				"argument\n",
				argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "kcptun-libev: unknown option %s\n",
				argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kcptun-libev: unexpected argument \"%s\"\n",
			argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LVL_DEFAULT + verbosity);

	if (list) {
		crypto_list_methods(stdout);
		return EXIT_SUCCESS;
	}
	if (genpsk != NULL) {
		char key[64], err[256];
		if (!crypto_genpsk(genpsk, key, sizeof(key), err,
				   sizeof(err))) {
			fprintf(stderr, "kcptun-libev: %s\n", err);
			return EXIT_FAILURE;
		}
		printf("%s\n", key);
		return EXIT_SUCCESS;
	}
	if (config == NULL) {
		fprintf(stderr, "kcptun-libev: no config file (-c FILE)\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	return run(config, verbosity);
}
