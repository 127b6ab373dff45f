#!/bin/bash
# trace.sh BUILD RATE_MBIT ONE_WAY_MS LOSS [SECS] : one upload through our
# tunnel over the lab's emulated link, traced. Prints, per second from the
# lab's start (the upload starts ~1.3 s in), the link's delivery in Mbit/s
# (IP bytes), its mean queueing delay and queue-full drops, then the
# upload's result and the client's per-conversation kcp line (timer and
# fast resends, needless ones, congestion signals answered). The 100 ms
# rows stay in $TRACE_OUT.trace when TRACE_OUT is set. As root.
# Example: the 2%/300 ms cell's startup:  trace.sh build 100 150 0.02
# JITTER=ms: each datagram's delay varies by up to +-ms, reordering them.
set -u
B=$(cd "${1:?usage: $0 BUILD RATE_MBIT ONE_WAY_MS LOSS [SECS]}" && pwd) || exit 2
RATE=${2:?rate}
DELAY=${3:?one-way delay}
LOSS=${4:?loss}
SECS=${5:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
export LAB_NAME=${LAB_NAME:-kt} LAB_BUILD=$B
W=$(mktemp -d "${TMPDIR:-/tmp}/kcptun-trace.XXXXXX") || exit 1
OUTP=${TRACE_OUT:-$W/t}
lab() { timeout -k 5 $((SECS + 60)) bash "$HERE/lab.sh" "$@"; }
cleanup() {
	lab down >/dev/null 2>&1
	[ -n "${TRACE_KEEP:-}" ] && cp "$W"/*.err "$W/lg" "$TRACE_KEEP/" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

PSK=$("$B/kcptun-libev" --genpsk xchacha20poly1305_ietf) || exit 1
JARGS=()
[ "${JITTER:-0}" != 0 ] && JARGS=(--jitter "$JITTER" --reorder-ok)
lab up --rate "$RATE" --delay "$DELAY" --loss "$LOSS" "${JARGS[@]}" \
	--trace "$OUTP.trace" >/dev/null || exit 1
conf() { # FILE BODY: the sample configs' kcp settings, loglevel 3
	printf '{%s, "method": "xchacha20poly1305_ietf", "psk": "%s", "loglevel": 3}\n' \
		"$2" "$PSK" >"$1"
}
conf "$W/s.json" '"udp_bind": "198.18.0.2:6000", "connect": "198.18.0.2:5001"'
conf "$W/c.json" '"listen": "198.18.0.1:6001", "udp_connect": "198.18.0.2:6000"'
T=$((SECS + 20))
lab exec b timeout "$T" "$B/tests/upstream" --listen 198.18.0.2:5001 \
	--mode sinksource >/dev/null 2>&1 &
lab exec b timeout "$T" "$B/kcptun-libev" -c "$W/s.json" 2>"$W/s.err" &
lab exec a timeout "$T" "$B/kcptun-libev" -c "$W/c.json" 2>"$W/c.err" &
sleep 1
lab exec a "$B/tests/loadgen" --connect 198.18.0.1:6001 --mode bulk \
	--up-size 4G --timeout "$SECS" >"$W/lg" 2>&1
sleep 2
# The daemons log their counters when they stop: before the link goes,
# or the client's timer resends into the removed link would count too
# (they once looked like 1,500 timeouts in 5 s).
pkill -TERM -f "kcptun-libev -c $W/c.json"
pkill -TERM -f "kcptun-libev -c $W/s.json"
sleep 1
# datagrams the kernel dropped for a full socket buffer, per side
for side in a b; do
	lab exec "$side" cat /proc/net/snmp 2>/dev/null | awk -v s="$side" '
		$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) f[i] = $i; h = 1; next }
		$1 == "Udp:" { for (i = 2; i <= NF; i++)
			if (f[i] == "RcvbufErrors" || f[i] == "SndbufErrors" || f[i] == "InErrors")
				printf "%s %s %s  ", s, f[i], $i }
		END { print "" }' >>"$W/udp"
done
lab down >/dev/null 2>&1
wait
# columns: t_s ab_mbit ab_qbytes ab_qdelay_ms ab_qmax_ms ab_qdrop ...
awk 'NR > 3 {
	t = int($1); r[t] += $2; q[t] += $4; d[t] += $6; n[t]++
} END {
	for (i in r)
		printf "%d s: %.1f Mbit/s, queue %.0f ms, %d drops\n",
		    i, r[i] / n[i], q[i] / n[i], d[i]
}' "$OUTP.trace" | sort -n
tail -n 1 "$W/lg"
grep -h 'kcp: sent' "$W/c.err" | sed 's/.*kcp: /client kcp: /'
grep -h 'kcp: sent' "$W/s.err" | sed 's/.*kcp: /server kcp: /'
grep -h 'datagrams:' "$W/c.err" "$W/s.err" | sed 's/.*datagrams:/datagrams:/'
echo "udp: $(tr -s '\n' ' ' <"$W/udp")"
