#!/usr/bin/env bash
# test_lab.sh BUILD_DIR — the benchmark lab (contrib/bench/lab.sh around
# tests/tools/linkem) does what it is asked: a 20 Mbit/s, 20 ms one-way,
# 2% loss link measures within ±1.5 points of loss, ±10% of RTT and ±15%
# of rate; `up` over a running lab replaces it; a signal during `run`
# and `down` leave no namespace, no linkem and no helper behind.
# Exit 77 (skipped) without root, /dev/net/tun or iproute2.
set -uo pipefail
# shellcheck disable=SC2317 # functions called through check()

if [ -z "${LAB_TEST_BOUNDED:-}" ]; then
	export LAB_TEST_BOUNDED=1
	exec timeout -k 5 60 bash "$0" "$@"
fi

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
for tool in linkem loadgen upstream; do
	[ -x "$BUILD/tests/$tool" ] || {
		echo "FAIL: $BUILD/tests/$tool not built"
		exit 1
	}
done
export LAB_BUILD=$BUILD
# Our own lab name: a lab someone left up under the default name stays.
export LAB_NAME=klt$$
export LAB_DIR=/run/kcptun-lab/$LAB_NAME
# shellcheck source=/dev/null
source "$SRC/contrib/bench/lab.sh"
echo "== test_lab (lab $LAB_NAME)"
lab_require_root || exit 77

FAILS=0
trap 'lab_down' EXIT
trap 'echo "FAIL: interrupted (signal or overall timeout)"; exit 1' INT TERM

check() {
	local what=$1
	shift
	if "$@"; then
		echo "  ok: $what"
	else
		echo "  FAIL: $what"
		FAILS=$((FAILS + 1))
	fi
}
# within VALUE WANT TOLERANCE: |VALUE - WANT| <= TOLERANCE
within() {
	[ -n "$1" ] && awk -v v="$1" -v w="$2" -v t="$3" \
		'BEGIN { d = v - w; exit !(d <= t && -d <= t) }'
}
# Nothing of lab $LAB_NAME left: namespaces, linkem, its directory.
lab_gone() {
	[ ! -e "/run/netns/$LAB_A" ] && [ ! -e "/run/netns/$LAB_B" ] &&
		[ ! -e "$LAB_DIR" ] && ! pgrep -f "linkem --a $LAB_A:" >/dev/null
}

# 1. up twice: the second replaces the first (idempotent-safe).
lab_up --rate 50 --delay 5 >/dev/null 2>&1
first=$(cat "$LAB_DIR/linkem.pid" 2>/dev/null)
TRACE=$(mktemp "${TMPDIR:-/tmp}/lab-trace.XXXXXX")
trap 'lab_down; rm -f "$TRACE"' EXIT
lab_up --rate 20 --delay 20 --loss 0.02 --trace "$TRACE" 2>/dev/null
check "lab up" lab__need_up
check "second up stopped the first linkem" \
	test -n "$first" -a ! -e "/proc/$first"

# 2. measured vs asked.
lab_check --quick
check "loss ${LAB_LOSS_PCT:-?}% within 1.5 points of 2%" \
	within "$LAB_LOSS_PCT" 2 1.5
check "rtt ${LAB_RTT_MS:-?} ms within 10% of 40 ms" \
	within "$LAB_RTT_MS" 40 4
check "rate ${LAB_RATE_MBIT:-?} Mbit/s within 15% of 20" \
	within "$LAB_RATE_MBIT" 20 3
stats=$(lab_stats)
check "linkem counts no overflow or write errors" \
	test -n "$stats" -a -z "$(echo "$stats" |
		awk '{ for (i = 2; i < NF; i += 2)
			if (($i == "overflow" || $i == "werr") && $(i + 1) != 0)
				print }')"

# linkem --trace: 100 ms lines; during check's flood at 1.3 x the rate
# a>b delivers the rate (the median busy interval: one interval after
# linkem lost the CPU for a moment carries a burst) and the queue
# overflows.
lines=$(grep -vc '^#' "$TRACE")
qd=$(awk '!/^#/ { q += $6 } END { print q + 0 }' "$TRACE")
med=$(awk '!/^#/ && $2 > 10 { print $2 }' "$TRACE" | sort -n |
	awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
check "trace: $lines lines, a>b median $med Mbit/s within 15% of 20, $qd queue drops" \
	test "$lines" -ge 20 -a "$qd" -gt 0 -a -n "$(within "$med" 20 3 && echo y)"

# 3. down removes everything, helpers included.
# (in a subshell, so that bash does not announce the kill)
(lab_exec b sleep 300) 2>/dev/null &
for _ in $(seq 40); do
	sleeper=$(ip netns pids "$LAB_B")
	[ -n "$sleeper" ] && break
	sleep 0.05
done
lab_down
check "down left nothing" lab_gone
check "down stopped what ran in the lab" \
	test -n "$sleeper" -a ! -e "/proc/${sleeper:-0}"
wait

# 4. a signal during `run` still takes the lab down.
bash "$SRC/contrib/bench/lab.sh" run --delay 1 -- sleep 300 \
	>/dev/null 2>&1 &
runner=$!
for _ in $(seq 100); do
	[ -e "$LAB_DIR/linkem.pid" ] && [ -e "/run/netns/$LAB_B" ] && break
	sleep 0.05
done
sleep 0.3
kill -TERM "$runner"
wait "$runner"
check "run exits 143 on SIGTERM" test $? -eq 143
check "SIGTERM during run left nothing" lab_gone

# 5. without root: a clear message and exit 77.
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	msg=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
		bash "$SRC/contrib/bench/lab.sh" up 2>&1)
	rc=$?
	check "non-root up exits 77 with a message" \
		test $rc -eq 77 -a "$msg" = "the lab needs root (network namespaces)"
fi

if [ $FAILS -eq 0 ]; then
	echo "PASS: test_lab"
	exit 0
fi
echo "FAIL: test_lab ($FAILS checks)"
exit 1
