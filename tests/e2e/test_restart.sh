#!/usr/bin/env bash
# test_restart.sh BUILD_DIR — a daemon crashes (kill -9) mid-transfer and
# comes back on the same port:
#  server restart: the client's stale connections end within a few
#    seconds (loadgen fails fast instead of hanging), a new connection
#    works at once;
#  client restart: the server's stale sessions end within 25 s (dead link:
#    the new client cannot know them), the upstream's connections are
#    released, and the restarted client works at once.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=120 e2e_init "$@"

established_to() {
	ss -Htn state established "( dport = :$1 )" 2>/dev/null | wc -l
}
no_conns_to() { [ "$(established_to "$1")" = 0 ]; }
resets_in() { [ "$(count_log "$1" 'reset by peer')" -ge "$2" ]; }

start_upstream up sinksource
UP=$PORT
UPPID=$PID

# a transfer that takes far longer than the test waits (64M each ended in
# 11 s on loopback: too short once a wait ran long): 10 connections of
# 256M each way, limited by loadgen --parallel so all are open at once
bigload() {
	bg "$1" "$T/loadgen" --connect 127.0.0.1:$CPORT --conns 10 \
		--parallel 10 --min-size 256M --max-size 256M --seed 3 --timeout 120
}
# transferring PORT: 10 of the server's connections to the upstream carry
# data both ways. Their mere existence is not enough: a dial opens one, and
# loadgen fills one connection's socket buffers before it writes the next
# one's request, so under load the last connections may not have sent a
# byte a second later - a stale session that never carried data is another
# case (see the silent connection below and the keepalive).
transferring() {
	[ "$(ss -Htin state established "( dport = :$1 )" 2>/dev/null | awk '
		/bytes_sent:/ {
			s = r = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^bytes_sent:/) s = substr($i, 12) + 0
				if ($i ~ /^bytes_received:/) r = substr($i, 16) + 0
			}
			if (s > 65536 && r > 65536) n++
		}
		END { print n + 0 }')" -ge 10 ]
}

echo "== server restart"
start_server srv "$UP" "$CRYPTO"
SPID=$PID
SUDP=$UDPPORT
start_client cli "$SUDP" "$CRYPTO"
CPID=$PID
CPORT=$PORT
bigload lg1
LGPID=$PID
# What ss saw, when the wait fails: it failed once in a clean clone's CI
# run (1 of ~10 runs) although loadgen's 10 transfers ran normally and
# ended after 11 s; by hand every transfer passes 64 KiB both ways within
# a second. The dump should tell why the next time.
ss_dump() {
	ss -Htin state established "( dport = :$1 )" 2>&1 | head -24 |
		sed 's/^/    | ss: /'
}
wait_for 10 transferring "$UP" || {
	fail "the transfer did not start"
	ss_dump "$UP"
}
# A connection that dialled but has received nothing when the server dies
# (the upstream waits for its request): to the new server its first bytes
# look like those of a conversation whose opening is late (una 0, small
# sn), which it waits for a moment before it resets.
exec 4<>/dev/tcp/127.0.0.1/$CPORT || die "cannot connect to the client"
dialled() { [ "$(established_to "$1")" -ge 11 ]; }
wait_for 5 dialled "$UP" || fail "the silent connection's dial did not arrive"
sleep 1
kill9 "$SPID"
echo "    server killed -9 at $(elapsed) s"
start_server srv "$UP" "$CRYPTO" "$SUDP"
SPID=$PID
T1=$(now)
wait_bg "$LGPID" 15
sed 's/^/    | /' "$WORK/lg1.log" | head -5
check "stale transfer ended $(since "$T1") s after the restart, failed, not hung (rc $RC, want 1)" \
	eval '[ $RC -eq 1 ] && lt "$WAIT_S" 5'
run new1 -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT --conns 5 \
	--max-size 256K --seed 4 --timeout 10
check "a new connection works at once (rc $RC, $RUN_S s)" eval \
	'[ $RC -eq 0 ] && lt "$RUN_S" 2'
