# lib.sh — shared helpers for the end-to-end tests (sourced, not run).
#
#   source "$(dirname "$0")/lib.sh"
#   e2e_init "$@"            # BUILD_DIR is $1; sets D, T, WORK, traps
#   start_upstream up sinksource      # -> PORT, PID
#   start_server srv "$PORT" "$CRYPTO"  # -> UDPPORT, PID
#   start_client cli "$UDPPORT" "$CRYPTO" # -> PORT, PID
#   run lg "$T/loadgen" --connect 127.0.0.1:$PORT ...  # -> RC, $WORK/lg.log
#   check "what" test-expression...
#   e2e_finish                # stops everything, prints PASS/FAIL, exits
#
# Every background process is registered and killed on every exit path;
# daemons are stopped with SIGTERM and must exit 0 (under ASan that also
# catches leaks and crashes). Ports are random in 20000..60000 and checked
# free with ss; a daemon that loses a port race is restarted on another.

set -uo pipefail

# e2e_init BUILD_DIR [TOTAL_SECONDS]: bounds the whole script with
# timeout(1) (re-exec), checks the binaries, makes the scratch dir.
e2e_init() {
	if [ -z "${E2E_BOUNDED:-}" ]; then
		export E2E_BOUNDED=1
		exec timeout -k 5 "${E2E_LIMIT:-200}" bash "$0" "$@"
	fi
	BUILD=${1:?usage: $0 BUILD_DIR}
	BUILD=$(cd "$BUILD" && pwd)
	D=$BUILD/kcptun-libev
	T=$BUILD/tests
	local b
	for b in "$D" "$T/upstream" "$T/loadgen" "$T/udprelay"; do
		[ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
	done
	TEST_NAME=$(basename "$0" .sh)
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/e2e-$TEST_NAME.XXXXXX")
	PIDS=()
	NAMES=()
	FAILS=0
	KNOWN=0
	T0=$(date +%s.%N)
	# Leaks at exit fail the daemon's exit status; keep tool output sane.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	trap e2e_cleanup EXIT
	trap 'echo "FAIL: $TEST_NAME interrupted (signal or overall timeout)"; exit 1' INT TERM
	PSK=$("$D" --genpsk xchacha20poly1305_ietf)
	CRYPTO="\"method\": \"xchacha20poly1305_ietf\", \"psk\": \"$PSK\""
	PLAIN='"method": "none"'
	echo "== $TEST_NAME (scratch $WORK)"
}

# Kills whatever is still registered. Daemons still running here were not
# stopped by the test (an early exit): they get SIGTERM and their status is
# reported, but the test has already failed by then.
e2e_cleanup() {
	local i pid
	for i in "${!PIDS[@]}"; do
		pid=${PIDS[$i]}
		kill -CONT "$pid" 2>/dev/null
		kill -TERM "$pid" 2>/dev/null
	done
	for i in "${!PIDS[@]}"; do
		pid=${PIDS[$i]}
		# bounded wait: a hung process gets SIGKILL after 5 s
		local n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	PIDS=()
	if [ -n "${E2E_KEEP:-}" ]; then
		echo "(kept $WORK)"
	else
		rm -rf "$WORK"
	fi
}

elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}'; }

fail() {
	echo "  FAIL: $*"
	FAILS=$((FAILS + 1))
}
ok() { echo "  ok: $*"; }
# known_fail MSG: a check that fails because of a daemon bug the lead
# must fix; it still fails the test.
known_fail() {
	echo "  FAIL (KNOWN DAEMON BUG): $*"
	FAILS=$((FAILS + 1))
	KNOWN=$((KNOWN + 1))
}

# check DESC [!] CMD...: runs CMD (a test or function); ok or fail.
check() {
	local desc=$1 neg=
	shift
	if [ "$1" = "!" ]; then
		neg=1
		shift
	fi
	if "$@"; then
		[ -z "$neg" ] && ok "$desc" || fail "$desc"
	else
		[ -n "$neg" ] && ok "$desc" || fail "$desc"
	fi
}

# die MSG: fatal setup problem; cleanup runs from the EXIT trap.
die() {
	echo "  FAIL: $*"
	echo "FAIL: $TEST_NAME ($(elapsed) s)"
	exit 1
}

