#!/usr/bin/env bash
# DDNS: the client's udp_connect is a name. When the server behind it goes
# silent, the client resolves the name again and follows the new address
# without a restart. The client runs in a private mount namespace whose
# /etc/hosts this test rewrites (nothing of the host's is touched).
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
fail() {
	echo "FAIL: $*"
	for f in "$T"/*.log; do echo "--- $f"; tail -n 20 "$f"; done
	exit 1
}
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
	echo "SKIP: needs root and mount namespaces (unshare -m)"
	exit 77
fi

"$BUILD/tests/upstream" --listen 127.0.0.1:0 --mode echo --timeout 120 >"$T/up.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" "$T/up.out" && break; sleep 0.1; done
UP=$(sed -n 's/.*listening on \([0-9]*\).*/\1/p' "$T/up.out")
[ -n "$UP" ] || fail "upstream did not start"
P=$((20000 + RANDOM % 20000))
CP=$((P + 1))
PSK=$("$K" --genpsk xchacha20poly1305_ietf)
for ip in 127.0.0.1 127.0.0.2; do
	cat >"$T/s-$ip.json" <<J
{ "udp_bind": "$ip:$P", "connect": "127.0.0.1:$UP",
  "method": "xchacha20poly1305_ietf", "psk": "$PSK", "loglevel": 3 }
J
done
cat >"$T/c.json" <<J
{ "listen": "127.0.0.1:$CP", "udp_connect": "kcptun-ddns.test:$P",
  "method": "xchacha20poly1305_ietf", "psk": "$PSK", "keepalive": 1,
  "loglevel": 3 }
J
"$K" -c "$T/s-127.0.0.1.json" 2>"$T/a.log" &
APID=$!
pids+=($APID)
"$K" -c "$T/s-127.0.0.2.json" 2>"$T/b.log" &
pids+=($!)
printf '127.0.0.1 kcptun-ddns.test\n' >"$T/hosts"
unshare -m sh -c "mount --bind '$T/hosts' /etc/hosts && exec '$K' -c '$T/c.json'" 2>"$T/c.log" &
pids+=($!)
for _ in $(seq 50); do ss -Hltn "sport = :$CP" | grep -q . && break; sleep 0.1; done

LG=$BUILD/tests/loadgen
timeout 20 "$LG" --connect "127.0.0.1:$CP" --mode latency --conns 5 --timeout 15 \
	>/dev/null || fail "no echo through the first server"
grep -q "opened by" "$T/a.log" || fail "first server saw no session"

# Hold a connection open so the client has a session that notices silence.
exec 3<>"/dev/tcp/127.0.0.1/$CP"
printf x >&3
sleep 0.5
# The name moves (same inode: the bind mount follows) and the old server dies.
printf '127.0.0.2 kcptun-ddns.test\n' >"$T/hosts"
kill -9 $APID
wait $APID 2>/dev/null || true
T0=$(date +%s)
for _ in $(seq 150); do
	grep -q "server address changed" "$T/c.log" && break
	sleep 0.1
done
grep -q "server address changed.*127.0.0.2" "$T/c.log" ||
	fail "client did not follow the name within 15 s"
echo "client followed the name after $(($(date +%s) - T0)) s"
timeout 20 "$LG" --connect "127.0.0.1:$CP" --mode latency --conns 5 --timeout 15 \
	>/dev/null || fail "no echo through the new server"
grep -q "opened by" "$T/b.log" || fail "second server saw no session"
echo "PASS: the client follows a changed server address without a restart"
