#!/usr/bin/env bash
# test_crypto_e2e.sh BUILD_DIR — encryption seen from outside:
#  (a) wrong key: no session opens, bad tags are counted, the client's
#      connection is closed and the client says why;
#  (b) method mismatch: no session opens;
#  (c) the wire never carries a known plaintext (and does with "none",
#      which proves the check can fail);
#  (d) replayed datagrams of a finished session open nothing and deliver
#      nothing, before and after a server restart.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=120 e2e_init "$@"

PSK2=$("$D" --genpsk xchacha20poly1305_ietf)
WRONG="\"method\": \"xchacha20poly1305_ietf\", \"psk\": \"$PSK2\""
CHACHA="\"method\": \"chacha20poly1305_ietf\", \"psk\": \"$PSK\""

# send_file PORT FILE: writes FILE into a TCP connection, closes it.
send_file() {
	timeout 20 bash -c 'cat "$2" >/dev/tcp/127.0.0.1/$1' _ "$1" "$2"
}
# fixed_upstream NAME PORT MODE: an upstream on a given port (restartable)
fixed_upstream() {
	"$T/upstream" --listen 127.0.0.1:$2 --mode "$3" --timeout 250 \
		--stats-file "$WORK/$1.stats" >"$WORK/$1.out" 2>&1 &
	PID=$!
	register "$1" "$PID"
	wait_listen t "$2" "$PID" || die "upstream $1 did not start on $2"
}

echo "== (a) wrong key on the client"
start_upstream cnt_a count
UPA=$PORT
UPAPID=$PID
start_server srv_a "$UPA" "$CRYPTO"
SPID=$PID
start_client cli_a "$UDPPORT" "$WRONG"
CPID=$PID
run a -t 30 "$T/loadgen" --connect 127.0.0.1:$PORT --mode expectclose \
	--timeout 20
ms=$(sed -n 's/^closed by peer after \([0-9.]*\) ms.*/\1/p' "$WORK/a.log")
if [ $RC -eq 0 ] && lt "$ms" 5500; then
	ok "wrong key: the connection is closed after $ms ms (~5 s)"
else
	known_fail "wrong key: the connection is not closed within 20 s (rc $RC, $ms ms): a client session that never hears from the server is only ended by dead-link detection, whose backoff from the initial RTO takes far longer"
fi
stop_daemon cli_a "$CPID"
stop_daemon srv_a "$SPID"
stop_tool "$UPAPID"
counters srv_a
echo "    client's log about it:"
grep -v -E 'started as|sessions: |datagrams: |signal 15|accepted' \
	"$WORK/cli_a.log" | head -5 | sed 's/^/    | /'
check "srv_a: bad tag > 0" [ "$(drop "$WORK/srv_a.log" "bad tag")" -gt 0 ]
check "srv_a: 0 sessions opened" [ "$(sess "$WORK/srv_a.log" opened)" = 0 ]
check "upstream: 0 connections" [ "$(field "$WORK/cnt_a.stats" conns)" = 0 ]
clear_log() {
	grep -v -E 'sessions: |datagrams: ' "$WORK/cli_a.log" |
		grep -q -i -E 'key|psk|unreachable|no (reply|answer|response)|authenticat'
}
if clear_log; then
	ok "client logs something clear (key / unreachable / no answer)"
else
	known_fail "client logs nothing about the server never answering (e.g. \"no answer from the server: wrong key or method?\")"
fi

echo "== (b) method mismatch: client chacha20poly1305_ietf, server xchacha20poly1305_ietf"
start_upstream cnt_b count
UPB=$PORT
UPBPID=$PID
start_server srv_b "$UPB" "$CRYPTO"
SPID=$PID
start_client cli_b "$UDPPORT" "$CHACHA"
CPID=$PID
run b -t 10 "$T/loadgen" --connect 127.0.0.1:$PORT --mode latency \
	--conns 1 --timeout 3
