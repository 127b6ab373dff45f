#!/bin/bash
# ab.sh OLD_BUILD NEW_BUILD [REPS] [METHOD]: is a loopback figure that moved
# the code or the machine? One 1 GiB upload through each build's tunnel,
# the builds taking turns REPS times (default 3), so that a change in the
# shared machine's speed hits both alike. Shipped windows and mtu, METHOD
# (default xchacha20poly1305_ietf) with a throwaway key; prints loadgen's
# line per run. Each BUILD is a CMake build directory holding kcptun-libev
# and tests/{upstream,loadgen} (e.g. a `git worktree` of the old commit
# built in Release).
set -u
OLD=${1:?usage: $0 OLD_BUILD NEW_BUILD [REPS] [METHOD]}
NEW=${2:?usage: $0 OLD_BUILD NEW_BUILD [REPS] [METHOD]}
REPS=${3:-3}
METHOD=${4:-xchacha20poly1305_ietf}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=contrib/bench/lib.sh
. "$HERE/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kcptun-ab.XXXXXX") || exit 1
PIDS=()
trap cleanup EXIT

SVC=$(free_port) UDP=$(free_port) LISTEN=$(free_port)
KEY=$("$NEW/kcptun-libev" --genpsk "$METHOD" 2>/dev/null)
[ "$METHOD" = none ] && KEY=
conf() { # FILE BODY: a config with the shipped kcp settings
	printf '{%s, "method": "%s"%s, "kcp": {"mtu": 1400, "sndwnd": 1024, "rcvwnd": 1024}, "loglevel": 1}\n' \
		"$2" "$METHOD" "${KEY:+, \"psk\": \"$KEY\"}" >"$1"
}
conf "$WORK/s.json" "\"udp_bind\": \"127.0.0.1:$UDP\", \"connect\": \"127.0.0.1:$SVC\""
conf "$WORK/c.json" "\"listen\": \"127.0.0.1:$LISTEN\", \"udp_connect\": \"127.0.0.1:$UDP\""

one() { # BUILD LABEL
	local b=$1 u s c
	"$b/tests/upstream" --listen "127.0.0.1:$SVC" --mode sinksource \
		--timeout 90 >/dev/null 2>&1 &
	u=$!
	"$b/kcptun-libev" -c "$WORK/s.json" 2>>"$WORK/err" &
	s=$!
	"$b/kcptun-libev" -c "$WORK/c.json" 2>>"$WORK/err" &
	c=$!
	PIDS+=("$u" "$s" "$c")
	if ! wait_port "$SVC" "$u" || ! wait_port "$LISTEN" "$c"; then
		warn "$2: did not start (see $WORK/err)"
		return 1
	fi
	printf '%s: ' "$2"
	"$b/tests/loadgen" --connect "127.0.0.1:$LISTEN" --mode bulk \
		--up-size 1G --timeout 60 2>&1 | tail -n 1
	stop "$s" "$c" "$u"
}

for i in $(seq "$REPS"); do
	one "$OLD" "old $i"
	one "$NEW" "new $i"
done
