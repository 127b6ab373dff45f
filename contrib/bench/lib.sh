# lib.sh — helpers shared by bench.sh and lossy.sh (sourced, not run).
#
# Process bookkeeping, free ports, starting a tunnel pair (ours or Go
# kcptun) in front of a test service, and the measurement primitives that
# every table is built from. Callers set BUILD, SRC, WORK, TSV before use.
# shellcheck shell=bash
# shellcheck disable=SC2034 # M_*, PAIR_*, PID, PORT: read by the caller

PIDS=()    # everything we started and have not stopped yet
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

say() { printf '%s\n' "$*"; }
warn() { printf 'bench: %s\n' "$*" >&2; }
die() {
	warn "$*"
	exit 1
}

# cleanup: SIGTERM everything still listed, then SIGKILL stragglers. Run
# from the EXIT trap, so every exit path (error, timeout, Ctrl-C) ends here.
# shellcheck disable=SC2317 # reached through the trap
cleanup() {
	local pid n
	trap '' INT TERM HUP
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for _ in $(seq 40); do
		local alive=0
		for pid in "${PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive -eq 0 ] && break
		sleep 0.05
	done
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	PIDS=()
	[ -n "${CLEANUP_EXTRA:-}" ] && $CLEANUP_EXTRA
	[ -n "${WORK:-}" ] && [ -z "${BENCH_KEEP:-}" ] && rm -rf "$WORK"
	return 0
}

forget() { # PID: drop from PIDS (it was stopped)
	local keep=() p
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# stop PID...: SIGTERM, wait up to 3 s, then SIGKILL; reaps and forgets.
stop() {
	local pid n
	for pid in "$@"; do
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "$@"; do
		[ -n "$pid" ] || continue
		n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 60 ]; do
			sleep 0.05
			n=$((n + 1))
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		forget "$pid"
	done
	return 0
}

# port_in_use PORT: a TCP or UDP socket is bound to PORT.
port_in_use() {
	local hex
	hex=$(printf ':%04X ' "$1")
	# grep the files directly: with pipefail, "cat | grep -q" fails when
	# grep quits early and cat dies of SIGPIPE
	grep -qs "$hex" /proc/net/tcp /proc/net/tcp6 /proc/net/udp \
		/proc/net/udp6
}

# free_port: a port in 20000..59999 nobody uses now (another program may
# still take it before we bind: starters retry).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		port_in_use "$p" || break
	done
	echo "$p"
}

# wait_port PORT PID: until PORT is bound (true) or PID dies / 5 s (false).
wait_port() {
	local n
	for _ in $(seq 100); do
		port_in_use "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# cpu_ticks PID...: utime+stime of the processes, in clock ticks (fields
# 14 and 15 of /proc/PID/stat, counted after the ")" closing the name).
cpu_ticks() {
	local pid sum=0 t
	for pid in "$@"; do
		[ -n "$pid" ] || continue # (/proc//stat would be /proc/stat)
		t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null |
			awk '{print $12 + $13}')
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# kib PID FIELD: VmRSS / VmHWM of PID in KiB.
kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null; }

nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

fmt() { # fmt %s VALUE: the value, or "-" when there is none
	if [ -z "$2" ]; then echo "-"; else echo "$2"; fi
}
calc() { # EXPR: integers as integers, else 4 significant digits
	LC_ALL=C awk "BEGIN { v = $1; if (v == int(v)) printf \"%d\", v;
		else printf \"%.4g\", v }" 2>/dev/null
}
ratio() { # A B: A/B to 2 decimals, "-" if either is missing or B is 0
	if [ -z "$1" ] || [ -z "$2" ] || [ "$1" = "-" ] || [ "$2" = "-" ]; then
		echo "-"
		return
	fi
	LC_ALL=C awk -v a="$1" -v b="$2" \
		'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'
}

