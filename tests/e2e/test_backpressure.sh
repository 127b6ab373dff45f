#!/usr/bin/env bash
# A reader that never reads must not grow the daemons: the application
# writes through an echo upstream and never reads the echo back, so
# everything stalls and memory stays within the per-session bound
# (docs/ARCHITECTURE.md: about 4.5 MiB per session at the defaults).
set -euo pipefail
BUILD=$(cd "$1" && pwd)
K=$BUILD/kcptun-libev
T=$(mktemp -d)
pids=()
cleanup() {
	exec 3>&- 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
# Keep ASan's quarantine small so RSS reflects what the daemon holds.
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:quarantine_size_mb=1:detect_leaks=0

"$BUILD/tests/upstream" --listen 127.0.0.1:0 --mode echo --timeout 120 \
	--stats-file "$T/up.stats" >"$T/up.out" 2>&1 &
UPID=$!
pids+=($UPID)
for _ in $(seq 50); do grep -q "listening on" "$T/up.out" && break; sleep 0.1; done
UP=$(sed -n 's/.*listening on \([0-9]*\).*/\1/p' "$T/up.out")
[ -n "$UP" ] || fail "upstream did not start"
P1=$((20000 + RANDOM % 20000))
P2=$((P1 + 1))
PSK=$("$K" --genpsk xchacha20poly1305_ietf)
cat >"$T/s.json" <<J
{ "udp_bind": "127.0.0.1:$P1", "connect": "127.0.0.1:$UP",
  "method": "xchacha20poly1305_ietf", "psk": "$PSK", "loglevel": 1 }
J
cat >"$T/c.json" <<J
{ "listen": "127.0.0.1:$P2", "udp_connect": "127.0.0.1:$P1",
  "method": "xchacha20poly1305_ietf", "psk": "$PSK", "loglevel": 1 }
J
"$K" -c "$T/s.json" 2>"$T/s.log" &
SPID=$!
pids+=($SPID)
"$K" -c "$T/c.json" 2>"$T/c.log" &
CPID=$!
pids+=($CPID)
for _ in $(seq 50); do ss -Hltn "sport = :$P2" | grep -q . && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$1/status"; }
base_c=$(rss $CPID)
base_s=$(rss $SPID)

# Write up to 512 MiB and never read: the writer blocks once every buffer
# on the way is full.
exec 3<>"/dev/tcp/127.0.0.1/$P2"
timeout 15 head -c 512M /dev/zero >&3 &
WPID=$!
pids+=($WPID)
sleep 6
mid_c=$(rss $CPID)
mid_s=$(rss $SPID)
sleep 4
end_c=$(rss $CPID)
end_s=$(rss $SPID)
kill -0 $WPID 2>/dev/null || fail "the writer finished: nothing pushed back"
kill "$UPID"
wait "$UPID" 2>/dev/null || true
bytes=$(sed -n 's/.*bytes_in \([0-9]*\).*/\1/p' "$T/up.stats")
echo "rss MiB client: $base_c -> $mid_c -> $end_c, server: $base_s -> $mid_s -> $end_s;" \
	"upstream received $((bytes / 1048576)) MiB of 512"
[ "$bytes" -lt $((256 << 20)) ] || fail "upstream took $bytes bytes: no backpressure"
for pair in "$base_c $end_c client" "$base_s $end_s server"; do
	set -- $pair
	[ $(($2 - $1)) -le 12 ] || fail "$3 grew by $(($2 - $1)) MiB (bound: one session, ~4.5 MiB)"
done
[ $((end_c - mid_c)) -le 2 ] || fail "client still growing: $mid_c -> $end_c MiB"
[ $((end_s - mid_s)) -le 2 ] || fail "server still growing: $mid_s -> $end_s MiB"
echo "PASS: a stalled reader holds the daemons within their bound"
