#!/usr/bin/env bash
# test_halfclose.sh BUILD_DIR — half-close travels through the tunnel:
# the client sends, shutdown(SHUT_WR)s, and the upstream (replyafter)
# answers only after that EOF; the full reply must arrive within 1 s of
# the shutdown. Plain and encrypted.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=150 e2e_init "$@"

start_upstream up replyafter --reply-size 1M
UP=$PORT
UPPID=$PID

# halfclose NAME UP_SIZE REPLY_SIZE: one loadgen halfclose run; the reply
# must be complete and arrive within 1000 ms of the shutdown.
halfclose() {
	local name=$1 up=$2 reply=$3 ms
	run "$name" -t 30 "$T/loadgen" --connect 127.0.0.1:$CPORT \
		--mode halfclose --up-size "$up" --reply-size "$reply" \
		--timeout 20
	ms=$(sed -n 's/.*reply complete \([0-9.]*\) ms after shutdown.*/\1/p' \
		"$WORK/$name.log")
	check "$name: up $up, $reply reply complete after shutdown in $ms ms (< 1000, rc $RC)" \
		eval '[ $RC -eq 0 ] && lt "$ms" 1000'
}

for mode in plain crypto; do
	echo "== $mode"
	if [ $mode = plain ]; then EXTRA=$PLAIN; else EXTRA=$CRYPTO; fi
	start_server "srv_$mode" "$UP" "$EXTRA"
	SPID=$PID
	start_client "cli_$mode" "$UDPPORT" "$EXTRA"
	CPID=$PID
	CPORT=$PORT
	halfclose "${mode}_small" 1000 1M
	halfclose "${mode}_big" 2M 1M
	halfclose "${mode}_empty" 0 1M
	# a reply the loadgen does not expect proves the size check works
	run "${mode}_wrong" -t 30 "$T/loadgen" --connect 127.0.0.1:$CPORT \
		--mode halfclose --up-size 1000 --reply-size 2M --timeout 20
	check "$mode: a short reply is detected (rc $RC)" [ $RC -eq 1 ]
	sleep 0.3 # let the last session's close reach both logs
	stop_daemon "cli_$mode" "$CPID"
	stop_daemon "srv_$mode" "$SPID"
	counters "cli_$mode"
	counters "srv_$mode"
	for d in "cli_$mode" "srv_$mode"; do
		check "$d: 4 sessions, all closed, 0 reset" eval \
			'[ "$(sess "$WORK/$d.log" opened)" = 4 ] &&
			[ "$(sess "$WORK/$d.log" closed)" = 4 ] &&
			[ "$(sess "$WORK/$d.log" reset)" = 0 ]'
	done
	check "srv_$mode: peer closed logged 4 times (EOF from the client)" \
		[ "$(count_log "srv_$mode" 'peer closed')" = 4 ]
done
stop_tool "$UPPID"
check "upstream saw 8 connections, 0 errors: $(cat "$WORK/up.stats")" eval \
	'[ "$(field "$WORK/up.stats" conns)" = 8 ] &&
	[ "$(field "$WORK/up.stats" errors)" = 0 ]'

e2e_finish
