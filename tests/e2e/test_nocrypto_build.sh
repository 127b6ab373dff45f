#!/usr/bin/env bash
# test_nocrypto_build.sh BUILD_DIR — a build with -DENABLE_CRYPTO=OFF needs
# no libsodium, runs plaintext, and refuses encryption clearly. It builds
# its own copy (Release, daemon only), also with KCPTUN_PORTABLE_IO: the
# one-datagram-per-syscall path used where recvmmsg/sendmmsg do not exist,
# so that path is tested too.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=240 e2e_init "$@"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
NB=$BUILD/nocrypto
CC=${NOCRYPTO_CC:-cc} timeout 200 cmake -S "$SRC" -B "$NB" \
	-DCMAKE_BUILD_TYPE=Release -DENABLE_CRYPTO=OFF -DBUILD_TESTING=OFF \
	-DCMAKE_C_FLAGS=-DKCPTUN_PORTABLE_IO >"$WORK/cmake.log" 2>&1 &&
	timeout 200 cmake --build "$NB" -j2 --target kcptun-libev \
		>>"$WORK/cmake.log" 2>&1 || {
	tail -20 "$WORK/cmake.log"
	die "the build without crypto failed"
}
K=$NB/kcptun-libev

check "configured without crypto" grep -q "ENABLE_CRYPTO:BOOL=OFF" "$NB/CMakeCache.txt"
check "does not link libsodium" eval '! ldd "$K" | grep -q sodium'
check "uses the portable I/O path (no recvmmsg)" eval '! nm -D "$K" | grep -q mmsg'
check "--version says encryption is not built" eval '"$K" --version | grep -q "encryption not built"'
run genpsk "$K" --genpsk xchacha20poly1305_ietf
check "--genpsk fails and names the build option (rc $RC)" \
	eval '[ $RC -ne 0 ] && grep -q "ENABLE_CRYPTO=OFF" "$WORK/genpsk.log"'
check "--list-methods lists nothing" eval '[ -z "$("$K" --list-methods)" ]'

cat >"$WORK/enc.json" <<J
{ "udp_bind": "127.0.0.1:1", "connect": "127.0.0.1:2",
  "method": "xchacha20poly1305_ietf", "psk": "$PSK" }
J
run enc -t 10 "$K" -c "$WORK/enc.json"
check "a config asking for a method fails at start, clearly (rc $RC)" \
	eval '[ $RC -eq 1 ] && grep -q "ENABLE_CRYPTO=OFF" "$WORK/enc.log"'

# Plaintext works: echoes and verified transfers through the tunnel.
D=$K
start_upstream echo echo
start_server srv_e "$PORT" "$PLAIN"
SE=$PID
start_client cli_e "$UDPPORT" "$PLAIN"
CE=$PID
run latency -t 30 "$T/loadgen" --connect 127.0.0.1:$PORT --mode latency \
	--conns 20 --timeout 20
check "plaintext echo through the tunnel (rc $RC)" [ "$RC" -eq 0 ]
start_upstream ss sinksource
start_server srv_s "$PORT" "$PLAIN"
SS=$PID
start_client cli_s "$UDPPORT" "$PLAIN"
CS=$PID
run bulk -t 60 "$T/loadgen" --connect 127.0.0.1:$PORT --conns 20 \
	--max-size 2M --timeout 50
check "verified transfers through the tunnel (rc $RC)" [ "$RC" -eq 0 ]
for p in "cli_e $CE" "srv_e $SE" "cli_s $CS" "srv_s $SS"; do
	stop_daemon $p
done
e2e_finish
