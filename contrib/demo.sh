#!/usr/bin/env bash
# demo.sh BUILD_DIR — a guided tour of kcptun-libev on this machine.
#
# Everything runs on loopback, in a temporary directory that is removed at
# the end. The script
#   1. makes a fresh key (kcptun-libev --genpsk) and derives server/client
#      configs from the shipped server.json and client.json (only the key
#      and the addresses change);
#   2. starts two test services: "sinksource" (sends and checks data) and
#      "echo" (returns what it gets);
#   3. starts a tunnel server in front of each service, a UDP relay in front
#      of each server that drops 2% of datagrams and delays them 10 ms, each
#      way, and tunnel clients: some through the relay (a bad link), some
#      straight to the server (a perfect link, for comparison);
#   4. drives traffic through the clients with loadgen, checks every byte
#      with SHA-256, and prints a summary.
# Every process it starts is stopped on every exit path. Exit status 0
# means every transfer arrived intact.
#
# Usually run through `./m.sh demo`, which builds first.
set -uo pipefail

# Hard bound on the whole run: a hang must not outlive the demo.
# --foreground keeps us in the terminal's process group, so Ctrl-C reaches
# this script (whose trap then stops everything) and the load generator.
if [ -z "${KCPTUN_DEMO_BOUNDED:-}" ]; then
	export KCPTUN_DEMO_BOUNDED=1
	exec timeout --foreground -k 5 150 bash "$0" "$@"
fi

BUILD=${1:?usage: $0 BUILD_DIR (e.g. build, after a cmake build)}
BUILD=$(cd "$BUILD" && pwd) || exit 1
SRC=$(cd "$(dirname "$0")/.." && pwd)
DAEMON=$BUILD/kcptun-libev
T=$BUILD/tests
for bin in "$DAEMON" "$T/upstream" "$T/loadgen" "$T/udprelay"; do
	if [ ! -x "$bin" ]; then
		echo "demo: $bin is not built (cmake --build $BUILD)" >&2
		exit 1
	fi
done

# The impaired link; each direction rolls its own dice.
LOSS=0.02
DELAY_MS=10
# Traffic: bulk = CONNS connections, each sending and receiving a random
# size in [MIN, MAX]; latency = LAT_CONNS sequential connections to echo.
CONNS=20
MIN=1
MAX_MIB=8
MAX=${MAX_MIB}M
LAT_CONNS=100

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kcptun-demo.XXXXXX") || exit 1
PIDS=()
declare -A DPID # daemon name -> pid
FAILS=0

# shellcheck disable=SC2317 # reached through the trap
cleanup() {
	local pid
	# Ctrl-C reaches us twice (from the terminal and forwarded by
	# timeout): a second signal must not cut the cleanup short.
	trap '' INT TERM HUP
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 1' INT TERM HUP

say() { printf '%s\n' "$*"; }
die() {
	say "demo: $*" >&2
	exit 1
}

# port_in_use PORT: true if a TCP or UDP socket is bound to PORT.
port_in_use() {
	local hex
	hex=$(printf ':%04X ' "$1")
	cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 \
		2>/dev/null | grep -q "$hex"
}

# free_port: a port in 20000..59999 that nothing uses right now. Another
# program may still take it before we bind, so daemons are retried.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		port_in_use "$p" || break
	done
	echo "$p"
}

