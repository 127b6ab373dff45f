#!/usr/bin/env bash
# test_reset.sh BUILD_DIR — a TCP reset crosses the tunnel promptly in
# both directions: the upstream RSTs -> the client's application sees the
# connection end within 1 s; the application RSTs -> the upstream's
# connection ends within 1 s and the server logs a reset.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=120 e2e_init "$@"

# established_to PORT: ESTABLISHED TCP connections whose peer port is PORT
established_to() {
	ss -Htn state established "( dport = :$1 )" 2>/dev/null | wc -l
}
no_conns_to() { [ "$(established_to "$1")" = 0 ]; }

for mode in plain crypto; do
	echo "== $mode: the upstream resets"
	if [ $mode = plain ]; then EXTRA=$PLAIN; else EXTRA=$CRYPTO; fi
	start_upstream "rs_$mode" reset
	RS=$PORT
	RSPID=$PID
	start_server "srv_rs_$mode" "$RS" "$EXTRA"
	SPID=$PID
	start_client "cli_rs_$mode" "$UDPPORT" "$EXTRA"
	CPID=$PID
	CPORT=$PORT
	for i in 1 2; do
		run "${mode}_rs$i" -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT \
			--mode expectclose --timeout 10
		ms=$(sed -n 's/^closed by peer after \([0-9.]*\) ms.*/\1/p' \
			"$WORK/${mode}_rs$i.log")
		check "$mode: application's connection ended after $ms ms (< 1000, rc $RC)" \
			eval '[ $RC -eq 0 ] && lt "$ms" 1000'
	done
	sleep 0.2
	stop_daemon "cli_rs_$mode" "$CPID"
	stop_daemon "srv_rs_$mode" "$SPID"
	stop_tool "$RSPID"
	counters "srv_rs_$mode"
	check "srv_rs_$mode: 2 sessions reset" [ "$(sess "$WORK/srv_rs_$mode.log" reset)" = 2 ]
	check "cli_rs_$mode: logs 'reset by peer' twice" \
		[ "$(count_log "cli_rs_$mode" 'reset by peer')" = 2 ]

	echo "== $mode: the application resets"
	start_upstream "echo_$mode" echo
	EP=$PORT
	EPID=$PID
	start_server "srv_app_$mode" "$EP" "$EXTRA"
	SPID=$PID
	start_client "cli_app_$mode" "$UDPPORT" "$EXTRA"
	CPID=$PID
	CPORT=$PORT
	for i in 1 2; do
		# the upstream's side must be open first: the test then sees
		# it end rather than never begin (a reset that arrives with the
		# dial is taken before the server connects upstream at all)
		run "${mode}_app$i" -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT \
			--mode reset --up-size 100K --stall 0.2 --timeout 10
		check "$mode #$i: loadgen reset ran (rc $RC)" [ $RC -eq 0 ]
		if wait_for 2 no_conns_to "$EP"; then
			ok "$mode #$i: no connection to the upstream left after $WAIT_S s"
		else
			fail "$mode #$i: $(established_to "$EP") connections to the upstream still open after $WAIT_S s"
		fi
	done
	# and the tunnel still works afterwards
	run "${mode}_after" -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT \
		--mode latency --conns 3 --timeout 10
	check "$mode: echo works after the resets (rc $RC)" [ $RC -eq 0 ]
	sleep 0.2
	stop_daemon "cli_app_$mode" "$CPID"
	stop_daemon "srv_app_$mode" "$SPID"
	stop_tool "$EPID"
	counters "srv_app_$mode"
	check "srv_app_$mode: logs 'reset by peer' twice" \
		[ "$(count_log "srv_app_$mode" 'reset by peer')" = 2 ]
	check "srv_app_$mode: 2 sessions reset" \
		[ "$(sess "$WORK/srv_app_$mode.log" reset)" = 2 ]
	check "echo_$mode: 5 connections: $(cat "$WORK/echo_$mode.stats")" \
		[ "$(field "$WORK/echo_$mode.stats" conns)" = 5 ]
done

e2e_finish