# rec SECTION CONTENDER VARIANT CIPHER METRIC VALUE UNIT [NOTE]: one raw
# number into the TSV and into R["SECTION/CONTENDER/VARIANT/CIPHER/METRIC"].
declare -A R
rec() {
	R["$1/$2/$3/$4/$5"]=$6
	[ -n "${8:-}" ] && R["$1/$2/$3/$4/$5/note"]=$8
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" \
		"$6" "$7" "${8:-}" >>"$TSV"
}
get() { echo "${R["$1"]:-}"; }

# tool NAME BIN ARGS...: a test tool listening on port 0; sets PID, PORT.
tool() {
	local name=$1 bin=$2 pid n
	shift 2
	: >"$WORK/$name.out"
	"$BUILD/tests/$bin" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	pid=$!
	PIDS+=("$pid")
	PID=$pid
	PORT=''
	for _ in $(seq 200); do
		PORT=$(awk '/^listening on /{print $3; exit}' "$WORK/$name.out")
		[ -n "$PORT" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$WORK/$name.err" >&2
	die "$name did not start"
}

# set_str FILE KEY VALUE: the string value of "KEY" in a sample config (it
# has // comments, so sed rather than a JSON tool); fails if KEY is absent.
set_str() {
	sed -i "s|\"$2\": \"[^\"]*\"|\"$2\": \"$3\"|" "$1"
	grep -q "\"$2\": \"$3\"" "$1"
}
# set_kcp FILE KEY N: an integer inside the "kcp" object: replaced when the
# sample has it, else added as the object's first member.
set_kcp() {
	if grep -q "\"$2\": [0-9]" "$1"; then
		sed -i "s|\"$2\": [0-9]*|\"$2\": $3|" "$1"
	else
		sed -i "s|\"kcp\": {|\"kcp\": { \"$2\": $3,|" "$1"
	fi
	grep -q "\"$2\": $3" "$1"
}

# Variants of our shipped configs. "sample" changes only addresses, key and
# method; the others are the tunings a user would try first for speed.
# ours_variant_edit FILE VARIANT
ours_variant_edit() {
	case $2 in
	sample) ;;
	w4096) set_kcp "$1" sndwnd 4096 && set_kcp "$1" rcvwnd 4096 ;;
	w4096nc)
		set_kcp "$1" sndwnd 4096 && set_kcp "$1" rcvwnd 4096 &&
			set_kcp "$1" nc 1
		;;
	*) return 1 ;;
	esac
}
ours_variant_desc() {
	case $1 in
	sample) echo "shipped client.json/server.json (ports and key replaced)" ;;
	w4096) echo "sample + kcp.sndwnd = kcp.rcvwnd = 4096" ;;
	w4096nc) echo "sample + windows 4096 + kcp.nc = 1 (no congestion window)" ;;
	esac
}

# Go kcptun flag sets. Compression is off everywhere (--nocomp): the test
# data is pseudo-random, and our tunnel does not compress either.
go_variant_args() {
	case $1 in
	default) echo "--mode fast" ;; # kcptun's defaults: wnd 128/512, FEC 10+3
	tuned) echo "--mode fast3 --sndwnd 2048 --rcvwnd 2048 --ds 0 --ps 0 --mtu 1400" ;;
	*) return 1 ;;
	esac
}
go_variant_desc() {
	case $1 in
	default) echo "--mode fast (defaults: sndwnd 128, rcvwnd 512, mtu 1350, FEC 10+3) --nocomp" ;;
	tuned) echo "--mode fast3 --sndwnd 2048 --rcvwnd 2048 --ds 0 --ps 0 (FEC off) --mtu 1400 --nocomp" ;;
	esac
}
# Our method -> the Go --crypt compared with it. Go kcptun has no AEAD:
# "aes" is AES-256-CFB with a CRC32 (no authentication, no replay guard).
go_crypt() {
	case $1 in
	none) echo none ;;
	*) echo aes ;;
	esac
}

