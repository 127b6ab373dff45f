#!/usr/bin/env bash
# test_lossy.sh BUILD_DIR — the bulk load through an impaired link:
# udprelay between client and server with 5% loss, 1% duplication, 5%
# reordering and 20 ms one-way delay in both directions. Every byte is
# still SHA-256 verified; no session may be reset or declared dead.
#
# The full 200 x 0..8M takes ~85 s under ASan on 2 cores (~19 MiB/s);
# LOSSY_CONNS/LOSSY_MAX override it. The load actually run is printed.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=200 e2e_init "$@"
CONNS=${LOSSY_CONNS:-200}
MAX=${LOSSY_MAX:-8M}
IMPAIR="--loss 0.05 --dup 0.01 --reorder 0.05 --delay-ms 20 --seed 5"

LOGLEVEL=2
start_upstream up sinksource
UPPID=$PID
start_server srv "$PORT" "$CRYPTO"
SPID=$PID
# shellcheck disable=SC2086
start_relay relay 127.0.0.1:$UDPPORT $IMPAIR
RPID=$PID
start_client cli "$PORT" "$CRYPTO"
CPID=$PID
CPORT=$PORT

echo "== RUN: loadgen $CONNS connections at once, sizes 0..$MAX each way," \
	"through udprelay $IMPAIR"
run lg -t 150 "$T/loadgen" --connect 127.0.0.1:$CPORT --conns "$CONNS" \
	--parallel "$CONNS" --min-size 0 --max-size "$MAX" --seed 12 \
	--timeout 140
check "all $CONNS connections verified (rc $RC, $RUN_S s)" eval \
	'[ $RC -eq 0 ] && grep -q "^loadgen: $CONNS/$CONNS ok" "$WORK/lg.log"'

wait_for 10 settled cli "$CPID" || echo "    cli: sessions still open after 10 s"
wait_for 10 settled srv "$SPID" || echo "    srv: sessions still open after 10 s"
stop_daemon cli "$CPID"
stop_daemon srv "$SPID"
stop_tool "$RPID"
stop_tool "$UPPID"
counters cli
counters srv
echo "    relay: $(cat "$WORK/relay.stats")"
impaired() {
	local k
	for k in c2t_lost t2c_lost c2t_dup t2c_dup c2t_reord t2c_reord; do
		[ "$(field "$WORK/relay.stats" $k)" -gt 0 ] || return 1
	done
}
check "the relay did impair: lost, duplicated, reordered both ways" impaired
for d in cli srv; do
	L=$WORK/$d.log
	check "$d: bad tag 0" [ "$(drop "$L" "bad tag")" = 0 ]
	check "$d: duplicates caught (replay > 0)" [ "$(drop "$L" replay)" -gt 0 ]
	check "$d: $CONNS sessions opened" [ "$(sess "$L" opened)" = "$CONNS" ]
	check "$d: 0 reset" [ "$(sess "$L" reset)" = 0 ]
	check "$d: 0 dead" [ "$(sess "$L" dead)" = 0 ]
done

e2e_finish
