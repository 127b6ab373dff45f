#!/usr/bin/env bash
# lab.sh — a two-namespace network lab with an emulated link between them,
# for benchmarking kcptun-libev on machines without netem. See
# contrib/bench/README-lab.md.
#
#   ns $LAB_NAME-a  198.18.0.1/24 2001:2::1/64  dev lk0 ─┐
#                                                        linkem (root ns)
#   ns $LAB_NAME-b  198.18.0.2/24 2001:2::2/64  dev lk0 ─┘
#
# CLI:     lab.sh up|down|check|status|stats|set|exec|run ...
# Library: source lab.sh; lab_up --rate 50 ...; lab_exec a CMD; lab_down
#
# Addresses come from the benchmarking ranges (198.18.0.0/15, RFC 2544;
# 2001:2::/48, RFC 5180): nothing in them routes anywhere, and the
# namespaces have no other interfaces, so lab traffic cannot leak.

LAB_NAME=${LAB_NAME:-kl}
LAB_A=$LAB_NAME-a
LAB_B=$LAB_NAME-b
LAB_IF=lk0
LAB_A_IP=198.18.0.1
LAB_B_IP=198.18.0.2
LAB_A_IP6=2001:2::1
LAB_B_IP6=2001:2::2
LAB_DIR=${LAB_DIR:-/run/kcptun-lab/$LAB_NAME}
LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Where linkem, loadgen and upstream were built (BUILD/tests/...).
LAB_BUILD=${LAB_BUILD:-$LAB_SRC/build}

lab__say() { echo "lab: $*" >&2; }

# Returns 77 (the "skipped" status) when we cannot make namespaces.
lab_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "the lab needs root (network namespaces)" >&2
		return 77
	fi
	if [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null; then
		echo "the lab needs /dev/net/tun and iproute2 (ip)" >&2
		return 77
	fi
}

lab__tool() {
	local t=$LAB_BUILD/tests/$1
	if [ ! -x "$t" ]; then
		lab__say "$t not built (set LAB_BUILD to the build directory)"
		return 1
	fi
	echo "$t"
}

lab_exec() {
	local side=${1:?usage: lab_exec a|b CMD...}
	shift
	case $side in
	a) ip netns exec "$LAB_A" "$@" ;;
	b) ip netns exec "$LAB_B" "$@" ;;
	*)
		lab__say "side must be a or b, not \"$side\""
		return 2
		;;
	esac
}

