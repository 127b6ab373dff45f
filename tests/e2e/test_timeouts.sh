#!/usr/bin/env bash
# test_timeouts.sh BUILD_DIR — the tunnel's own timers end connections:
#  idle: "timeout": 10 closes an idle connection after ~10 s (9..20 s);
#  dead peer: the server is frozen (SIGSTOP) with a connection open and
#    "keepalive": 1; the client must reset the connection within 30 s.
# The two run side by side (separate daemons) to save time.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=120 e2e_init "$@"

start_upstream echo echo
EP=$PORT
EPID=$PID

echo "== setup: idle pair (timeout 10, keepalive 0) and dead-peer pair (keepalive 1)"
start_server srv_idle "$EP" "$CRYPTO, \"timeout\": 10, \"keepalive\": 0"
SI=$PID
start_client cli_idle "$UDPPORT" "$CRYPTO, \"timeout\": 10, \"keepalive\": 0"
CI=$PID
PIDLE=$PORT
start_server srv_dead "$EP" "$CRYPTO, \"keepalive\": 1"
SD=$PID
start_client cli_dead "$UDPPORT" "$CRYPTO, \"keepalive\": 1"
CD=$PID
PDEAD=$PORT

# expectclose sends one byte (echoed back), then waits for the close
bg idle "$T/loadgen" --connect 127.0.0.1:$PIDLE --mode expectclose --timeout 40
LI=$PID
bg dead "$T/loadgen" --connect 127.0.0.1:$PDEAD --mode expectclose --timeout 60
LD=$PID
sleep 1 # the byte went through and was echoed: the connection is idle
kill -STOP "$SD"
echo "    server of the dead-peer pair stopped at $(elapsed) s"

wait_bg "$LI" 45
sed 's/^/    | /' "$WORK/idle.log"
ms=$(sed -n 's/^closed by peer after \([0-9.]*\) ms.*/\1/p' "$WORK/idle.log")
check "idle connection closed by the tunnel after $ms ms (9000..20000, rc $RC)" \
	eval '[ $RC -eq 0 ] && between "$ms" 9000 20000'

wait_bg "$LD" 60
sed 's/^/    | /' "$WORK/dead.log"
ms=$(sed -n 's/^closed by peer after \([0-9.]*\) ms.*/\1/p' "$WORK/dead.log")
check "dead peer: client reset the connection after $ms ms (< 30000, rc $RC)" \
	eval '[ $RC -eq 0 ] && lt "$ms" 30000'
kill -CONT "$SD"

sleep 0.2
for d in cli_idle:$CI srv_idle:$SI cli_dead:$CD srv_dead:$SD; do
	stop_daemon "${d%%:*}" "${d#*:}"
done
stop_tool "$EPID"
for d in cli_idle srv_idle cli_dead srv_dead; do counters $d; done
check "cli_idle: counted 1 idle session" [ "$(sess "$WORK/cli_idle.log" idle)" = 1 ]
check "srv_idle: counted 1 idle session" [ "$(sess "$WORK/srv_idle.log" idle)" = 1 ]
check "cli_dead: counted 1 dead session" [ "$(sess "$WORK/cli_dead.log" dead)" = 1 ]
check "cli_dead: logged the dead link" grep -q 'reset: .*dead' "$WORK/cli_dead.log"
grep 'reset: ' "$WORK/cli_dead.log" | head -1 | sed 's/^/    | /'

e2e_finish