e2e_finish() {
	if [ $FAILS -eq 0 ]; then
		echo "PASS: $TEST_NAME ($(elapsed) s)"
		exit 0
	fi
	if [ $KNOWN -gt 0 ]; then
		echo "FAIL: $TEST_NAME: $FAILS failures, $KNOWN of them known daemon bugs ($(elapsed) s)"
	else
		echo "FAIL: $TEST_NAME: $FAILS failures ($(elapsed) s)"
	fi
	exit 1
}

# between V LO HI (numbers may be fractional)
between() {
	[ -n "$1" ] && awk -v v="$1" -v lo="$2" -v hi="$3" \
		'BEGIN{exit !(v + 0 >= lo + 0 && v + 0 <= hi + 0)}'
}
# lt A B: A < B (fractional)
lt() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN{exit !(a + 0 < b + 0)}'; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b - a}'; }

# port_free P: nothing listens on TCP or UDP port P (any address).
port_free() {
	[ -z "$(ss -Hantu "( sport = :$1 )" 2>/dev/null)" ]
}

# free_port: prints a random port in 20000..60000 that is free now.
free_port() {
	local p i
	for i in $(seq 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# register NAME PID
register() {
	PIDS+=("$2")
	NAMES+=("$1")
}
unregister() {
	local i keep=() keepn=()
	for i in "${!PIDS[@]}"; do
		if [ "${PIDS[$i]}" != "$1" ]; then
			keep+=("${PIDS[$i]}")
			keepn+=("${NAMES[$i]}")
		fi
	done
	PIDS=("${keep[@]}")
	NAMES=("${keepn[@]}")
}

# start_tool NAME TOOL ARGS...: a tool in the background, stdout in
# $WORK/NAME.out, stderr in $WORK/NAME.err; waits for its
# "listening on PORT" line. Sets PORT and PID.
start_tool() {
	local name=$1 tool=$2
	shift 2
	: >"$WORK/$name.out"
	"$T/$tool" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	PID=$!
	register "$name" "$PID"
	PORT=
	local i
	for i in $(seq 200); do
		PORT=$(awk '/^listening on /{print $3; exit}' "$WORK/$name.out")
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$WORK/$name.err"
	die "$name ($tool) did not start"
}

# start_upstream NAME MODE [ARGS...] (on 127.0.0.1 unless UP_HOST is set)
start_upstream() {
	local name=$1 mode=$2
	shift 2
	start_tool "$name" upstream --listen "$(hostport "${UP_HOST:-127.0.0.1}" 0)" \
		--mode "$mode" --timeout 250 --stats-file "$WORK/$name.stats" "$@"
}

# start_relay NAME TARGET_ADDR [ARGS...]: udprelay listening on HOST:0.
start_relay() {
	local name=$1 target=$2
	shift 2
	start_tool "$name" udprelay --listen "$(hostport "${RELAY_HOST:-127.0.0.1}" 0)" \
		--target "$target" --timeout 250 --stats-file "$WORK/$name.stats" "$@"
}

# wait_listen PROTO PORT PID: polls ss (bounded, 10 s) until PID's process
# has the port open; PROTO is t (TCP listen) or u (UDP).
wait_listen() {
	local proto=$1 port=$2 pid=$3 i
	for i in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || return 1
		if ss -Hlnp$proto "( sport = :$port )" 2>/dev/null |
			grep -q "pid=$pid,"; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# start_daemon NAME CONF PROTO PORT: runs the daemon with CONF, stderr in
# $WORK/NAME.log (appended: restarts keep one log); waits until it has PORT
# open. Returns 1 if it died (e.g. the port was taken meanwhile).
start_daemon() {
	local name=$1 conf=$2 proto=$3 port=$4
	"$D" -c "$conf" 2>>"$WORK/$name.log" &
	PID=$!
	register "$name" "$PID"
	if wait_listen "$proto" "$port" "$PID"; then
		return 0
	fi
	kill -KILL "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	unregister "$PID"
	return 1
}

# conf_server FILE UDP_BIND CONNECT EXTRA_JSON
conf_server() {
	cat >"$1" <<EOF
{
	"udp_bind": "$2",
	"connect": "$3",
	"loglevel": ${LOGLEVEL:-3}${4:+,
	$4}
}
EOF
}
# conf_client FILE LISTEN UDP_CONNECT EXTRA_JSON
conf_client() {
	cat >"$1" <<EOF
{
	"listen": "$2",
	"udp_connect": "$3",
	"loglevel": ${LOGLEVEL:-3}${4:+,
	$4}
}
EOF
}

# hostport HOST PORT: "h:p", or "[h]:p" for IPv6
hostport() {
	case $1 in
	*:*) echo "[$1]:$2" ;;
	*) echo "$1:$2" ;;
	esac
}

# start_server NAME UPSTREAM_PORT EXTRA_JSON [UDP_PORT]: server daemon on
# HOST (127.0.0.1 unless DHOST is set), forwarding to UPSTREAM_PORT. Sets
# UDPPORT, PID and $WORK/NAME.json. With UDP_PORT given (a restart) it
# uses exactly that port.
start_server() {
	local name=$1 up=$2 extra=$3 fixed=${4:-} h=${DHOST:-127.0.0.1} i
	for i in 1 2 3 4 5; do
		UDPPORT=${fixed:-$(free_port)}
		conf_server "$WORK/$name.json" "$(hostport "$h" "$UDPPORT")" \
			"$(hostport "$h" "$up")" "$extra"
		start_daemon "$name" "$WORK/$name.json" u "$UDPPORT" && return 0
		[ -n "$fixed" ] && break
	done
	tail -5 "$WORK/$name.log"
	die "server $name did not start"
}

# start_client NAME UDP_PORT EXTRA_JSON [LISTEN_PORT]: client daemon
# listening on a free TCP port (sets PORT, PID), sending to UDP_PORT.
start_client() {
	local name=$1 udp=$2 extra=$3 fixed=${4:-} h=${DHOST:-127.0.0.1} i
	for i in 1 2 3 4 5; do
		PORT=${fixed:-$(free_port)}
		conf_client "$WORK/$name.json" "$(hostport "$h" "$PORT")" \
			"$(hostport "$h" "$udp")" "$extra"
		start_daemon "$name" "$WORK/$name.json" t "$PORT" && return 0
		[ -n "$fixed" ] && break
	done
	tail -5 "$WORK/$name.log"
	die "client $name did not start"
}

# stop_daemon NAME PID [LIMIT_S]: SIGTERM; it must exit 0 within LIMIT_S
# (default 10). Sets STOP_RC and STOP_S (seconds it took). Returns 0 if
# it exited 0 in time.
stop_daemon() {
	local name=$1 pid=$2 limit=${3:-10} t n=0
	t=$(now)
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null &&
		[ $n -lt $((limit * 20)) ]; do
		sleep 0.05
		n=$((n + 1))
	done
	STOP_S=$(since "$t")
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		unregister "$pid"
		STOP_RC=timeout
		fail "$name did not exit within $limit s of SIGTERM"
		return 1
	fi
	wait "$pid"
	STOP_RC=$?
	unregister "$pid"
	if [ "$STOP_RC" != 0 ]; then
		fail "$name exited $STOP_RC after SIGTERM"
		grep -E -m 20 'ERROR|Sanitizer|leak|runtime error' \
			"$WORK/$name.log" | sed 's/^/    /'
		return 1
	fi
	ok "$name exited 0 on SIGTERM ($STOP_S s)"
	return 0
}

# kill9 PID: SIGKILL, reap, unregister (for crash tests).
kill9() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	unregister "$1"
}

