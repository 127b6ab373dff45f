#!/usr/bin/env bash
# test_refused.sh BUILD_DIR — the server's upstream refuses: the client's
# connection must end (EOF or RST) within 1 s, and the server counts the
# connect failures.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=120 e2e_init "$@"

for mode in plain crypto; do
	echo "== $mode"
	if [ $mode = plain ]; then EXTRA=$PLAIN; else EXTRA=$CRYPTO; fi
	# a port nobody listens on (checked free just before use)
	CLOSED=$(free_port)
	start_server "srv_$mode" "$CLOSED" "$EXTRA"
	SPID=$PID
	start_client "cli_$mode" "$UDPPORT" "$EXTRA"
	CPID=$PID
	CPORT=$PORT
	for i in 1 2 3; do
		run "${mode}_$i" -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT \
			--mode expectclose --timeout 10
		ms=$(sed -n 's/^closed by peer after \([0-9.]*\) ms.*/\1/p' \
			"$WORK/${mode}_$i.log")
		check "$mode #$i: closed after $ms ms (< 1000, rc $RC)" eval \
			'[ $RC -eq 0 ] && lt "$ms" 1000'
	done
	sleep 0.2 # let the resets reach both logs
	stop_daemon "cli_$mode" "$CPID"
	stop_daemon "srv_$mode" "$SPID"
	counters "srv_$mode"
	n=$(sess "$WORK/srv_$mode.log" connect)
	check "srv_$mode: 3 connect failures counted (got $n)" [ "$n" = 3 ]
	check "srv_$mode: the failure is logged" \
		grep -q -i 'connect.*refused\|refused' "$WORK/srv_$mode.log"
	grep -i 'refused' "$WORK/srv_$mode.log" | head -1 | sed 's/^/    | /'
done

e2e_finish
