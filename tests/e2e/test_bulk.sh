#!/usr/bin/env bash
# test_bulk.sh BUILD_DIR — encrypted tunnel under load: 200 concurrent
# connections, random sizes 0..8M each way, every byte SHA-256 verified;
# the daemons count no bad tags, resets or dead sessions.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=200 e2e_init "$@"
CONNS=${BULK_CONNS:-200}
MAX=${BULK_MAX:-8M}

LOGLEVEL=2
start_upstream up sinksource
UPPID=$PID
start_server srv "$PORT" "$CRYPTO"
SPID=$PID
start_client cli "$UDPPORT" "$CRYPTO"
CPID=$PID
CPORT=$PORT

echo "== loadgen: $CONNS connections at once, 0..$MAX each way, seed 11"
run lg -t 150 "$T/loadgen" --connect 127.0.0.1:$CPORT --conns "$CONNS" \
	--parallel "$CONNS" --min-size 0 --max-size "$MAX" --seed 11 \
	--timeout 140
check "all $CONNS connections verified (rc $RC, $RUN_S s)" eval \
	'[ $RC -eq 0 ] && grep -q "^loadgen: $CONNS/$CONNS ok" "$WORK/lg.log"'

stop_daemon cli "$CPID"
stop_daemon srv "$SPID"
stop_tool "$UPPID"
counters cli
counters srv
echo "    upstream: $(cat "$WORK/up.stats")"
for d in cli srv; do
	L=$WORK/$d.log
	check "$d: bad tag 0" [ "$(drop "$L" "bad tag")" = 0 ]
	check "$d: malformed 0" [ "$(drop "$L" malformed)" = 0 ]
	check "$d: $CONNS sessions opened" [ "$(sess "$L" opened)" = "$CONNS" ]
	check "$d: 0 reset" [ "$(sess "$L" reset)" = 0 ]
	check "$d: 0 dead" [ "$(sess "$L" dead)" = 0 ]
	check "$d: 0 idle" [ "$(sess "$L" idle)" = 0 ]
	check "$d: no errors logged" [ "$(count_log "$d" ' [EF] ')" = 0 ]
done
check "upstream: $CONNS connections, 0 errors" eval \
	'[ "$(field "$WORK/up.stats" conns)" = "$CONNS" ] &&
	[ "$(field "$WORK/up.stats" errors)" = 0 ]'

e2e_finish