# pair_start KIND NAME CIPHER VARIANT UPSTREAM_PORT: a tunnel server in
# front of 127.0.0.1:UPSTREAM_PORT and a client to it. KIND is ours or go.
# Sets PAIR_PORT (the client's TCP port), PAIR_S, PAIR_C (pids).
pair_start() {
	local kind=$1 name=$2 cipher=$3 variant=$4 up=$5 try
	for _ in 1 2 3 4 5; do
		if "${kind}_pair_try" "$name" "$cipher" "$variant" "$up"; then
			return 0
		fi
	done
	die "$name: the $kind tunnel did not start (logs in $WORK)"
}

PSK_CACHE=''
ours_pair_try() {
	local name=$1 cipher=$2 variant=$3 up=$4 sp cp s c m
	[ -n "$PSK_CACHE" ] ||
		PSK_CACHE=$("$DAEMON" --genpsk xchacha20poly1305_ietf) ||
		die "--genpsk failed"
	sp=$(free_port)
	cp=$(free_port)
	for s in server client; do
		cp "$SRC/$s.json" "$WORK/$name.$s.json"
		if ! { set_str "$WORK/$name.$s.json" psk "$PSK_CACHE" &&
			set_str "$WORK/$name.$s.json" method "$cipher" &&
			ours_variant_edit "$WORK/$name.$s.json" "$variant"; }; then
			die "cannot derive $name.$s.json from $s.json"
		fi
	done
	if ! { set_str "$WORK/$name.server.json" udp_bind "127.0.0.1:$sp" &&
		set_str "$WORK/$name.server.json" connect "127.0.0.1:$up" &&
		set_str "$WORK/$name.client.json" listen "127.0.0.1:$cp" &&
		set_str "$WORK/$name.client.json" udp_connect "127.0.0.1:$sp"; }; then
		die "cannot set the addresses of $name"
	fi
	"$DAEMON" -c "$WORK/$name.server.json" 2>"$WORK/$name.server.log" &
	s=$!
	PIDS+=("$s")
	"$DAEMON" -c "$WORK/$name.client.json" 2>"$WORK/$name.client.log" &
	c=$!
	PIDS+=("$c")
	for _ in $(seq 100); do
		if grep -q "started as" "$WORK/$name.server.log" &&
			grep -q "started as" "$WORK/$name.client.log"; then
			PAIR_PORT=$cp PAIR_S=$s PAIR_C=$c
			return 0
		fi
		if ! kill -0 "$s" 2>/dev/null || ! kill -0 "$c" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	stop "$s" "$c"
	grep -q "in use" "$WORK/$name.server.log" "$WORK/$name.client.log" ||
		{ tail -n 3 "$WORK/$name".*.log >&2; die "$name did not start"; }
	return 1
}

go_pair_try() {
	local name=$1 cipher=$2 variant=$3 up=$4 sp cp s c args crypt
	args=$(go_variant_args "$variant") || die "unknown Go variant $variant"
	crypt=$(go_crypt "$cipher")
	sp=$(free_port)
	cp=$(free_port)
	# shellcheck disable=SC2086 # args is a flag list
	kcptun-server -l "127.0.0.1:$sp" -t "127.0.0.1:$up" --key benchkey \
		--crypt "$crypt" --nocomp --quiet $args \
		2>"$WORK/$name.server.log" &
	s=$!
	PIDS+=("$s")
	# shellcheck disable=SC2086
	kcptun-client -l "127.0.0.1:$cp" -r "127.0.0.1:$sp" --key benchkey \
		--crypt "$crypt" --nocomp --quiet $args \
		2>"$WORK/$name.client.log" &
	c=$!
	PIDS+=("$c")
	if wait_port "$sp" "$s" && wait_port "$cp" "$c"; then
		PAIR_PORT=$cp PAIR_S=$s PAIR_C=$c
		return 0
	fi
	stop "$s" "$c"
	return 1
}

# The measurements. Each runs against a pair started by the caller and sets
# M_* variables; CPU is utime+stime of both tunnel processes during the run.