# Kills a pid we recorded: TERM, up to 2 s, then KILL.
lab__stop_pid() {
	local pid=$1 n=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null && [ $n -lt 40 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	kill -KILL "$pid" 2>/dev/null
	# Reap it if it is our child, so that bash does not announce the
	# death later; not our child: wait fails quietly.
	wait "$pid" 2>/dev/null
	return 0
}

# Removes everything of this lab; safe to call any number of times.
lab_down() {
	local ns pid
	if [ -f "$LAB_DIR/linkem.pid" ]; then
		pid=$(cat "$LAB_DIR/linkem.pid")
		# Only if it still is our linkem (pids get reused).
		if [ -n "$pid" ] && grep -qs linkem "/proc/$pid/comm"; then
			lab__stop_pid "$pid"
		fi
	fi
	for ns in "$LAB_A" "$LAB_B"; do
		[ -e "/run/netns/$ns" ] || continue
		# Whatever still runs inside was started in the lab (servers,
		# clients): stop each by its pid before removing the netns.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			lab__stop_pid "$pid"
		done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$LAB_DIR"
	return 0
}

lab__usage_up() {
	cat >&2 <<EOF
usage: lab.sh up [--rate MBIT] [--delay MS] [--loss P] [--jitter MS]
                 [--queue-ms MS | --queue-kb KB] [--reorder-ok] [--seed S]
                 [--trace FILE [--trace-ms MS]]
  --delay is one way (RTT = 2 x delay); --loss is a probability (0.05 = 5%).
  Each value may be A2B,B2A for an asymmetric link. Defaults: no rate
  limit, no delay, no loss; queue 100 ms at the rate. --trace: linkem
  appends a line every 100 ms (rate delivered, queue, drops per direction;
  see linkem --help); FILE must lie outside the lab's state directory.
EOF
}

# lab_up [options]: tears down leftovers, then builds the lab. On any
# failure or interruption on the way, everything is removed again.
lab_up() {
	lab_require_root || return $?
	local linkem args=() rate=0 delay=0 loss=0 jitter=0 queue=100ms
	linkem=$(lab__tool linkem) || return 1
	while [ $# -gt 0 ]; do
		case $1 in
		--reorder-ok)
			args+=("$1")
			shift
			continue
			;;
		--rate | --delay | --loss | --jitter | --queue-ms | --queue-kb | --seed | \
			--trace | --trace-ms)
			[ $# -ge 2 ] || {
				lab__usage_up
				return 2
			}
			;;
		*)
			lab__usage_up
			return 2
			;;
		esac
		case $1 in
		--rate) rate=$2 ;;
		--delay) delay=$2 ;;
		--loss) loss=$2 ;;
		--jitter) jitter=$2 ;;
		--queue-ms) queue=${2}ms ;;
		--queue-kb) queue=${2}KiB ;;
		esac
		args+=("$1" "$2")
		shift 2
	done
	local old_int old_term old_hup rc=0
	old_int=$(trap -p INT)
	old_term=$(trap -p TERM)
	old_hup=$(trap -p HUP)
	trap 'lab_down; exit 130' INT
	trap 'lab_down; exit 143' TERM HUP
	lab__build "$linkem" "${args[@]}" || rc=$?
	trap - INT TERM HUP
	eval "$old_int"
	eval "$old_term"
	eval "$old_hup"
	if [ $rc -ne 0 ]; then
		lab_down
		return $rc
	fi
	cat >"$LAB_DIR/params" <<EOF
rate=$rate
delay=$delay
loss=$loss
jitter=$jitter
queue=$queue
EOF
	lab__say "up: $LAB_A ($LAB_A_IP) <-> $LAB_B ($LAB_B_IP): rate $rate" \
		"Mbit/s, delay $delay ms one way, loss $loss, jitter $jitter ms," \
		"queue $queue"
}

lab__build() {
	local linkem=$1 ns side n
	shift
	lab_down
	mkdir -p "$LAB_DIR" || return 1
	for ns in "$LAB_A" "$LAB_B"; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
		# Room for a long fat pipe (100 Mbit/s x 600 ms RTT is 7.5 MB);
		# these TCP sysctls are per namespace.
		ip netns exec "$ns" sysctl -qw \
			net.ipv4.tcp_rmem="4096 131072 33554432" \
			net.ipv4.tcp_wmem="4096 16384 33554432" || return 1
	done
	setsid "$linkem" --a "$LAB_A:$LAB_IF" --b "$LAB_B:$LAB_IF" \
		--control "$LAB_DIR/control" --stats-file "$LAB_DIR/stats" \
		"$@" </dev/null >"$LAB_DIR/linkem.log" 2>&1 &
	echo $! >"$LAB_DIR/linkem.pid"
	for n in $(seq 100); do
		grep -qs '^linkem: ready' "$LAB_DIR/linkem.log" && break
		if ! kill -0 "$(cat "$LAB_DIR/linkem.pid")" 2>/dev/null; then
			lab__say "linkem failed:"
			cat "$LAB_DIR/linkem.log" >&2
			return 1
		fi
		sleep 0.05
	done
	grep -qs '^linkem: ready' "$LAB_DIR/linkem.log" || {
		lab__say "linkem did not get ready"
		return 1
	}
	for side in a b; do
		if [ $side = a ]; then
			ns=$LAB_A
			set -- "$LAB_A_IP" "$LAB_A_IP6"
		else
			ns=$LAB_B
			set -- "$LAB_B_IP" "$LAB_B_IP6"
		fi
		# A long device queue: it only fills while linkem is not
		# scheduled, and a drop there would pass for link loss.
		ip -n "$ns" link set "$LAB_IF" mtu 1500 txqueuelen 10000 up &&
			ip -n "$ns" addr add "$1/24" dev "$LAB_IF" &&
			ip -n "$ns" addr add "$2/64" dev "$LAB_IF" nodad ||
			return 1
	done
}

