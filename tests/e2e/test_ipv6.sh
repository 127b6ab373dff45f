#!/usr/bin/env bash
# test_ipv6.sh BUILD_DIR — the whole path on ::1: listen, udp_bind,
# udp_connect and connect as [::1]:port; 20 connections 0..1M verified.
# Exits 77 (SKIP) only when ::1 is not configured; CMake must set
# SKIP_RETURN_CODE 77 for this test so that a skip is not a pass.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=120 e2e_init "$@"

if ! ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128' &&
	! grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
	echo "SKIP: $TEST_NAME: ::1 is not configured"
	exit 77
fi

UP_HOST=::1
DHOST=::1
start_upstream up sinksource
UPPID=$PID
start_server srv "$PORT" "$CRYPTO"
SPID=$PID
start_client cli "$UDPPORT" "$CRYPTO"
CPID=$PID
CPORT=$PORT
check "server config uses [::1]" grep -q "\"udp_bind\": \"\[::1\]:$UDPPORT\"" "$WORK/srv.json"
check "server's UDP socket is on ::1" eval \
	"ss -Hlnu '( sport = :$UDPPORT )' | grep -q '\[::1\]:$UDPPORT'"
check "client's TCP listener is on ::1" eval \
	"ss -Hlnt '( sport = :$CPORT )' | grep -q '\[::1\]:$CPORT'"

run lg -t 60 "$T/loadgen" --connect "[::1]:$CPORT" --conns 20 --min-size 0 \
	--max-size 1M --seed 6 --timeout 50
check "20/20 connections verified over ::1 (rc $RC)" eval \
	'[ $RC -eq 0 ] && grep -q "^loadgen: 20/20 ok" "$WORK/lg.log"'
check "server saw the client from [::1]" grep -q 'opened by \[::1\]:' "$WORK/srv.log"

stop_daemon cli "$CPID"
stop_daemon srv "$SPID"
stop_tool "$UPPID"
counters srv
check "srv: 20 opened, 0 reset, 0 bad tag" eval \
	'[ "$(sess "$WORK/srv.log" opened)" = 20 ] &&
	[ "$(sess "$WORK/srv.log" reset)" = 0 ] &&
	[ "$(drop "$WORK/srv.log" "bad tag")" = 0 ]'

e2e_finish