# m_bulk PORT SIZE: loadgen bulk, one connection, byte count checked at the
# far end. M_OK yes/no, M_RATE MiB/s, M_MIB, M_CPU s/GiB.
m_bulk() {
	local port=$1 size=$2 t0 t1 line
	local c0 c1
	t0=$(cpu_ticks "$PAIR_S")
	c0=$(cpu_ticks "$PAIR_C")
	timeout -k 2 "$((TMO + 5))" "$BUILD/tests/loadgen" \
		--connect "127.0.0.1:$port" --mode bulk --up-size "$size" \
		--timeout "$TMO" >"$WORK/last.txt" 2>&1
	M_RC=$?
	t1=$(cpu_ticks "$PAIR_S")
	c1=$(cpu_ticks "$PAIR_C")
	# the split shows which end saturates first
	M_CPU_S=$(cpu_per_gib "$((t1 - t0))" "$(awk '{print $4}' <<<"$(grep '^loadgen: bulk' "$WORK/last.txt")")")
	M_CPU_C=$(cpu_per_gib "$((c1 - c0))" "$(awk '{print $4}' <<<"$(grep '^loadgen: bulk' "$WORK/last.txt")")")
	t0=$((t0 + c0)) t1=$((t1 + c1))
	# "loadgen: bulk ok, 1024.0 MiB up in 6.489 s, 157.8 MiB/s"
	line=$(grep '^loadgen: bulk' "$WORK/last.txt" | tail -n 1)
	M_OK=no
	[ $M_RC -eq 0 ] && [[ $line == "loadgen: bulk ok,"* ]] && M_OK=yes
	M_MIB=$(awk '{print $4}' <<<"$line")
	M_RATE=$(awk '{print $(NF-1)}' <<<"$line")
	M_CPU=$(cpu_per_gib "$((t1 - t0))" "$M_MIB")
	[ $M_OK = yes ] || { M_RATE=''; sed 's/^/    /' "$WORK/last.txt" | tail -n 3; }
}

# m_sinksource PORT CONNS SIZE: CONNS parallel sinksource connections, each
# SIZE up and SIZE down, SHA-256 checked both ways. Same M_* as m_bulk.
m_sinksource() {
	local port=$1 conns=$2 size=$3 t0 t1 line
	t0=$(cpu_ticks "$PAIR_S" "$PAIR_C")
	timeout -k 2 "$((TMO + 5))" "$BUILD/tests/loadgen" \
		--connect "127.0.0.1:$port" --conns "$conns" --min-size "$size" \
		--max-size "$size" --timeout "$TMO" >"$WORK/last.txt" 2>&1
	M_RC=$?
	t1=$(cpu_ticks "$PAIR_S" "$PAIR_C")
	# "loadgen: 8/8 ok, X MiB up, Y MiB down, T s, R MiB/s"
	line=$(grep '^loadgen: [0-9]' "$WORK/last.txt" | tail -n 1)
	M_OK=no
	[ $M_RC -eq 0 ] && [[ $line == "loadgen: $conns/$conns ok,"* ]] && M_OK=yes
	M_MIB=$(awk -F', ' '{split($2, u, " "); split($3, d, " ");
		print u[1] + d[1]}' <<<"$line")
	M_RATE=$(awk '{print $(NF-1)}' <<<"$line")
	M_CPU=$(cpu_per_gib "$((t1 - t0))" "$M_MIB")
	[ $M_OK = yes ] || { M_RATE=''; sed 's/^/    /' "$WORK/last.txt" | tail -n 3; }
}

cpu_per_gib() { # TICKS MIB
	[ -n "$2" ] && [ "$2" != 0 ] && [ "$2" != 0.0 ] || return 0
	LC_ALL=C awk -v t="$1" -v m="$2" -v hz="$CLK_TCK" \
		'BEGIN { printf "%.2f", t / hz / (m / 1024) }'
}

# json_num FILE SECTION KEY: the first "KEY" after "SECTION" in iperf3's
# pretty-printed JSON (one member per line).
json_num() {
	awk -v s="\"$2\":" -v k="\"$3\":" '$1 == s {f = 1}
		f && $1 == k {sub(/,$/, "", $2); print $2; exit}' "$1"
}

