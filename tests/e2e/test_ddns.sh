#!/usr/bin/env bash
# test_ddns.sh BUILD_DIR — the client's udp_connect is a name. When the
# server behind it goes silent, the client resolves the name again and
# follows the new address without a restart. The client runs in a private
# mount namespace whose /etc/hosts this test rewrites (the host's own file
# is never touched). Needs root: exit 77 (skipped) otherwise.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
	echo "SKIP: needs root and mount namespaces (unshare -m)"
	exit 77
fi
E2E_LIMIT=90 e2e_init "$@"

start_upstream up echo
UP=$PORT
# Two servers on one port, 127.0.0.1 and 127.0.0.2: the name moves.
DHOST=127.0.0.1 start_server srv_a "$UP" "$CRYPTO"
APID=$PID
P=$UDPPORT
conf_server "$WORK/srv_b.json" "127.0.0.2:$P" "127.0.0.1:$UP" "$CRYPTO"
start_daemon srv_b "$WORK/srv_b.json" u "$P" || die "second server did not start"
BPID=$PID

CPORT=$(free_port)
printf '127.0.0.1 kcptun-ddns.test\n' >"$WORK/hosts"
conf_client "$WORK/cli.json" "127.0.0.1:$CPORT" "kcptun-ddns.test:$P" \
	"$CRYPTO, \"keepalive\": 1"
unshare -m sh -c "mount --bind '$WORK/hosts' /etc/hosts && exec '$D' -c '$WORK/cli.json'" \
	2>>"$WORK/cli.log" &
CPID=$!
register cli "$CPID"
wait_listen t "$CPORT" "$CPID" || die "client did not start"

run first -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT --mode latency \
	--conns 5 --timeout 15
check "echo through the first server (rc $RC)" [ "$RC" -eq 0 ]
check "the first server opened the sessions" [ "$(count_log srv_a 'opened by')" -ge 5 ]

# Hold a connection open so the client has a session that notices silence.
exec 3<>"/dev/tcp/127.0.0.1/$CPORT" || die "cannot connect to the client"
printf x >&3
sleep 0.5
# The name moves (same inode: the bind mount follows) and the old server dies.
printf '127.0.0.2 kcptun-ddns.test\n' >"$WORK/hosts"
kill9 "$APID"
followed() { grep -q "server address changed.*127.0.0.2" "$WORK/cli.log"; }
wait_for 15 followed
check "the client followed the name ($WAIT_S s)" followed
run second -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT --mode latency \
	--conns 5 --timeout 15
check "echo through the new server (rc $RC)" [ "$RC" -eq 0 ]
check "the new server opened the sessions" [ "$(count_log srv_b 'opened by')" -ge 5 ]
exec 3>&-
stop_daemon cli "$CPID"
stop_daemon srv_b "$BPID"
e2e_finish