# stop_tool PID: SIGTERM, wait (bounded), returns its status.
stop_tool() {
	local pid=$1 n=0 rc
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	unregister "$pid"
	return $rc
}

# run NAME [-t SECONDS] CMD...: bounded foreground command, output in
# $WORK/NAME.log (also shown, indented); status in RC, seconds in RUN_S.
run() {
	local name=$1 lim=100 t
	shift
	if [ "$1" = -t ]; then
		lim=$2
		shift 2
	fi
	t=$(now)
	timeout -k 2 "$lim" "$@" >"$WORK/$name.log" 2>&1
	RC=$?
	RUN_S=$(since "$t")
	sed 's/^/    | /' "$WORK/$name.log" | head -40
}

# bg NAME CMD...: a bounded background command (e.g. a loadgen that runs
# while the test breaks something); output in $WORK/NAME.log; sets PID.
bg() {
	local name=$1
	shift
	timeout -k 2 200 "$@" >"$WORK/$name.log" 2>&1 &
	PID=$!
	register "$name" "$PID"
}

# wait_bg PID LIMIT_S: waits up to LIMIT_S for a bg command; sets RC
# (124 if it was still running and got killed) and WAIT_S.
wait_bg() {
	local pid=$1 limit=$2 n=0 t
	t=$(now)
	while kill -0 "$pid" 2>/dev/null &&
		[ $n -lt $((limit * 20)) ]; do
		sleep 0.05
		n=$((n + 1))
	done
	WAIT_S=$(since "$t")
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		RC=124
	else
		wait "$pid"
		RC=$?
	fi
	unregister "$pid"
}

