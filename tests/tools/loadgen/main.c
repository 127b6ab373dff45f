/* loadgen: the TCP (and UDP) client side of the e2e tests. See usage()
 * and tests/tools/README.md. This file parses the command line and runs
 * one mode; the modes live one concern per file behind loadgen.h. */
#include "loadgen.h"
#include "tool.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen --connect HOST:PORT [--mode MODE] [options]\n"
		"modes:\n"
		"  sinksource  (default) N connections against upstream "
		"sinksource,\n"
		"              random up/down sizes in [min,max], all bytes "
		"verified\n"
		"  latency     N sequential connect/1-byte echo/close (echo "
		"upstream)\n"
		"  halfclose   send --up-size, shutdown(SHUT_WR), expect the\n"
		"              replyafter stream of --reply-size bytes, then "
		"EOF\n"
		"  expectclose send 1 byte, expect EOF or RST within "
		"--timeout\n"
		"  reset       send --up-size bytes, then close with RST\n"
		"  bulk        one (or --conns) sinksource connection(s) "
		"sending\n"
		"              --up-size bytes each, unhashed; reports MiB/s\n"
		"  udp         send --conns datagrams of --up-size bytes to a "
		"UDP\n"
		"              echo and count what comes back\n"
		"  interactive one connection to an echo: --up-size (100) "
		"bytes every\n"
		"              --interval, for --duration; round trip of "
		"each\n"
		"options (sizes take K/M/G):\n"
		"  --conns N        connections / datagrams (default 20; "
		"latency 100)\n"
		"  --parallel P     sinksource: at most P open at once "
		"(default N)\n"
		"  --min-size B     sinksource size range (default 0)\n"
		"  --max-size B     (default 1M)\n"
		"  --up-size B      halfclose/reset/udp 1000, bulk 100M\n"
		"  --reply-size B   halfclose: expected reply (default 1M)\n"
		"  --stall S        halfclose: wait S seconds before reading;\n"
		"                   reset: wait S seconds before the RST\n"
		"  --seed S         PRNG seed for sizes and data (default 1)\n"
		"  --expect-min F   udp: fail if fewer than F (0..1) came "
		"back\n"
		"  --interval MS    interactive: request spacing (default "
		"100)\n"
		"  --duration S     interactive: how long to send (default 10; "
		"the\n"
		"                   answers are awaited until --timeout)\n"
		"  --samples FILE   interactive: \"send time s, rtt ms\" per "
		"answer\n"
		"  --timeout S      give up and exit 2 after S seconds "
		"(default 60)\n"
		"exit status: 0 all ok, 1 failure, 2 timeout.\n");
}

static bool opt_size(const char *name, const char *arg, uint64_t *out)
{
	if (tool_parse_size(arg, out))
		return true;
	fprintf(stderr, "loadgen: bad %s \"%s\"\n", name, arg);
	return false;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connect", required_argument, NULL, 'a'},
	    {"mode", required_argument, NULL, 'm'},
	    {"conns", required_argument, NULL, 'n'},
	    {"parallel", required_argument, NULL, 'p'},
	    {"min-size", required_argument, NULL, '<'},
	    {"max-size", required_argument, NULL, '>'},
	    {"up-size", required_argument, NULL, 'u'},
	    {"reply-size", required_argument, NULL, 'r'},
	    {"seed", required_argument, NULL, 's'},
	    {"expect-min", required_argument, NULL, 'e'},
	    {"timeout", required_argument, NULL, 't'},
	    {"stall", required_argument, NULL, 'S'},
	    {"interval", required_argument, NULL, 'i'},
	    {"duration", required_argument, NULL, 'd'},
	    {"samples", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *addr = NULL, *mode = "sinksource";
	bool have_up = false;

	lg.min_size = 0;
	lg.max_size = 1 << 20;
	lg.reply_size = 1 << 20;
	lg.seed = 1;
	lg.timeout = 60;
	lg.interval = 0.1;
	lg.duration = 10;
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		bool ok = true;
		switch (o) {
		case 'a':
			addr = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'n':
			ok = tool_parse_u64(optarg, 1, 10000000, &lg.conns);
			break;
		case 'p':
			ok = tool_parse_u64(optarg, 1, 1000000, &lg.parallel);
			break;
		case '<':
			ok = opt_size("--min-size", optarg, &lg.min_size);
			break;
		case '>':
			ok = opt_size("--max-size", optarg, &lg.max_size);
			break;
		case 'u':
			ok = opt_size("--up-size", optarg, &lg.up_size);
			have_up = true;
			break;
		case 'r':
			ok = opt_size("--reply-size", optarg, &lg.reply_size);
			break;
		case 's':
			ok = tool_parse_u64(optarg, 0, UINT64_MAX, &lg.seed);
			break;
		case 'e':
			ok = tool_parse_double(optarg, 0, 1, &lg.expect_min);
			break;
		case 't':
			ok = tool_parse_double(optarg, 0.001, 1e6, &lg.timeout);
			break;
		case 'S':
			ok = tool_parse_double(optarg, 0, 3600, &lg.stall);
			break;
		case 'i':
			ok = tool_parse_double(optarg, 1, 60000, &lg.interval);
			lg.interval /= 1000;
			break;
		case 'd':
			ok = tool_parse_double(optarg, 0.001, 86400,
					       &lg.duration);
			break;
		case 'o':
			lg.samples = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
		if (!ok) {
			fprintf(stderr, "loadgen: bad value \"%s\"\n", optarg);
			return 1;
		}
	}
	if (addr == NULL || optind != argc) {
		usage(stderr);
		return 1;
	}
	if (!netaddr_parse(addr, &lg.addr)) {
		fprintf(stderr, "loadgen: bad address \"%s\"\n", addr);
		return 1;
	}
	if (lg.min_size > lg.max_size) {
		fprintf(stderr, "loadgen: --min-size > --max-size\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	tool_raise_nofile();
	lg.deadline = tool_now() + lg.timeout;
	if (!have_up)
		lg.up_size = strcmp(mode, "bulk") == 0		? 100 << 20
			     : strcmp(mode, "interactive") == 0 ? 100
								: 1000;

	if (strcmp(mode, "sinksource") == 0) {
		if (lg.conns == 0)
			lg.conns = 20;
		return sinksource_run(false);
	}
	if (strcmp(mode, "bulk") == 0) {
		/* --conns N: N such connections at once (flow fairness) */
		if (lg.conns == 0)
			lg.conns = 1;
		lg.parallel = lg.conns;
		lg.min_size = lg.max_size = lg.up_size;
		return sinksource_run(true);
	}
	if (strcmp(mode, "latency") == 0) {
		if (lg.conns == 0)
			lg.conns = 100;
		return latency_run();
	}
	if (strcmp(mode, "halfclose") == 0)
		return halfclose_run();
	if (strcmp(mode, "expectclose") == 0)
		return expectclose_run();
	if (strcmp(mode, "reset") == 0)
		return reset_run();
	if (strcmp(mode, "udp") == 0) {
		if (lg.conns == 0)
			lg.conns = 1000;
		return udp_run();
	}
	if (strcmp(mode, "interactive") == 0)
		return interactive_run();
	fprintf(stderr, "loadgen: unknown mode \"%s\"\n", mode);
	return 1;
}
