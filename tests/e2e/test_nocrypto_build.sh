#!/usr/bin/env bash
# A build with -DENABLE_CRYPTO=OFF needs no libsodium, runs plaintext, and
# refuses encryption clearly. Builds its own copy (Release, daemon only),
# also with KCPTUN_PORTABLE_IO: the one-datagram-per-syscall path used
# where recvmmsg/sendmmsg do not exist, so that path is tested too.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
NB=$BUILD/nocrypto
T=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

CC=${NOCRYPTO_CC:-cc} cmake -S "$SRC" -B "$NB" -DCMAKE_BUILD_TYPE=Release \
	-DENABLE_CRYPTO=OFF -DBUILD_TESTING=OFF \
	-DCMAKE_C_FLAGS=-DKCPTUN_PORTABLE_IO >/dev/null
cmake --build "$NB" -j2 --target kcptun-libev >/dev/null
K=$NB/kcptun-libev

grep -q "ENABLE_CRYPTO:BOOL=OFF" "$NB/CMakeCache.txt" || fail "crypto not off"
if ldd "$K" | grep -q sodium; then fail "links libsodium"; fi
"$K" --version | grep -q "encryption not built" || fail "--version"
if "$K" --genpsk xchacha20poly1305_ietf >"$T/out" 2>&1; then
	fail "--genpsk succeeded without crypto"
fi
grep -q "ENABLE_CRYPTO=OFF" "$T/out" || fail "--genpsk message: $(cat "$T/out")"
[ -z "$("$K" --list-methods)" ] || fail "--list-methods lists something"

# A config asking for a method fails at start with a clear message.
cat >"$T/enc.json" <<J
{ "udp_bind": "127.0.0.1:1", "connect": "127.0.0.1:2",
  "method": "xchacha20poly1305_ietf",
  "psk": "Ew9dGep7HwyguHBqpVRReEk15ffFodwHm9hsdzEX1fA=" }
J
if timeout 5 "$K" -c "$T/enc.json" >"$T/enc.log" 2>&1; then
	fail "started with a method in a build without crypto"
fi
grep -q "ENABLE_CRYPTO=OFF" "$T/enc.log" || fail "message: $(cat "$T/enc.log")"

# Plaintext works: echoes and verified transfers through the tunnel.
U=$BUILD/tests/upstream
"$U" --listen 127.0.0.1:0 --mode echo --timeout 60 >"$T/up.out" 2>&1 &
pids+=($!)
"$U" --listen 127.0.0.1:0 --mode sinksource --timeout 60 >"$T/ss.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" "$T/up.out" && break; sleep 0.1; done
UP=$(sed -n 's/.*listening on \([0-9]*\).*/\1/p' "$T/up.out")
for _ in $(seq 50); do grep -q "listening on" "$T/ss.out" && break; sleep 0.1; done
SS=$(sed -n 's/.*listening on \([0-9]*\).*/\1/p' "$T/ss.out")
[ -n "$UP" ] && [ -n "$SS" ] || fail "upstream did not start"
P1=$((20000 + RANDOM % 20000))
P2=$((P1 + 1))
cat >"$T/s.json" <<J
{ "udp_bind": "127.0.0.1:$P1", "connect": "127.0.0.1:$UP", "method": "none", "loglevel": 1 }
J
cat >"$T/c.json" <<J
{ "listen": "127.0.0.1:$P2", "udp_connect": "127.0.0.1:$P1", "method": "none", "loglevel": 1 }
J
"$K" -c "$T/s.json" 2>"$T/s.log" &
pids+=($!)
"$K" -c "$T/c.json" 2>"$T/c.log" &
pids+=($!)
for _ in $(seq 50); do ss -Hltn "sport = :$P2" | grep -q . && break; sleep 0.1; done
timeout 30 "$BUILD/tests/loadgen" --connect "127.0.0.1:$P2" --mode latency \
	--conns 20 --timeout 20 || fail "plaintext echo through the tunnel"
# A second pair in front of the sinksource upstream.
P3=$((P1 + 2))
P4=$((P1 + 3))
sed "s/$P1/$P3/; s/$UP/$SS/" "$T/s.json" >"$T/s2.json"
sed "s/$P1/$P3/; s/$P2/$P4/" "$T/c.json" >"$T/c2.json"
"$K" -c "$T/s2.json" 2>"$T/s2.log" &
pids+=($!)
"$K" -c "$T/c2.json" 2>"$T/c2.log" &
pids+=($!)
for _ in $(seq 50); do ss -Hltn "sport = :$P4" | grep -q . && break; sleep 0.1; done
timeout 60 "$BUILD/tests/loadgen" --connect "127.0.0.1:$P4" --conns 20 \
	--max-size 2M --timeout 50 || fail "verified transfers through the tunnel"
echo "PASS: build without crypto, portable datagram I/O"