lab__need_up() {
	if [ ! -f "$LAB_DIR/linkem.pid" ] ||
		! kill -0 "$(cat "$LAB_DIR/linkem.pid")" 2>/dev/null; then
		lab__say "the lab $LAB_NAME is not up (lab.sh up ...)"
		return 1
	fi
}

# lab_set OPTIONS...: changes impairments of the running link, e.g.
# lab_set --loss 0.1 or lab_set --rate 20,5.
lab_set() {
	lab__need_up || return 1
	echo "$*" >"$LAB_DIR/control"
}

# Prints linkem's per-direction counters.
lab_stats() {
	lab__need_up || return 1
	rm -f "$LAB_DIR/stats"
	echo stats >"$LAB_DIR/control"
	local n
	for n in $(seq 40); do
		[ -s "$LAB_DIR/stats" ] && break
		sleep 0.05
	done
	cat "$LAB_DIR/stats"
}

lab_status() {
	lab__need_up || return 1
	cat "$LAB_DIR/params"
	lab_stats
	local ns
	for ns in "$LAB_A" "$LAB_B"; do
		echo "$ns: $(ip -n "$ns" -s link show "$LAB_IF" |
			awk '/TX:/{getline; print "device tx dropped", $4}')"
	done
}

# lab_run [up options] -- CMD...: runs CMD with the lab up, and takes the
# lab down afterwards whatever happens.
lab_run() {
	local up=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		up+=("$1")
		shift
	done
	[ "${1:-}" = -- ] && shift
	[ $# -gt 0 ] || {
		lab__say "usage: lab.sh run [up options] -- CMD..."
		return 2
	}
	lab_up "${up[@]}" || return $?
	# CMD runs in the background so that a signal reaches our trap at
	# once (bash runs traps only between foreground commands); it keeps
	# our stdin, and the trap stops it by its pid before the lab goes.
	local rc=0
	LAB__RUN_PID=
	trap 'lab__stop_pid "$LAB__RUN_PID"; lab_down' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	"$@" <&0 &
	LAB__RUN_PID=$!
	wait "$LAB__RUN_PID" || rc=$?
	return $rc
}

# ---- check: measure the link from outside ----------------------------------

# Helpers that lab_check started, stopped on every way out of it.
LAB__CHECK_PIDS=()

lab__check_cleanup() {
	local pid
	for pid in "${LAB__CHECK_PIDS[@]}"; do
		lab__stop_pid "$pid"
	done
	LAB__CHECK_PIDS=()
	# The TCP fallback switches loss off for the rate phase.
	if [ -n "${LAB__RESTORE:-}" ]; then
		lab_set "$LAB__RESTORE"
		LAB__RESTORE=
	fi
}

# lab__serve NAME CMD...: starts CMD in namespace b, sets LAB__PORT from
# its "listening on PORT" line.
lab__serve() {
	local name=$1 pid n
	shift
	: >"$LAB_DIR/$name.out"
	ip netns exec "$LAB_B" "$@" >"$LAB_DIR/$name.out" 2>&1 &
	pid=$!
	LAB__CHECK_PIDS+=("$pid")
	LAB__PORT=
	for n in $(seq 100); do
		LAB__PORT=$(awk '/^listening on /{print $3; exit}' \
			"$LAB_DIR/$name.out")
		[ -n "$LAB__PORT" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	lab__say "$name did not start: $(cat "$LAB_DIR/$name.out")"
	return 1
}

lab__first() { echo "${1%%,*}"; }
lab__second() { echo "${1##*,}"; }
# awk arithmetic: lab__calc 'expr' [name=value...]
lab__calc() {
	local e=$1
	shift
	awk "$@" "BEGIN { print ($e) }" </dev/null
}

# The "stat" field of linkem's counter line for direction dir (a>b, b>a).
lab__counter() {
	awk -v d="$1" -v k="$2" '$1 == d {
		for (i = 2; i < NF; i += 2) if ($i == k) print $(i + 1) }' \
		"$LAB_DIR/stats"
}