check "mismatch: no echo (rc $RC, want != 0)" [ $RC -ne 0 ]
stop_daemon cli_b "$CPID"
stop_daemon srv_b "$SPID"
stop_tool "$UPBPID"
counters srv_b
check "srv_b: 0 sessions opened" [ "$(sess "$WORK/srv_b.log" opened)" = 0 ]
check "srv_b: datagrams dropped (bad tag/short/malformed > 0)" eval \
	'[ $(($(drop "$WORK/srv_b.log" "bad tag") + $(drop "$WORK/srv_b.log" short) + $(drop "$WORK/srv_b.log" malformed))) -gt 0 ]'
check "upstream: 0 connections" [ "$(field "$WORK/cnt_b.stats" conns)" = 0 ]

echo "== (c) no known plaintext on the wire"
MARK='<KCPTUN-MARK-16>' # 16 bytes
for i in $(seq 4096); do printf '%s' "$MARK"; done >"$WORK/marker.bin"
SIZE=$(stat -c %s "$WORK/marker.bin")
for mode in none crypto; do
	if [ $mode = none ]; then EXTRA=$PLAIN; else EXTRA=$CRYPTO; fi
	start_upstream "cnt_c_$mode" count
	UPC=$PORT
	UPCPID=$PID
	start_server "srv_c_$mode" "$UPC" "$EXTRA"
	SPID=$PID
	start_relay "cap_$mode" 127.0.0.1:$UDPPORT --capture "$WORK/c_$mode.cap"
	RPID=$PID
	start_client "cli_c_$mode" "$PORT" "$EXTRA"
	CPID=$PID
	send_file "$PORT" "$WORK/marker.bin" ||
		fail "$mode: could not send the marker file"
	sleep 1 # the data crosses, the session closes
	stop_daemon "cli_c_$mode" "$CPID"
	stop_tool "$RPID"
	stop_daemon "srv_c_$mode" "$SPID"
	stop_tool "$UPCPID"
	got=$(field "$WORK/cnt_c_$mode.stats" bytes_in)
	check "$mode: the upstream got all $SIZE bytes (got $got)" [ "$got" = "$SIZE" ]
	hits=$(grep -a -c -F -- "$MARK" "$WORK/c_$mode.cap")
	capsize=$(stat -c %s "$WORK/c_$mode.cap")
	if [ $mode = none ]; then
		check "none: the capture ($capsize B) shows the marker ($hits lines)" \
			[ "$hits" -gt 0 ]
	else
		check "crypto: the capture ($capsize B) never shows the marker ($hits lines)" \
			[ "$hits" = 0 ]
		check "crypto: the capture holds at least the file's size" \
			[ "$capsize" -ge "$SIZE" ]
	fi
done

echo "== (d) replay of a finished session"
UPD=$(free_port)
fixed_upstream cnt_d0 "$UPD" count
UPDPID=$PID
# default time_wait: replay 1 hits the closed session's reserved id; after
# the restart only the replay guard and the dial check stand in the way.
start_server srv_d "$UPD" "$CRYPTO"
SPID=$PID
SUDP=$UDPPORT
start_relay cap_d 127.0.0.1:$SUDP --capture "$WORK/d.cap"
RPID=$PID
start_client cli_d "$PORT" "$CRYPTO"
CPID=$PID
send_file "$PORT" "$WORK/marker.bin" || fail "replay: could not send"
sleep 1
stop_daemon cli_d "$CPID"
stop_tool "$RPID"
stop_tool "$UPDPID"
check "original session: 1 connection, $SIZE bytes at the upstream" eval \
	'[ "$(field "$WORK/cnt_d0.stats" conns)" = 1 ] &&
	[ "$(field "$WORK/cnt_d0.stats" bytes_in)" = "$SIZE" ]'
