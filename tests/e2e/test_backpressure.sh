#!/usr/bin/env bash
# test_backpressure.sh BUILD_DIR — a reader that never reads must not grow
# the daemons: the application writes through an echo upstream and never
# reads the echo back, so everything stalls and memory stays within the
# per-session bound (docs/ARCHITECTURE.md: about 4.5 MiB at the defaults).
# ASan's quarantine is kept small so RSS shows what the daemon holds.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}:quarantine_size_mb=1
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=90 e2e_init "$@"

start_upstream up echo
UP=$PORT
UPPID=$PID
start_server srv "$UP" "$CRYPTO"
SPID=$PID
start_client cli "$UDPPORT" "$CRYPTO"
CPID=$PID
CPORT=$PORT

rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$1/status"; }
base_c=$(rss $CPID)
base_s=$(rss $SPID)

# Write up to 512 MiB and never read: the writer blocks once every buffer
# on the way is full.
exec 3<>"/dev/tcp/127.0.0.1/$CPORT" || die "cannot connect to the client"
bg writer bash -c 'head -c 512M /dev/zero >&3'
WPID=$PID
sleep 6
mid_c=$(rss $CPID)
mid_s=$(rss $SPID)
sleep 4
end_c=$(rss $CPID)
end_s=$(rss $SPID)
check "the writer is still blocked: the tunnel pushed back" kill -0 $WPID
stop_tool "$UPPID"
bytes=$(field "$WORK/up.stats" bytes_in)
echo "    rss MiB client: $base_c -> $mid_c -> $end_c, server: $base_s -> $mid_s -> $end_s;" \
	"upstream received $((bytes / 1048576)) MiB of 512"
check "the upstream got a small part of it ($((bytes >> 20)) MiB)" \
	[ "$bytes" -lt $((256 << 20)) ]
check "client grew by at most 12 MiB ($base_c -> $end_c)" \
	[ $((end_c - base_c)) -le 12 ]
check "server grew by at most 12 MiB ($base_s -> $end_s)" \
	[ $((end_s - base_s)) -le 12 ]
check "client is not still growing ($mid_c -> $end_c)" [ $((end_c - mid_c)) -le 2 ]
check "server is not still growing ($mid_s -> $end_s)" [ $((end_s - mid_s)) -le 2 ]
exec 3>&-
stop_daemon cli "$CPID"
stop_daemon srv "$SPID"
e2e_finish