lab__tx_dropped() {
	local total=0 ns d
	for ns in "$LAB_A" "$LAB_B"; do
		d=$(ip -n "$ns" -s link show "$LAB_IF" |
			awk '/TX:/{getline; print $4; exit}')
		total=$((total + ${d:-0}))
	done
	echo $total
}

# Loss: datagrams to an echo in b and back. Both directions roll, so the
# round trip delivers (1-p)^2; the per-direction figure is 1 - sqrt(that).
lab__check_loss() {
	local upstream loadgen n=$1 size rate out sent got
	upstream=$(lab__tool upstream) || return 1
	loadgen=$(lab__tool loadgen) || return 1
	# loadgen paces 10k datagrams/s: keep that under half the slower
	# direction's rate, or the queue rather than the dice would drop.
	rate=$(lab__calc "($RATE_AB < $RATE_BA ? $RATE_AB : $RATE_BA)")
	size=1000
	if [ "$(lab__calc "$rate > 0")" = 1 ]; then
		size=$(lab__calc "int($rate * 1e6 / 8 / 10000 / 2) - 28")
		[ "$size" -gt 1000 ] && size=1000
		[ "$size" -lt 8 ] && size=8
	fi
	lab__serve echo "$upstream" --listen "$LAB_B_IP:0" --mode udpecho \
		--timeout 300 || return 1
	echo reset >"$LAB_DIR/control"
	out=$(lab_exec a "$loadgen" --connect "$LAB_B_IP:$LAB__PORT" \
		--mode udp --conns "$n" --up-size "$size" --expect-min 0 \
		--timeout "$(lab__calc "int($n / 10000 + $RTT_ASKED / 1000 + 10)")")
	read -r sent got <<<"$(echo "$out" |
		awk '{ for (i = 1; i < NF; i++) {
			if ($i == "sent") s = $(i + 1)
			if ($i == "received") r = $(i + 1) }
		} END { gsub(",", "", s); print s + 0, r + 0 }')"
	if [ "${sent:-0}" -eq 0 ]; then
		lab__say "loss: loadgen failed: $out"
		return 1
	fi
	lab_stats >/dev/null
	LAB_LOSS_RT_PCT=$(lab__calc "100 * (1 - $got / $sent)")
	LAB_LOSS_PCT=$(lab__calc "100 * (1 - sqrt($got / $sent))")
	local ab ba
	ab=$(lab__calc "100 * $(lab__counter 'a>b' lost) / ($(lab__counter 'a>b' in) + 1e-9)")
	ba=$(lab__calc "100 * $(lab__counter 'b>a' lost) / ($(lab__counter 'b>a' in) + 1e-9)")
	printf 'loss: %.2f%% per direction (round trip %.2f%% of %d datagrams of %d B; asked %s; linkem rolled a>b %.2f%% b>a %.2f%%)\n' \
		"$LAB_LOSS_PCT" "$LAB_LOSS_RT_PCT" "$sent" "$size" \
		"$LOSS_ASKED" "$ab" "$ba"
}