capsize=$(stat -c %s "$WORK/d.cap")
# the server is still running: count the capture's records instead
NDGRAMS=$(od -An -v -tu1 -w1 "$WORK/d.cap" | awk '
	{ b[n++] = $1 }
	END { i = 0; k = 0
		while (i + 12 <= n) {
			len = ((b[i+8] * 256 + b[i+9]) * 256 + b[i+10]) * 256 + b[i+11]
			i += 12 + len; k++ }
		print k }')
echo "    captured $NDGRAMS client->server datagrams, $capsize bytes"
check "the capture holds the session ($NDGRAMS datagrams)" [ "$NDGRAMS" -gt 10 ]

# replay_against N: a fresh count upstream on the same port, replay the
# capture at the running server, then check nothing reached the upstream
replay_against() {
	local n=$1 up
	fixed_upstream "cnt_d$n" "$UPD" count
	up=$PID
	run "replay$n" -t 30 "$T/udprelay" --replay "$WORK/d.cap" \
		--target 127.0.0.1:$SUDP --replay-speed 0 --timeout 20
	check "replay $n ran (rc $RC)" [ $RC -eq 0 ]
	check "replay $n sent every captured datagram" \
		grep -q "replayed $NDGRAMS datagrams" "$WORK/replay$n.log"
	sleep 1 # anything the server would forward has arrived by now
	stop_tool "$up"
	local c b
	c=$(field "$WORK/cnt_d$n.stats" conns)
	b=$(field "$WORK/cnt_d$n.stats" bytes_in)
	check "replay $n: upstream saw 0 connections ($c), 0 bytes ($b)" \
		eval '[ "$c" = 0 ] && [ "$b" = 0 ]'
}
replay_against 1

echo "== (d) replay after the replay guard rotated every generation"
# 3 generations of 96,000 nonces: ~450 MB of upload from another client
# pushes the captured nonces out of every filter. Forgetting them must
# raise that sender's floor, so the replay is refused as stale.
fixed_upstream ss_rot "$UPD" sinksource
SSPID=$PID
start_client cli_rot "$SUDP" "$CRYPTO"
ROTPID=$PID
run rot -t 100 "$T/loadgen" --connect 127.0.0.1:$PORT --mode bulk \
	--up-size 450M --timeout 90
check "450 MB pushed through the server (rc $RC)" [ "$RC" -eq 0 ]
stop_daemon cli_rot "$ROTPID"
stop_tool "$SSPID"
st_before=$(kill -HUP "$SPID"; sleep 0.3; drop "$WORK/srv_d.log" stale)
replay_against 3
st_after=$(kill -HUP "$SPID"; sleep 0.3; drop "$WORK/srv_d.log" stale)
check "after rotation the replay is refused as stale ($st_before -> $st_after)" \
	[ $((st_after - st_before)) -ge "$NDGRAMS" ]
stop_daemon srv_d "$SPID"
counters srv_d
r=$(drop "$WORK/srv_d.log" replay)
st=$(drop "$WORK/srv_d.log" stale)
rd=$(drop "$WORK/srv_d.log" "replayed dial")
check "srv_d: drops counted (replay $r + stale $st + replayed dial $rd > 0)" \
	[ $((r + st + rd)) -gt 0 ]
check "srv_d: 2 sessions opened in all (the original and the rotation's)" \
	[ "$(sess "$WORK/srv_d.log" opened)" = 2 ]

echo "== (d) replay against a restarted server"
start_server srv_d2 "$UPD" "$CRYPTO" "$SUDP"
SPID=$PID
replay_against 2
stop_daemon srv_d2 "$SPID"
counters srv_d2
check "srv_d2: 0 sessions opened" [ "$(sess "$WORK/srv_d2.log" opened)" = 0 ]
r=$(drop "$WORK/srv_d2.log" replay)
st=$(drop "$WORK/srv_d2.log" stale)
rd=$(drop "$WORK/srv_d2.log" "replayed dial")
check "srv_d2: drops counted (replay $r + stale $st + replayed dial $rd > 0)" \
	[ $((r + st + rd)) -gt 0 ]

e2e_finish