# tool NAME TOOL ARGS...: starts a test tool listening on port 0; sets PID
# and, from its "listening on PORT" line, PORT.
tool() {
	local name=$1 bin=$2 pid
	shift 2
	: >"$WORK/$name.out"
	"$T/$bin" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	pid=$!
	PIDS+=("$pid")
	PID=$pid
	PORT=
	for _ in $(seq 200); do
		PORT=$(awk '/^listening on /{print $3; exit}' "$WORK/$name.out")
		[ -n "$PORT" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$WORK/$name.err" >&2
	die "$name did not start"
}

# set_key FILE KEY VALUE: replaces the string value of "KEY" in a sample
# config (which has // comments, so this is sed, not a JSON tool) and
# checks that the key was there.
set_key() {
	sed -i "s|\"$2\": \"[^\"]*\"|\"$2\": \"$3\"|" "$1"
	grep -q "\"$2\": \"$3\"" "$1" || die "cannot set \"$2\" in $1"
}

# daemon NAME SAMPLE KEY=VALUE...: writes $WORK/NAME.json from the sample
# with the given string values and a free port for the one value written
# as host:PORT, starts the daemon, and waits for it to say it started.
# Sets PORT. Retries with another port if the first was taken meanwhile.
daemon() {
	local name=$1 sample=$2 pid kv
	shift 2
	for _ in 1 2 3 4 5; do
		PORT=$(free_port)
		cp "$SRC/$sample" "$WORK/$name.json"
		set_key "$WORK/$name.json" psk "$PSK"
		for kv in "$@"; do
			set_key "$WORK/$name.json" "${kv%%=*}" "${kv#*=}"
		done
		sed -i "s|:PORT\"|:$PORT\"|" "$WORK/$name.json"
		: >"$WORK/$name.log"
		"$DAEMON" -c "$WORK/$name.json" 2>"$WORK/$name.log" &
		pid=$!
		for _ in $(seq 100); do
			if grep -q "started as" "$WORK/$name.log"; then
				PIDS+=("$pid")
				DPID[$name]=$pid
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		grep -q "in use" "$WORK/$name.log" || break
	done
	cat "$WORK/$name.log" >&2
	die "$name did not start"
}

# run NAME CMD...: runs a foreground command (bounded by its own
# --timeout); output in $WORK/NAME.txt, exit status in RC.
run() {
	local name=$1
	shift
	"$@" >"$WORK/$name.txt" 2>&1
	RC=$?
}

# field FILE WORD: the word after WORD on the line that has it.
field() {
	awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) {
		v = $(i + 1); sub(/,$/, "", v); print v; exit } }' "$1"
}

say "kcptun-libev demo: $("$DAEMON" --version)"
say "working in $WORK (removed at exit)"
say ""

PSK=$("$DAEMON" --genpsk xchacha20poly1305_ietf) || die "--genpsk failed"
say "1. fresh key: kcptun-libev --genpsk xchacha20poly1305_ietf"

tool up_ss upstream --listen 127.0.0.1:0 --mode sinksource --timeout 140
UP_SS=$PORT
tool up_echo upstream --listen 127.0.0.1:0 --mode echo --timeout 140
UP_ECHO=$PORT
say "2. test services: sinksource on tcp/$UP_SS, echo on tcp/$UP_ECHO"

daemon srv_ss server.json udp_bind=127.0.0.1:PORT \
	connect=127.0.0.1:"$UP_SS"
SRV_SS=$PORT
daemon srv_echo server.json udp_bind=127.0.0.1:PORT \
	connect=127.0.0.1:"$UP_ECHO"
SRV_ECHO=$PORT
say "3. tunnel servers (from server.json): udp/$SRV_SS -> sinksource," \
	"udp/$SRV_ECHO -> echo"

tool relay_ss udprelay --listen 127.0.0.1:0 --target 127.0.0.1:"$SRV_SS" \
	--loss $LOSS --delay-ms $DELAY_MS --seed 1 --timeout 140 \
	--stats-file "$WORK/relay_ss.stats"
RELAY_SS=$PORT
RELAY_SS_PID=$PID
tool relay_echo udprelay --listen 127.0.0.1:0 \
	--target 127.0.0.1:"$SRV_ECHO" --loss $LOSS --delay-ms $DELAY_MS \
	--seed 2 --timeout 140 --stats-file "$WORK/relay_echo.stats"