# wait_for LIMIT_S CMD...: polls CMD every 50 ms until it succeeds; sets
# WAIT_S. Returns 1 on timeout.
wait_for() {
	local limit=$1 n=0 t
	shift
	t=$(now)
	while ! "$@"; do
		if [ $n -ge $((limit * 20)) ]; then
			WAIT_S=$(since "$t")
			return 1
		fi
		sleep 0.05
		n=$((n + 1))
	done
	WAIT_S=$(since "$t")
	return 0
}

# Counters from the daemon's exit lines.
# sess LOG WORD: N from "sessions: ... N WORD" (live, opened, closed,
# reset, dead, idle, connect) — the last such line in LOG.
sess() {
	grep 'sessions: ' "$1" | tail -1 |
		sed 's/.*sessions: //' | tr ',' '\n' |
		awk -v k="$2" '$2 == k {print $1}'
}
# drop LOG WHAT: N from "dropped: ... WHAT N" (bad tag, replay, stale,
# short, truncated, malformed, unknown session, send queue full,
# replayed dial, wrong source) — the last such line in LOG.
drop() {
	grep 'dropped: ' "$1" | tail -1 | sed 's/.*dropped: //' | tr ',' '\n' |
		awk -v k="$2" '{n = $NF; $NF = ""; sub(/^ +/, ""); sub(/ +$/, "");
			if ($0 == k) print n}'
}
# dgrams LOG rx|tx: datagram count from the last "datagrams:" line
dgrams() {
	grep 'datagrams: ' "$1" | tail -1 |
		sed -n "s/.*$2 \([0-9]*\) .*/\1/p"
}
# field FILE NAME: the number after NAME in a tool's stats line.
field() {
	awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$1"
}
# counters NAME: shows the daemon's exit counters
counters() {
	grep -E 'sessions: |datagrams: ' "$WORK/$1.log" | tail -2 |
		sed "s/^.*\(sessions\|datagrams\)/    $1: \1/"
}
# settled NAME PID: true once every session the daemon opened has ended
# (closed or reset), asked with SIGHUP, which logs the counters. A test
# that checks "0 reset" waits for this before SIGTERM: the close of a
# session whose last acks were lost can still be in flight when the load
# generator has verified its last byte, and shutdown resets what is left.
settled() {
	local log=$WORK/$1.log before after
	before=$(grep -c 'sessions: ' "$log")
	kill -HUP "$2" 2>/dev/null || return 1
	for _ in $(seq 40); do
		after=$(grep -c 'sessions: ' "$log")
		[ "$after" -gt "$before" ] && break
		sleep 0.05
	done
	local opened closed reset
	opened=$(sess "$log" opened)
	closed=$(sess "$log" closed)
	reset=$(sess "$log" reset)
	[ -n "$opened" ] && [ $((closed + reset)) -ge "$opened" ]
}
# count_log NAME REGEX: lines of the daemon log matching REGEX
count_log() {
	grep -c -E "$2" "$WORK/$1.log"
}
