#!/usr/bin/env bash
# test_tools_selftest.sh BUILD_DIR — proves the e2e instruments work
# together without the daemon: loadgen against upstream over plain TCP, and
# UDP echoes through udprelay's impairments. Every background process is
# killed on every exit path; the whole run is bounded by timeout(1).
set -uo pipefail

if [ -z "${SELFTEST_BOUNDED:-}" ]; then
	export SELFTEST_BOUNDED=1
	exec timeout -k 5 240 bash "$0" "$@"
fi

BUILD=${1:?usage: $0 BUILD_DIR}
T=$BUILD/tests
for tool in upstream loadgen udprelay; do
	[ -x "$T/$tool" ] || { echo "FAIL: $T/$tool not built"; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tools-selftest.XXXXXX")
PIDS=()
FAILS=0

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted"; exit 1' INT TERM

fail() {
	echo "  FAIL: $*"
	FAILS=$((FAILS + 1))
}
ok() { echo "  ok: $*"; }

# start NAME ARGS...: runs tool NAME in the background with stdout in
# $WORK/NAME.out, then sets PORT from its "listening on PORT" line and
# PID to its process id.
start() {
	local name=$1 tool=$2
	shift 2
	: >"$WORK/$name.out" # exists before the poll below reads it
	"$T/$tool" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	PID=$!
	PIDS+=("$PID")
	PORT=
	for _ in $(seq 100); do
		PORT=$(awk '/^listening on /{print $3; exit}' "$WORK/$name.out")
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "FAIL: $name did not start:"
	cat "$WORK/$name.err"
	exit 1
}

# stop PID: SIGTERM, then wait; returns the tool's exit status. The pid
# leaves PIDS so that cleanup never signals a reused pid.
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

# field FILE NAME: the number after NAME in a stats line.
field() {
	awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$1"
}

# run NAME CMD...: runs a bounded foreground command, output in
# $WORK/NAME.log (and echoed), status in RC.
run() {
	local name=$1
	shift
	timeout -k 2 90 "$@" >"$WORK/$name.log" 2>&1
	RC=$?
	sed 's/^/    /' "$WORK/$name.log"
}

LG=$T/loadgen

echo "== help"
for tool in upstream loadgen udprelay; do
	"$T/$tool" --help >/dev/null && ok "$tool --help" || fail "$tool --help"
done

echo "== sinksource: 20 connections, 0..1M each way"
start ss upstream --listen 127.0.0.1:0 --mode sinksource --timeout 200 \
	--stats-file "$WORK/ss.stats"
SS=$PORT
SSPID=$PID
run ss20 "$LG" --connect 127.0.0.1:$SS --conns 20 --min-size 0 \
	--max-size 1M --seed 7 --timeout 60
[ $RC -eq 0 ] && grep -q "^loadgen: 20/20 ok" "$WORK/ss20.log" &&
	ok "20/20 verified" || fail "sinksource 20 conns (rc $RC)"

echo "== sinksource: 1000 connections at once, 0..4K"
run ss1000 "$LG" --connect 127.0.0.1:$SS --conns 1000 --parallel 1000 \
	--max-size 4K --timeout 60
[ $RC -eq 0 ] && ok "1000 concurrent" || fail "1000 conns (rc $RC)"

echo "== bulk"
run bulk "$LG" --connect 127.0.0.1:$SS --mode bulk --up-size 32M \
	--timeout 60
[ $RC -eq 0 ] && ok bulk || fail "bulk (rc $RC)"
stop "$SSPID"
RC=$?
conns=$(field "$WORK/ss.stats" conns)
errors=$(field "$WORK/ss.stats" errors)
[ $RC -eq 0 ] && [ "$conns" = 1021 ] && [ "$errors" = 0 ] &&
	ok "upstream stats: $(cat "$WORK/ss.stats")" ||
	fail "upstream rc $RC stats: $(cat "$WORK/ss.stats")"

echo "== the verifier catches a bad server"
start cnt upstream --listen 127.0.0.1:0 --mode count --timeout 200 \
	--stats-file "$WORK/cnt.stats"
CNT=$PORT
CNTPID=$PID
run bad "$LG" --connect 127.0.0.1:$CNT --conns 3 --max-size 10K \
	--timeout 20
[ $RC -eq 1 ] && grep -q "FAIL" "$WORK/bad.log" &&
	ok "count server rejected" || fail "bad server not detected (rc $RC)"
run rst "$LG" --connect 127.0.0.1:$CNT --mode reset --up-size 5000
[ $RC -eq 0 ] && ok "loadgen reset" || fail "loadgen reset (rc $RC)"
stop "$CNTPID"
[ "$(field "$WORK/cnt.stats" conns)" = 4 ] &&
	[ "$(field "$WORK/cnt.stats" bytes_in)" -ge 5000 ] &&
	ok "count: $(cat "$WORK/cnt.stats")" ||
	fail "count stats: $(cat "$WORK/cnt.stats")"

echo "== latency against echo (IPv6)"
start echo upstream --listen "[::1]:0" --mode echo --timeout 200
ECHO=$PORT
ECHOPID=$PID
run lat "$LG" --connect "[::1]:$ECHO" --mode latency --conns 100 \
	--timeout 30
[ $RC -eq 0 ] && grep -q "^open latency: median" "$WORK/lat.log" &&
	ok latency || fail "latency (rc $RC)"
run inter "$LG" --connect "[::1]:$ECHO" --mode interactive --interval 10 \
	--duration 0.5 --timeout 10
[ $RC -eq 0 ] && grep -q "^interactive: count 50 median [0-9.]* p95 [0-9.]* max" \
	"$WORK/inter.log" && ok "interactive: 50 echoed requests" ||
	fail "interactive (rc $RC)"
run noclose "$LG" --connect "[::1]:$ECHO" --mode expectclose --timeout 0.5
[ $RC -eq 2 ] && ok "expectclose times out on an open echo" ||
	fail "expectclose vs echo: rc $RC, want 2"
stop "$ECHOPID"

echo "== halfclose against replyafter"
start ra upstream --listen 127.0.0.1:0 --mode replyafter --reply-size 1M \
	--timeout 200
RA=$PORT
run half "$LG" --connect 127.0.0.1:$RA --mode halfclose --up-size 100K \
	--reply-size 1M --timeout 30
[ $RC -eq 0 ] && ok halfclose || fail "halfclose (rc $RC)"
run halfbad "$LG" --connect 127.0.0.1:$RA --mode halfclose \
	--reply-size 2M --timeout 30
[ $RC -eq 1 ] && ok "short reply detected" || fail "halfclose size check (rc $RC)"
stop "$PID"

echo "== expectclose against reset"
start rs upstream --listen 127.0.0.1:0 --mode reset --timeout 200
run rs "$LG" --connect 127.0.0.1:$PORT --mode expectclose --timeout 5
[ $RC -eq 0 ] && grep -q "reset" "$WORK/rs.log" && ok "reset seen" ||
	fail "expectclose (rc $RC)"
run irs "$LG" --connect 127.0.0.1:$PORT --mode interactive --interval 10 \
	--duration 0.3 --timeout 5
[ $RC -eq 1 ] && grep -q "interactive FAIL" "$WORK/irs.log" &&
	ok "interactive: a peer that resets is a failure" ||
	fail "interactive vs reset (rc $RC)"
stop "$PID"

echo "== timeouts exit non-zero"
run uto "$T/upstream" --listen 127.0.0.1:0 --mode echo --timeout 0.2
[ $RC -eq 2 ] && ok "upstream --timeout" || fail "upstream timeout rc $RC"
run rto "$T/udprelay" --listen 127.0.0.1:0 --target 127.0.0.1:9 \
	--timeout 0.2
[ $RC -eq 2 ] && ok "udprelay --timeout" || fail "udprelay timeout rc $RC"

echo "== udprelay"
start uecho upstream --listen 127.0.0.1:0 --mode udpecho --timeout 200 \
	--stats-file "$WORK/uecho.stats"
UE=$PORT
UEPID=$PID

# relay NAME ARGS...: a relay in front of the UDP echo; loadgen sends
# 2000 datagrams through it; the relay's stats land in $WORK/NAME.stats.
relay() {
	local name=$1
	shift
	start "$name" udprelay --listen 127.0.0.1:0 --target 127.0.0.1:$UE \
		--timeout 200 --stats-file "$WORK/$name.stats" "$@"
	local rpid=$PID
	run "$name.lg" "$LG" --mode udp --connect 127.0.0.1:$PORT \
		--conns 2000 --up-size 200 --timeout 30
	LGRC=$RC
	stop "$rpid"
	RELAYRC=$?
	sed 's/^/    /' "$WORK/$name.stats"
}

# between V LO HI
between() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

relay loss --loss 0.1 --seed 3
out=$(field "$WORK/loss.stats" c2t_out)
back=$(field "$WORK/loss.stats" t2c_out)
[ $LGRC -eq 0 ] && [ $RELAYRC -eq 0 ] &&
	[ "$(field "$WORK/loss.stats" c2t_in)" = 2000 ] &&
	between "$out" 1700 1900 && between "$back" 1500 1720 &&
	ok "10% loss: $out of 2000 forwarded, $back returned" ||
	fail "loss: lg rc $LGRC relay rc $RELAYRC out $out back $back"

relay mix --dup 0.1 --reorder 0.1 --delay-ms 5 --jitter-ms 2 --seed 4
[ $LGRC -eq 0 ] && grep -q "received 2000 (100.0%)" "$WORK/mix.lg.log" &&
	[ "$(field "$WORK/mix.stats" c2t_dup)" -gt 100 ] &&
	[ "$(field "$WORK/mix.stats" c2t_reord)" -gt 100 ] &&
	ok "dup+reorder+delay: all 2000 came back" ||
	fail "dup/reorder/delay (lg rc $LGRC)"

relay rate --rate-mbit 8 --queue-kb 16
qd=$(field "$WORK/rate.stats" c2t_qdrop)
[ $RELAYRC -eq 0 ] && [ "$qd" -gt 0 ] && ok "rate limit drops ($qd)" ||
	fail "rate limit: qdrop $qd"

relay rebind --rebind-after 100 --capture "$WORK/cap.bin"
rb=$(field "$WORK/rebind.stats" rebinds)
[ $LGRC -eq 0 ] && between "$rb" 19 19 && ok "19 rebinds" ||
	fail "rebind: lg rc $LGRC rebinds $rb"
size=$(stat -c %s "$WORK/cap.bin")
[ "$size" = $((2000 * (12 + 200))) ] && ok "capture holds 2000 records" ||
	fail "capture size $size"
run replay "$T/udprelay" --replay "$WORK/cap.bin" --target 127.0.0.1:$UE \
	--replay-speed 0 --timeout 30
[ $RC -eq 0 ] && grep -q "replayed 2000 datagrams" "$WORK/replay.log" &&
	ok replay || fail "replay rc $RC"
stop "$UEPID"
din=$(field "$WORK/uecho.stats" dgrams_in)
[ -n "$din" ] && [ "$din" -ge 2000 ] && ok "udp echo: $(cat "$WORK/uecho.stats")" ||
	fail "udp echo stats: $(cat "$WORK/uecho.stats")"

if [ $FAILS -eq 0 ]; then
	echo "PASS: tools selftest"
	exit 0
fi
echo "FAIL: tools selftest ($FAILS failures)"
exit 1