RELAY_ECHO=$PORT
RELAY_ECHO_PID=$PID
say "   bad-link relays: udp/$RELAY_SS and udp/$RELAY_ECHO drop" \
	"$(awk "BEGIN{print $LOSS * 100}")% and delay ${DELAY_MS} ms, each way"

daemon cli_ss client.json listen=127.0.0.1:PORT \
	udp_connect=127.0.0.1:"$RELAY_SS"
CLI_SS=$PORT
daemon cli_echo client.json listen=127.0.0.1:PORT \
	udp_connect=127.0.0.1:"$RELAY_ECHO"
CLI_ECHO=$PORT
daemon cli_ss_direct client.json listen=127.0.0.1:PORT \
	udp_connect=127.0.0.1:"$SRV_SS"
CLI_SS_DIRECT=$PORT
daemon cli_echo_direct client.json listen=127.0.0.1:PORT \
	udp_connect=127.0.0.1:"$SRV_ECHO"
CLI_ECHO_DIRECT=$PORT
say "4. tunnel clients (from client.json): tcp/$CLI_SS and tcp/$CLI_ECHO" \
	"via the bad link;"
say "   tcp/$CLI_SS_DIRECT and tcp/$CLI_ECHO_DIRECT straight to the servers"
say ""
# stop PID: SIGTERM, wait, and forget the pid (so that cleanup never
# signals a pid the system has reused). Returns the process's exit status.
stop() {
	local rc keep=() p
	kill -TERM "$1" 2>/dev/null
	wait "$1"
	rc=$?
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
	return $rc
}

BULK_ROWS=()
LAT_ROWS=()
# Table lines: bulk_line PATH DATA TIME SPEED OK; lat_line PATH MED P99 MAX OK
bulk_line() { printf '  %-17s %17s %10s %13s   %s\n' "$@"; }
lat_line() { printf '  %-17s %11s %11s %11s   %s\n' "$@"; }

# bulk NAME PATH PORT: the sinksource transfer through client PORT.
bulk() {
	local name=$1 path=$2 port=$3 line ok=no up down secs rate
	say "   bulk, $path ..."
	run "$name" "$T/loadgen" --connect 127.0.0.1:"$port" --conns "$CONNS" \
		--min-size "$MIN" --max-size "$MAX" --seed 7 --timeout 50
	# "loadgen: 20/20 ok, X MiB up, Y MiB down, T s, R MiB/s"
	line=$(grep '^loadgen: ' "$WORK/$name.txt" | tail -n 1)
	if [ $RC -eq 0 ] && [[ $line == "loadgen: $CONNS/$CONNS ok,"* ]]; then
		ok=yes
	else
		FAILS=$((FAILS + 1))
		sed 's/^/     /' "$WORK/$name.txt" | tail -n 5
	fi
	say "     ${line:-no result (exit status $RC)}"
	read -r up down secs rate < <(awk -F', ' '{
		split($2, u, " "); split($3, d, " "); split($4, t, " ");
		split($5, r, " "); print u[1], d[1], t[1], r[1] }' <<<"$line")
	BULK_ROWS+=("$(bulk_line "$path" \
		"${up:-?} + ${down:-?} MiB" "${secs:-?} s" "${rate:-?} MiB/s" \
		"$ok")")
}

# latency NAME PATH PORT: sequential opens through client PORT to echo.
latency() {
	local name=$1 path=$2 port=$3 line ok=no med p99 max
	say "   latency, $path ..."
	run "$name" "$T/loadgen" --connect 127.0.0.1:"$port" --mode latency \
		--conns "$LAT_CONNS" --timeout 50
	# "open latency: median X ms, p99 Y ms, max Z ms"
	line=$(grep '^open latency: ' "$WORK/$name.txt" | tail -n 1)
	if [ $RC -eq 0 ] && [ -n "$line" ]; then
		ok=yes
	else
		FAILS=$((FAILS + 1))
		sed 's/^/     /' "$WORK/$name.txt" | tail -n 5
	fi
	say "     ${line:-no result (exit status $RC)}"
	med=$(field <(echo "$line") median)
	p99=$(field <(echo "$line") p99)
	max=$(field <(echo "$line") max)
	LAT_ROWS+=("$(lat_line "$path" "${med:-?} ms" \
		"${p99:-?} ms" "${max:-?} ms" "$ok")")
}