# RTT: ping's average, or half of TCP open + one echo (two round trips).
lab__check_rtt() {
	local out deadline
	deadline=$(lab__calc "int($RTT_ASKED / 1000 * 2 + 5)")
	if [ -z "${LAB_NO_PING:-}" ] && command -v ping >/dev/null; then
		# The median, not ping's mean: on a busy machine one
		# descheduled echo would move the mean of 20 by milliseconds.
		out=$(lab_exec a ping -n -c 20 -i 0.05 -w "$deadline" \
			"$LAB_B_IP" 2>&1)
		LAB_RTT_MS=$(echo "$out" | sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' |
			sort -n | awk '{ v[NR] = $1 }
			END { if (NR) print (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }')
		LAB_RTT_HOW="median of $(echo "$out" | grep -c ' time=') pings, mean $(echo "$out" | awk -F/ '/^rtt/{print $5}')"
	else
		local upstream loadgen
		upstream=$(lab__tool upstream) || return 1
		loadgen=$(lab__tool loadgen) || return 1
		lab__serve lat "$upstream" --listen "$LAB_B_IP:0" --mode echo \
			--timeout 300 || return 1
		out=$(lab_exec a "$loadgen" --connect "$LAB_B_IP:$LAB__PORT" \
			--mode latency --conns 20 --timeout $((deadline * 10)))
		LAB_RTT_MS=$(echo "$out" | awk '/^open latency/{print $4 / 2}')
		LAB_RTT_HOW="TCP open + echo median / 2, no ping installed"
	fi
	if [ -z "$LAB_RTT_MS" ]; then
		lab__say "rtt: no answer: $out"
		return 1
	fi
	printf 'rtt: %.1f ms (asked %s; %s)\n' "$LAB_RTT_MS" "$RTT_ASKED" \
		"$LAB_RTT_HOW"
}

# Rate a->b at the IP level (what linkem's rate limits). With iperf3: a UDP
# flood above the rate, the receiver's median half-second interval (the
# first ones include the delay and slow start of nothing, the flood is
# steady). Without: a TCP bulk transfer with loss switched off, since TCP
# under random loss measures its congestion control, not the link.
lab__check_rate() {
	local secs=$1 out mbit
	if [ "$(lab__calc "$RATE_AB > 0")" != 1 ]; then
		LAB_RATE_MBIT=
		echo "rate: unlimited (not measured)"
		return 0
	fi
	if [ -z "${LAB_NO_IPERF3:-}" ] && command -v iperf3 >/dev/null; then
		local offered port=5201 pid n
		offered=$(lab__calc "$RATE_AB * 1.3 / (1 - ($LOSS_AB < 0.5 ? $LOSS_AB : 0.5))")
		lab_exec b iperf3 -s -1 -B "$LAB_B_IP" -p $port -i 0.5 -f m \
			>"$LAB_DIR/iperf3-s.out" 2>&1 &
		pid=$!
		LAB__CHECK_PIDS+=("$pid")
		for n in $(seq 100); do
			lab_exec b ss -Hltn "sport = :$port" | grep -q . && break
			sleep 0.05
		done
		out=$(lab_exec a timeout $((secs + 20)) iperf3 -c "$LAB_B_IP" \
			-p $port -u -b "${offered}M" -l 1400 -t "$secs" -f m 2>&1)
		for n in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		# Interval lines before the summary separator; UDP payload
		# 1400 B is 1428 B of IP packet.
		mbit=$(awk '/^- - -/{exit}
			/Mbits\/sec/ && $3 ~ /-/ { for (i = 1; i < NF; i++)
				if ($(i + 1) == "Mbits/sec") print $i }' \
			"$LAB_DIR/iperf3-s.out" | sort -n |
			awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] * 1428 / 1400 }')
		LAB_RATE_HOW="iperf3 UDP at ${offered%.*} Mbit/s, receiver median of 0.5 s intervals, IP level"
	else
		local upstream loadgen bytes
		upstream=$(lab__tool upstream) || return 1
		loadgen=$(lab__tool loadgen) || return 1
		bytes=$(lab__calc "int($RATE_AB * 1e6 / 8 * $secs)")
		lab__serve bulk "$upstream" --listen "$LAB_B_IP:0" \
			--mode sinksource --timeout 300 || return 1
		LAB__RESTORE="--loss $loss"
		lab_set --loss 0
		out=$(lab_exec a "$loadgen" --connect "$LAB_B_IP:$LAB__PORT" \
			--mode bulk --up-size "$bytes" \
			--timeout $((secs * 4 + 30)))
		lab_set "$LAB__RESTORE"
		LAB__RESTORE=
		# MiB/s of TCP payload; 1448 B per 1500 B packet.
		mbit=$(echo "$out" | awk '/bulk ok/{print $(NF - 1) * 8 * 1.048576 * 1500 / 1448}')
		LAB_RATE_HOW="TCP bulk with loss off (no iperf3), IP level; includes slow start"
	fi
	if [ -z "$mbit" ]; then
		lab__say "rate: no result: $out"
		return 1
	fi
	LAB_RATE_MBIT=$mbit
	printf 'rate: %.1f Mbit/s a>b (asked %s; %s)\n' "$mbit" "$RATE_AB" \
		"$LAB_RATE_HOW"
}

# lab_check [--quick]: measures loss, RTT and rate through the lab and
# prints them against what was asked. Leaves LAB_LOSS_PCT (per direction),
# LAB_RTT_MS and LAB_RATE_MBIT (a>b) set for a caller that sourced us.
lab_check() {
	lab__need_up || return 1
	local n=10000 secs=4 rc=0 drops0 drops
	[ "${1:-}" = --quick ] && n=5000 secs=3
	local rate delay loss jitter queue
	# shellcheck disable=SC1091
	. "$LAB_DIR/params"
	RATE_AB=$(lab__first "$rate")
	RATE_BA=$(lab__second "$rate")
	LOSS_AB=$(lab__first "$loss")
	LOSS_ASKED=$loss
	case $loss in
	*,*) ;;
	*) LOSS_ASKED=$(lab__calc "100 * $loss")% ;;
	esac
	RTT_ASKED=$(lab__calc "$(lab__first "$delay") + $(lab__second "$delay")")
	LAB_LOSS_PCT="" LAB_RTT_MS="" LAB_RATE_MBIT=""
	local old_int old_term
	old_int=$(trap -p INT)
	old_term=$(trap -p TERM)
	trap 'lab__check_cleanup; exit 130' INT
	trap 'lab__check_cleanup; exit 143' TERM
	drops0=$(lab__tx_dropped)
	lab__check_loss "$n" || rc=1
	lab__check_rtt || rc=1
	lab__check_rate "$secs" || rc=1
	drops=$(($(lab__tx_dropped) - drops0))
	lab__check_cleanup
	trap - INT TERM
	eval "$old_int"
	eval "$old_term"
	echo "host drops: $drops (TUN device queues; should be 0)"
	printf 'loss %.1f%% (asked %s), rtt %.1f ms (asked %s), rate %s Mbit/s (asked %s)\n' \
		"${LAB_LOSS_PCT:-nan}" "$LOSS_ASKED" \
		"${LAB_RTT_MS:-nan}" "$RTT_ASKED" \
		"$(printf '%.1f' "${LAB_RATE_MBIT:-nan}")" "$RATE_AB"
	return $rc
}

