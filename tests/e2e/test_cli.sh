#!/usr/bin/env bash
# test_cli.sh BUILD_DIR — command line and config validation: usage and
# exit codes, --version/--genpsk/--list-methods, bad configs name the
# field, the shipped sample configs start and stop cleanly.
source "$(dirname "$0")/lib.sh"
E2E_LIMIT=120 e2e_init "$@"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

echo "== options"
run help -t 10 "$D" --help
check "--help exits 0" [ $RC -eq 0 ]
check "--help shows usage" grep -q '^usage:' "$WORK/help.log"

timeout 10 "$D" --bogus >"$WORK/bogus.out" 2>"$WORK/bogus.err"
RC=$?
check "unknown option exits 2 (got $RC)" [ $RC -eq 2 ]
check "unknown option: usage on stderr" grep -q '^usage:' "$WORK/bogus.err"
check "unknown option: named on stderr" grep -q -- '--bogus' "$WORK/bogus.err"
check "unknown option: nothing on stdout" [ ! -s "$WORK/bogus.out" ]

timeout 10 "$D" -c >"$WORK/noarg.out" 2>"$WORK/noarg.err"
RC=$?
check "-c without argument exits 2 (got $RC)" [ $RC -eq 2 ]
check "-c without argument: usage on stderr" grep -q '^usage:' "$WORK/noarg.err"

timeout 10 "$D" >"$WORK/none.out" 2>"$WORK/none.err"
RC=$?
check "no arguments exits 2 (got $RC)" [ $RC -eq 2 ]

run version -t 10 "$D" --version
check "--version exits 0" [ $RC -eq 0 ]
check "--version mentions the protocol" grep -q -i 'protocol [0-9]' "$WORK/version.log"

timeout 10 "$D" --genpsk xchacha20poly1305_ietf >"$WORK/psk1" 2>&1
RC=$?
timeout 10 "$D" --genpsk xchacha20poly1305_ietf >"$WORK/psk2" 2>&1
check "--genpsk exits 0" [ $RC -eq 0 ]
check "--genpsk prints 44 chars of base64: $(cat "$WORK/psk1")" \
	grep -q -x -E '[A-Za-z0-9+/]{43}=' "$WORK/psk1"
check "--genpsk decodes to 32 bytes" \
	[ "$(base64 -d "$WORK/psk1" | wc -c)" = 32 ]
check "--genpsk is random" ! cmp -s "$WORK/psk1" "$WORK/psk2"
timeout 10 "$D" --genpsk rot13 >"$WORK/psk3" 2>&1
RC=$?
check "--genpsk rejects an unknown method (rc $RC)" [ $RC -ne 0 ]
check "--genpsk rot13 prints no key" ! grep -q -E '^[A-Za-z0-9+/]{43}=$' "$WORK/psk3"
timeout 10 "$D" --genpsk >/dev/null 2>&1
RC=$?
check "--genpsk without method exits 2 (got $RC)" [ $RC -eq 2 ]

run methods -t 10 "$D" --list-methods
check "--list-methods exits 0" [ $RC -eq 0 ]
check "--list-methods lists xchacha20poly1305_ietf" \
	grep -q -x xchacha20poly1305_ietf "$WORK/methods.log"

echo "== bad configs exit 1 naming the problem"
# badconf NAME REGEX: the config $WORK/NAME.json must be refused with
# exit 1 and a message matching REGEX.
badconf() {
	timeout 10 "$D" -c "$WORK/$1.json" >"$WORK/$1.out" 2>&1
	local rc=$?
	sed 's/^/    | /' "$WORK/$1.out" | head -3
	if [ $rc -eq 1 ] && grep -q -E "$2" "$WORK/$1.out"; then
		ok "$1 refused"
	else
		fail "$1: rc $rc, want 1 and /$2/"
	fi
}
P1=$(free_port)
P2=$(free_port)
printf '{\n\t"listen": "127.0.0.1:%s",\n\t"udp_connect" "127.0.0.1:%s"\n}\n' \
	"$P1" "$P2" >"$WORK/syntax.json"
badconf syntax 'syntax\.json:3:[0-9]+:.*syntax error'
echo "{\"listen\": \"127.0.0.1:$P1\", \"udp_connect\": \"127.0.0.1:$P2\",
	\"kcp\": {\"mtu\": 99}}" >"$WORK/range.json"
badconf range '"kcp\.mtu".*99.*range'
echo "{\"listen\": \"127.0.0.1:$P1\", \"udp_connect\": \"127.0.0.1:$P2\",
	\"timeout\": 5}" >"$WORK/range2.json"