say "5. traffic through the tunnels"
bulk bulk_direct "direct" "$CLI_SS_DIRECT"
bulk bulk_lossy "2% loss, +10 ms" "$CLI_SS"
latency lat_direct "direct" "$CLI_ECHO_DIRECT"
latency lat_lossy "2% loss, +10 ms" "$CLI_ECHO"

# What the relays really dropped (their stats are written on exit).
stop "$RELAY_SS_PID"
stop "$RELAY_ECHO_PID"
in=0 lost=0
for f in "$WORK/relay_ss.stats" "$WORK/relay_echo.stats"; do
	for d in c2t t2c; do
		v=$(field "$f" ${d}_in)
		in=$((in + ${v:-0}))
		v=$(field "$f" ${d}_lost)
		lost=$((lost + ${v:-0}))
	done
done

# SIGTERM: each daemon resets its sessions, logs its statistics, exits 0.
stopped_ok=yes
for d in cli_ss cli_echo cli_ss_direct cli_echo_direct srv_ss srv_echo; do
	stop "${DPID[$d]}" || stopped_ok=no
done
[ "$stopped_ok" = yes ] || FAILS=$((FAILS + 1))
# "... datagrams: rx N (N B), tx N (N B); dropped: bad tag N, ..."
srv_stats=$(grep -h 'datagrams: rx' "$WORK/srv_ss.log" | tail -n 1 |
	sed 's/^.*datagrams: //')

say ""
say "== summary ======================================================"
say "Path: loadgen -> TCP -> client -> UDP, KCP, xchacha20poly1305"
say "      -> server -> TCP -> test service, all on this machine."
say "  direct           the client sends straight to the server"
say "  2% loss, +10 ms  through a relay that drops 2% of the datagrams and"
say "                   delays each by 10 ms, in each direction"
say ""
say "Bulk: $CONNS connections at once, each sends and receives 1 B..$MAX_MIB MiB"
say "(random sizes); every byte checked with SHA-256 in both directions."
bulk_line path "data up + down" time speed "SHA-256 ok"
for r in "${BULK_ROWS[@]}"; do say "$r"; done
say ""
say "Latency: $LAT_CONNS connections one after another, each: open, send"
say "1 byte, wait for the echo. One round trip when nothing is lost: no"
say "handshake comes before the data. When the first datagram or its echo"
say "is lost, that connection waits for a retransmission timeout (200 ms"
say "before any round trip was measured): the lossy path's p99 and max."
lat_line path median p99 max "echo ok"
for r in "${LAT_ROWS[@]}"; do say "$r"; done
say ""
if [ "$in" -gt 0 ]; then
	awk -v i="$in" -v l="$lost" 'BEGIN { printf "The relays dropped " \
		"%d of %d datagrams (%.1f%%); KCP resent them.\n", l, i,
		100 * l / i }'
fi
say "Sinksource server's datagrams: $srv_stats" | fold -s -w 72 |
	sed 's/ *$//; 2,$s/^/  /'
say "Daemons stopped cleanly on SIGTERM: $stopped_ok."
say "Speeds are this machine's: client, server, relay and load generator"
say "share its CPUs. Over a real link, the link is usually the limit."
say ""
if [ $FAILS -eq 0 ]; then
	say "demo: OK, all transfers verified"
	exit 0
fi
say "demo: FAILED ($FAILS check(s)); last log lines:"
for d in srv_ss srv_echo cli_ss cli_echo cli_ss_direct cli_echo_direct; do
	say "--- $d.log"
	tail -n 5 "$WORK/$d.log"
done
exit 1