lab__main() {
	local cmd=${1:-}
	[ $# -gt 0 ] && shift
	case $cmd in
	up | down | check | exec | run | set | stats | status)
		lab_require_root || exit $?
		;;
	esac
	case $cmd in
	up) lab_up "$@" ;;
	down) lab_down ;;
	check) lab_check "$@" ;;
	exec) lab_exec "$@" ;;
	run) lab_run "$@" ;;
	set) lab_set "$@" ;;
	stats) lab_stats ;;
	status) lab_status ;;
	*)
		cat >&2 <<EOF
usage: lab.sh COMMAND
  up [--rate MBIT] [--delay MS] [--loss P] [--jitter MS] [--queue-ms MS]
     [--queue-kb KB] [--reorder-ok] [--seed S] [--trace FILE]
                       build the lab (tearing down leftovers first)
  down                 remove namespaces and stop linkem
  check [--quick]      measure loss, RTT and rate through the lab
  exec a|b CMD...      run CMD in namespace a ($LAB_A_IP) or b ($LAB_B_IP)
  set OPTIONS...       change impairments live (same options as up)
  stats | status       linkem's counters (and the parameters)
  run [up options] -- CMD...   up, run CMD, down (on any exit)
env: LAB_NAME ($LAB_NAME), LAB_BUILD ($LAB_BUILD)
EOF
		exit 2
		;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	lab__main "$@"
fi