badconf range2 '"timeout".*5.*range'
echo "{\"listen\": \"127.0.0.1:$P1\", \"udp_connect\": \"127.0.0.1:$P2\",
	\"kcp\": {\"nodelay\": \"yes\"}}" >"$WORK/type.json"
badconf type '"kcp\.nodelay".*integer'
echo "{\"listen\": \"127.0.0.1:$P1\"}" >"$WORK/mode.json"
badconf mode '"listen".*"udp_connect"'
echo "{\"listen\": \"127.0.0.1:$P1\", \"udp_connect\": \"127.0.0.1:$P2\",
	\"method\": \"rot13\", \"psk\": \"$PSK\"}" >"$WORK/method.json"
badconf method '"method".*rot13'
echo "{\"listen\": \"127.0.0.1:$P1\", \"udp_connect\": \"127.0.0.1:$P2\",
	\"method\": \"xchacha20poly1305_ietf\", \"psk\": \"abc\"}" >"$WORK/psk.json"
badconf psk 'psk'
echo "{\"listen\": \"127.0.0.1:$P1\", \"udp_connect\": \"127.0.0.1:$P2\",
	\"method\": \"xchacha20poly1305_ietf\"}" >"$WORK/nokey.json"
badconf nokey 'psk|password'
echo "{\"listen\": \"127.0.0.1:99999\", \"udp_connect\": \"127.0.0.1:$P2\"}" \
	>"$WORK/port.json"
badconf port '"listen"'
: >"$WORK/empty.json"
badconf empty 'config'
timeout 10 "$D" -c "$WORK/missing.json" >"$WORK/missing.out" 2>&1
RC=$?
sed 's/^/    | /' "$WORK/missing.out" | head -3
check "unknown file: exit 1 naming the path (rc $RC)" eval \
	'[ $RC -eq 1 ] && grep -q "missing\.json.*No such file" "$WORK/missing.out"'

echo "== an unknown key is only a warning"
UP=$(free_port)
U=$(free_port)
echo "{\"udp_bind\": \"127.0.0.1:$U\", \"connect\": \"127.0.0.1:$UP\",
	\"kcp\": {\"mut\": 1400}, \"loglevel\": 2}" >"$WORK/typo.json"
if start_daemon typo "$WORK/typo.json" u "$U"; then
	check "typo warned with a suggestion" grep -q '"kcp.mut".*"kcp.mtu"' "$WORK/typo.log"
	stop_daemon typo "$PID"
else
	fail "config with an unknown key did not start: $(tail -2 "$WORK/typo.log")"
fi

echo "== the sample configs start and stop (on free ports)"
# The samples use 1080/17000/8080; the copies get free ports instead
# (word-bounded so that nothing else in the file changes).
P_LISTEN=$(free_port)
P_UDP=$(free_port)
P_UP=$(free_port)
for f in client server; do
	[ -f "$SRC/$f.json" ] || die "$SRC/$f.json missing"
	sed -e "s/:1080\b/:$P_LISTEN/g" -e "s/:17000\b/:$P_UDP/g" \
		-e "s/:8080\b/:$P_UP/g" "$SRC/$f.json" >"$WORK/sample_$f.json"
	# the copy must really differ (else it would use the fixed ports)
	check "sample $f.json: ports replaced" eval \
		"[ \$(diff '$SRC/$f.json' '$WORK/sample_$f.json' | grep -c '^>') -ge 1 ]"
done
if start_daemon sample_server "$WORK/sample_server.json" u "$P_UDP"; then
	SPID=$PID
	if start_daemon sample_client "$WORK/sample_client.json" t "$P_LISTEN"; then
		CPID=$PID
		# the pair works: an echo through the sample tunnel
		# the upstream port is fixed by the sample: start echo on it
		"$T/upstream" --listen 127.0.0.1:$P_UP --mode echo --timeout 60 \
			>"$WORK/echo2.out" 2>&1 &
		EPID=$!
		register echo2 "$EPID"
		wait_listen t "$P_UP" "$EPID" || fail "echo on $P_UP did not start"
		run lat -t 30 "$T/loadgen" --connect 127.0.0.1:$P_LISTEN \
			--mode latency --conns 5 --timeout 20
		check "echo through the sample pair (rc $RC)" [ $RC -eq 0 ]
		stop_tool "$EPID"
		stop_daemon sample_client "$CPID"
	else
		fail "sample client did not start: $(tail -2 "$WORK/sample_client.log")"
	fi
	stop_daemon sample_server "$SPID"
else
	fail "sample server did not start: $(tail -2 "$WORK/sample_server.log")"
fi

e2e_finish
