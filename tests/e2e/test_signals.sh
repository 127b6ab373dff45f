#!/usr/bin/env bash
# test_signals.sh BUILD_DIR — signals: SIGTERM on the client with a
# connection open exits 0 within 1 s and the server hears of it at once
# ("reset by peer" within 1 s); SIGINT does the same on the server side;
# SIGPIPE from writing to a reset connection does not kill.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=120 e2e_init "$@"

start_upstream echo echo
EP=$PORT
EPID=$PID
start_server srv "$EP" "$CRYPTO"
SPID=$PID
SUDP=$UDPPORT
start_client cli "$SUDP" "$CRYPTO"
CPID=$PID
CPORT=$PORT

echo "== SIGPIPE: the application resets while data flows back"
# the echo writes back into a connection the application has reset, so
# the client daemon writes to a dead socket
for i in 1 2 3; do
	run "rst$i" -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT --mode reset \
		--up-size 1M --timeout 10
done
check "client alive after application resets" kill -0 "$CPID"
check "server alive after application resets" kill -0 "$SPID"
run lat -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT --mode latency \
	--conns 3 --timeout 10
check "the tunnel still works (rc $RC)" [ $RC -eq 0 ]

echo "== SIGTERM on the client with a connection open"
N0=$(count_log srv 'upstream connected')
bg open "$T/loadgen" --connect 127.0.0.1:$CPORT --mode expectclose --timeout 30
LPID=$PID
has_session() { [ "$(count_log srv 'upstream connected')" -gt "$N0" ]; }
wait_for 5 has_session || fail "the open connection did not reach the server"
sleep 0.3
NR=$(count_log srv 'reset by peer')
T1=$(now)
stop_daemon cli "$CPID" 1
check "client exited 0 within 1 s (rc $STOP_RC, $STOP_S s)" eval \
	'[ "$STOP_RC" = 0 ] && lt "$STOP_S" 1'
srv_heard() { [ "$(count_log srv 'reset by peer')" -gt "$NR" ]; }
if wait_for 1 srv_heard; then
	ok "server logged 'reset by peer' $(since "$T1") s after the SIGTERM"
else
	fail "server did not log 'reset by peer' within 1 s of the client's SIGTERM"
fi
wait_bg "$LPID" 5
sed 's/^/    | /' "$WORK/open.log"
check "the application's connection was closed (rc $RC)" [ $RC -eq 0 ]

echo "== SIGINT on the server with a connection open"
start_client cli2 "$SUDP" "$CRYPTO"
CPID=$PID
N0=$(count_log srv 'upstream connected')
bg open2 "$T/loadgen" --connect 127.0.0.1:$PORT --mode expectclose --timeout 30
LPID=$PID
wait_for 5 has_session || fail "the second connection did not reach the server"
sleep 0.3
T1=$(now)
kill -INT "$SPID"
wait_bg "$LPID" 5
sed 's/^/    | /' "$WORK/open2.log"
check "SIGINT on the server: the application's connection closed within 1 s (rc $RC, $WAIT_S s)" \
	eval '[ $RC -eq 0 ] && lt "$WAIT_S" 1'
check "client logged 'reset by peer'" grep -q 'reset by peer' "$WORK/cli2.log"
wait_for 2 eval '! kill -0 $SPID 2>/dev/null'
wait "$SPID"
RC=$?
unregister "$SPID"
check "server exited 0 on SIGINT (rc $RC)" [ $RC -eq 0 ]
check "server logged its counters on SIGINT" grep -q 'sessions: ' "$WORK/srv.log"
stop_daemon cli2 "$CPID"
stop_tool "$EPID"

e2e_finish