# Each stale session learns of the restart from the answer to its next
# datagram; one whose window was full when the server died sends that only
# when its backed-off retransmission timer fires (up to ~1 s later on a
# loaded machine), so this waits rather than looks once.
check "client logs 'reset by peer' for the stale sessions" \
	wait_for 5 resets_in cli 10
T2=$(now)
printf 'KTLG' >&4
timeout 10 cat <&4 >/dev/null 2>&1
RC=$?
S2=$(since "$T2")
exec 4>&-
check "the silent connection ended $S2 s after its first bytes, reset, not hung (rc $RC, want 1)" \
	eval '[ $RC -eq 1 ] && lt "$S2" 5 && resets_in cli 11'

echo "== client restart"
bigload lg2
LGPID=$PID
wait_for 10 transferring "$UP" || {
	fail "the transfer did not start"
	ss_dump "$UP"
}
sleep 1
NEND=$(count_log srv 'reset by peer|reset: peer unreachable')
kill9 "$CPID"
echo "    client killed -9 at $(elapsed) s"
start_client cli "$SUDP" "$CRYPTO" "$CPORT"
CPID=$PID
T1=$(now)
wait_bg "$LGPID" 15 # ends at once: its TCP peer died
# The restarted client has a new UDP port and knows nothing of the old
# sessions, so nobody can tell the server: it must find out itself (dead
# link: 12+ unacknowledged retransmissions, ~5-15 s on loopback).
stale_ended() {
	[ $(($(count_log srv 'reset by peer|reset: peer unreachable') - NEND)) -ge 10 ]
}
if wait_for 25 stale_ended; then
	ok "server ended its 10 stale sessions $WAIT_S s after the restart"
	if wait_for 2 no_conns_to "$UP"; then
		ok "upstream's stale connections released $(since "$T1") s after the restart"
	else
		fail "$(established_to "$UP") upstream connections still open $(since "$T1") s after the restart"
	fi
else
	known_fail "server ended only $(($(count_log srv 'reset by peer|reset: peer unreachable') - NEND)) of 10 stale sessions in $WAIT_S s; $(established_to "$UP") upstream connections still open (a session whose peer vanished while the peer's receive window was closed only sends window probes, which never count as dead link: it lives until the idle timeout)"
fi
run new2 -t 20 "$T/loadgen" --connect 127.0.0.1:$CPORT --conns 5 \
	--max-size 256K --seed 5 --timeout 10
check "a new connection works through the restarted client (rc $RC, $RUN_S s)" \
	eval '[ $RC -eq 0 ] && lt "$RUN_S" 2'

echo "== client crash while its application is not reading (window closed)"
# A sinksource request for 64M down whose reader never reads: the client's
# TCP buffer and then its KCP receive window fill, so the server may only
# send window probes. Then the client dies.
exec 3<>/dev/tcp/127.0.0.1/$CPORT || die "cannot connect to the client"
printf 'KTLG\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x04\0\0\0\0\0\0\0\0\0\0\x01' >&3
sleep 3 # the window closes
NEND=$(count_log srv 'reset by peer|reset: peer unreachable')
kill9 "$CPID"
exec 3>&-
echo "    client killed -9 at $(elapsed) s"
# Up to 12 unanswered window probes, backing off from the RTO to 4 s: about
# 15-30 s, longer when the machine is loaded and the RTO grows.
one_ended() {
	[ $(($(count_log srv 'reset by peer|reset: peer unreachable') - NEND)) -ge 1 ]
}
if wait_for 45 one_ended; then
	ok "server ended the closed-window session $WAIT_S s after the crash"
else
	known_fail "server still holds the closed-window session $WAIT_S s after the client crashed: window probes never count as dead link (lives until the idle timeout)"
fi
start_client cli "$SUDP" "$CRYPTO" "$CPORT"
CPID=$PID

stop_daemon cli "$CPID"
stop_daemon srv "$SPID"
stop_tool "$UPPID"
counters srv
e2e_finish
