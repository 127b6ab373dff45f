#!/usr/bin/env bash
# test_linger_timewait.sh BUILD_DIR — the two closing timers:
# - linger: both directions have ended but the peer cannot take our last
#   data (its application stopped reading): after `linger` seconds the
#   session is reset instead of waiting forever;
# - time_wait: a closed session's tombstone answers late datagrams with a
#   reset and is gone after `time_wait` seconds.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=90 e2e_init "$@"

start_upstream up replyafter --reply-size 1M
UP=$PORT
# A client that can hold little: 16-segment window, 4 KiB TCP buffers.
start_server srv "$UP" "$CRYPTO, \"linger\": 2, \"time_wait\": 3"
SPID=$PID
start_client cli "$UDPPORT" "$CRYPTO, \"kcp\": {\"rcvwnd\": 16}, \"tcp\": {\"sndbuf\": 4096, \"rcvbuf\": 4096}"
CPID=$PID
CPORT=$PORT

echo "== linger: the application half-closes, then stops reading"
bg stall "$T/loadgen" --connect 127.0.0.1:$CPORT --mode halfclose \
	--up-size 1000 --reply-size 1M --stall 6 --timeout 30
LGPID=$PID
lingered() { [ "$(count_log srv 'reset: linger timeout')" -ge 1 ]; }
T1=$(now)
wait_for 10 lingered || true
check "the server gives up lingering $(since "$T1") s after the half-close (linger 2 s)" \
	eval 'lingered && lt "$(since "$T1")" 6'
wait_bg "$LGPID" 20
check "the stalled reader does not get the whole reply (rc $RC)" [ "$RC" -ne 0 ]

echo "== time_wait: tombstones expire"
okruns=0
for i in 1 2 3 4 5; do
	run "quick$i" -t 30 "$T/loadgen" --connect 127.0.0.1:$CPORT \
		--mode halfclose --up-size 100 --reply-size 1M --timeout 20
	[ "$RC" -eq 0 ] && okruns=$((okruns + 1))
done
check "5 sessions complete normally ($okruns)" [ "$okruns" -eq 5 ]
kill -HUP "$SPID"
sleep 0.3
live_now=$(sess "$WORK/srv.log" live)
check "right after closing, tombstones are held ($live_now live)" \
	eval '[ "$live_now" -ge 5 ]'
sleep 4
kill -HUP "$SPID"
sleep 0.3
live_later=$(sess "$WORK/srv.log" live)
check "after time_wait (3 s) they are gone ($live_later live)" \
	eval '[ "$live_later" -eq 0 ]'

stop_daemon cli "$CPID"
stop_daemon srv "$SPID"
counters srv
e2e_finish