# m_iperf PORT SECS STREAMS [-u ...]: iperf3 client -> PORT for SECS s;
# throughput as the receiving iperf3 server counted it. Needs IPERF_PORT
# (a fresh one-off server, see iperf_server). M_RATE MiB/s, M_MIB, M_CPU.
m_iperf() {
	local port=$1 secs=$2 streams=$3 t0 t1 bytes sec
	shift 3
	t0=$(cpu_ticks "$PAIR_S" "$PAIR_C")
	timeout -k 2 "$((secs + 30))" iperf3 -c 127.0.0.1 -p "$port" \
		-t "$secs" -P "$streams" -J "$@" >"$WORK/last.json" 2>&1
	M_RC=$?
	t1=$(cpu_ticks "$PAIR_S" "$PAIR_C")
	bytes=$(json_num "$WORK/last.json" sum_received bytes)
	sec=$(json_num "$WORK/last.json" sum_received seconds)
	M_OK=no M_RATE='' M_MIB='' M_CPU=''
	if [ $M_RC -eq 0 ] && [ -n "$bytes" ] && [ -n "$sec" ]; then
		M_OK=yes
		M_MIB=$(LC_ALL=C awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1048576}')
		M_RATE=$(LC_ALL=C awk -v m="$M_MIB" -v s="$sec" \
			'BEGIN {printf "%.1f", m / s}')
		M_CPU=$(cpu_per_gib "$((t1 - t0))" "$M_MIB")
	else
		grep -m1 '"error"' "$WORK/last.json" | sed 's/^/    /'
	fi
}

# iperf_server: a one-off iperf3 server (-1) on a free port; sets
# IPERF_PORT, IPERF_PID. One per measurement, so a failed test cannot leave
# a busy server behind.
iperf_server() {
	local try
	for _ in 1 2 3 4 5; do
		IPERF_PORT=$(free_port)
		iperf3 -s -1 -p "$IPERF_PORT" >"$WORK/iperf_s.log" 2>&1 &
		IPERF_PID=$!
		PIDS+=("$IPERF_PID")
		wait_port "$IPERF_PORT" "$IPERF_PID" && return 0
		stop "$IPERF_PID"
	done
	die "iperf3 server did not start"
}

# m_latency PORT CONNS: loadgen latency (open, 1 byte, echo, close) in
# sequence. M_MED, M_P99, M_MAX in ms.
m_latency() {
	local line
	timeout -k 2 "$((TMO + 5))" "$BUILD/tests/loadgen" \
		--connect "127.0.0.1:$1" --mode latency --conns "$2" \
		--timeout "$TMO" >"$WORK/last.txt" 2>&1
	M_RC=$?
	line=$(grep '^open latency: ' "$WORK/last.txt" | tail -n 1)
	# "open latency: median X ms, p99 Y ms, max Z ms"
	M_MED=$(awk '{print $4}' <<<"$line")
	M_P99=$(awk '{print $7}' <<<"$line")
	M_MAX=$(awk '{print $10}' <<<"$line")
	[ $M_RC -eq 0 ] || { M_MED='' M_P99='' M_MAX=''; tail -n 3 "$WORK/last.txt"; }
}

# splice DOC NAME FILE: replaces the lines between "<!-- NAME:begin -->" and
# "<!-- NAME:end -->" in DOC with FILE (headings demoted one level), so
# docs/BENCHMARKS.md always carries the latest generated tables.
splice() {
	local doc=$1 name=$2 file=$3
	[ -f "$doc" ] && grep -q "<!-- $name:begin -->" "$doc" || return 0
	# images are next to FILE, in docs/bench/, one level below DOC
	sed 's|](\([A-Za-z0-9_.-]*\.png\))|](bench/\1)|' "$file" >"$doc.part"
	awk -v b="<!-- $name:begin -->" -v e="<!-- $name:end -->" -v f="$doc.part" '
		$0 == b { print; while ((getline l < f) > 0) {
			if (l ~ /^#/) l = "#" l; print l }; skip = 1; next }
		$0 == e { skip = 0 }
		!skip' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
	rm -f "$doc.part"
}
