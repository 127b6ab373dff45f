#!/usr/bin/env bash
# bench.sh BUILD_DIR [--quick] [--no-lossy] [--lossy-only] [--cc-only]
#          [--no-cc] [--keep]
#
# Benchmarks kcptun-libev against Debian's Go kcptun, side by side in the
# same run, on loopback; writes docs/bench/loopback.md (+ loopback.tsv, raw
# numbers) and prints the table. Then, when contrib/bench/lab.sh exists and
# we are root, the lossy-link scenarios (bench_lossy, in lossy.sh) write
# docs/bench/lossy.md, lossy.tsv and goodput_vs_loss.png; then the
# congestion-control measurements (bench_cc, in cc.sh) write docs/bench/cc.md,
# cc.tsv, cc_trace.tsv, cc_trace.png and cc_fair.png.
#
#   --quick       small sizes, short runs, no lossy lab: a sanity run < 2 min
#   --no-lossy    skip the lossy-link lab
#   --lossy-only  only the lossy-link lab
#   --cc-only     only the congestion-control lab (with --quick: short runs)
#   --no-cc       skip the congestion-control lab
#   --keep        keep the working directory (logs, configs) for inspection
#
# What each figure means: docs/BENCHMARKS.md. Usually run as ./m.sh bench,
# which installs the tools (clang iproute2 kcptun gnuplot-nox iperf3 procps)
# and builds Release into build/ first.
# Every command is bounded by a timeout; every process started is stopped on
# every exit path (EXIT trap).
set -uo pipefail

if [ -z "${KCPTUN_BENCH_BOUNDED:-}" ]; then
	export KCPTUN_BENCH_BOUNDED=1
	# The cc lab's fairness runs take ~140 s per repetition
	# (BENCH_CC_REPS, default 2), its other sections ~10 min.
	cc_limit=$((900 + 200 * ${BENCH_CC_REPS:-2}))
	limit=$((2600 + cc_limit))
	cc_only='' lossy_only=''
	for a in "$@"; do
		case $a in
		--quick) limit=170 ;;
		--cc-only) cc_only=1 ;;
		--lossy-only) lossy_only=1 ;;
		esac
	done
	# --cc-only alone: the cc lab's bound (with --lossy-only: both labs)
	[ -n "$cc_only" ] && [ -z "$lossy_only" ] && limit=$cc_limit
	# --foreground: Ctrl-C reaches this script, whose trap cleans up.
	exec timeout --foreground -k 10 "$limit" bash "$0" "$@"
fi

BUILD=${1:?usage: $0 BUILD_DIR [--quick] [--no-lossy] [--lossy-only] [--cc-only] [--no-cc] [--keep]}
BUILD=$(cd "$BUILD" && pwd) || exit 1
shift
QUICK='' LOSSY=yes LOOPBACK=yes CC=yes
for a in "$@"; do
	case $a in
	--quick) QUICK=1 LOSSY=no CC=no ;;
	--no-lossy) LOSSY=no ;;
	--lossy-only) LOOPBACK=no ONLY_LOSSY=1 ;;
	--no-cc) CC=no ;;
	--cc-only) LOOPBACK=no ONLY_CC=1 ;;
	--keep) export BENCH_KEEP=1 ;;
	*) echo "bench: unknown option $a" >&2 && exit 2 ;;
	esac
done
# --*-only: exactly the labs named (either or both)
if [ -n "${ONLY_LOSSY:-}${ONLY_CC:-}" ]; then
	LOSSY=no CC=no
	[ -n "${ONLY_LOSSY:-}" ] && LOSSY=yes
	[ -n "${ONLY_CC:-}" ] && CC=yes
fi

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
DAEMON=$BUILD/kcptun-libev
# BENCH_OUT=DIR: results there, docs/ untouched (for trial runs)
OUT=${BENCH_OUT:-$SRC/docs/bench}
# shellcheck source=contrib/bench/lib.sh
. "$HERE/lib.sh"
# shellcheck source=contrib/bench/lossy.sh
. "$HERE/lossy.sh"
# shellcheck source=contrib/bench/cc.sh
. "$HERE/cc.sh"

for bin in "$DAEMON" "$BUILD/tests/upstream" "$BUILD/tests/loadgen"; do
	[ -x "$bin" ] || die "$bin is not built (cmake --build $BUILD)"
done
for t in iperf3 kcptun-client kcptun-server strip; do
	command -v "$t" >/dev/null ||
		die "$t not found (apt-get install iperf3 kcptun binutils)"
done

if [ -n "$QUICK" ]; then
	BULK=128M SS_SIZE=16M IPERF_T=2 LAT_N=100 IDLE_N=1000 CRYPTO_S=0.2
	UDP_T=1 TMO=30 REPS=1
else
	BULK=1G SS_SIZE=256M IPERF_T=10 LAT_N=500 IDLE_N=10000 CRYPTO_S=1
	UDP_T=5 TMO=90 REPS=3
fi
STREAMS=8

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kcptun-bench.XXXXXX") || exit 1
trap cleanup EXIT
trap 'warn "interrupted"; exit 1' INT TERM HUP
mkdir -p "$OUT" || exit 1
[ -n "${BENCH_KEEP:-}" ] && warn "keeping $WORK"

# The 10k idle connections need fds in this shell, the client, the server
# and the service: lift the soft limit to the hard one (inherited by all).
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_N + 200)) ]; then
	IDLE_N=$(($(ulimit -n) - 200))
	warn "open-file limit $(ulimit -n): idle connections reduced to $IDLE_N"
fi

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load1() { cut -d' ' -f1 /proc/loadavg; }
CPU_MODEL=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
MACHINE="$(nproc) CPUs ($CPU_MODEL), Linux $(uname -r)"
OURS_VER=$("$DAEMON" --version | head -n 1)
GIT_REV=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo "?")
GO_VER=$(dpkg-query -W -f='${Version}' kcptun 2>/dev/null || echo "?")
METHODS=(none xchacha20poly1305_ietf chacha20poly1305_ietf)
[[ $'\n'$("$DAEMON" --list-methods 2>/dev/null)$'\n' == *$'\naes256gcm\n'* ]] &&
	METHODS+=(aes256gcm)
# The AEAD compared with Go's "aes": AES-GCM when this CPU has AES-NI.
AESLIKE=xchacha20poly1305_ietf
[[ " ${METHODS[*]} " == *" aes256gcm "* ]] && AESLIKE=aes256gcm

# ---------------------------------------------------------------- loopback

# one-stream throughput of our tunnel, per method and config variant
sec_bulk() {
	local c v i
	local -A rate cpu cs cc all
	say "== one stream, loadgen bulk $BULK, best of $REPS (load $(loadavg))"
	for c in "${METHODS[@]}"; do
		# Best of REPS, the variants taking turns: the machine is
		# shared, and a burst of someone else's load then hits one run
		# of each variant rather than all runs of one.
		for i in $(seq "$REPS"); do
			for v in sample w4096 w4096nc; do
				pair_start ours "b-$c-$v-$i" "$c" "$v" "$UP_SS"
				m_bulk "$PAIR_PORT" "$BULK"
				stop "$PAIR_S" "$PAIR_C"
				all[$v]="${all[$v]:-} ${M_RATE:-fail}"
				if [ -n "$M_RATE" ] && LC_ALL=C awk -v a="$M_RATE" \
					-v b="${rate[$v]:-0}" 'BEGIN { exit !(a > b) }'; then
					rate[$v]=$M_RATE cpu[$v]=$M_CPU
					cc[$v]=$M_CPU_C cs[$v]=$M_CPU_S
				fi
			done
		done
		for v in sample w4096 w4096nc; do
			say "   ours $v $c: ${rate[$v]:-FAILED} MiB/s" \
				"(runs:${all[$v]}), ${cpu[$v]:--} CPU s/GiB" \
				"(client ${cc[$v]:--}, server ${cs[$v]:--})"
			rec bulk1 ours "$v" "$c" mib_s "${rate[$v]:-}" MiB/s \
				"runs:${all[$v]}; load $(load1)"
			rec bulk1 ours "$v" "$c" cpu_s_gib "${cpu[$v]:-}" s/GiB
			rec bulk1 ours "$v" "$c" cpu_client_s_gib "${cc[$v]:-}" s/GiB
			rec bulk1 ours "$v" "$c" cpu_server_s_gib "${cs[$v]:-}" s/GiB
		done
		rate=() cpu=() cs=() cc=() all=()
	done
}

# side by side with Go kcptun through iperf3 (Go kcptun closes both
# directions when one ends, so loadgen's half-close trailer cannot pass it)
sec_iperf() {
	local who v c p
	say "== side by side, iperf3 $IPERF_T s per run (load $(loadavg))"
	iperf_server
	PAIR_S='' PAIR_C=''
	m_iperf "$IPERF_PORT" "$IPERF_T" 1
	stop "$IPERF_PID"
	say "   kernel TCP loopback, no tunnel: $M_RATE MiB/s"
	rec iperf direct - - mib_s_1 "$M_RATE" MiB/s "load $(load1)"
	for who in "ours sample" "go default" "go tuned"; do
		read -r -a W <<<"$who" && set -- "${W[@]}"
		for c in "$AESLIKE" none; do
			for p in 1 "$STREAMS"; do
				[ "$p" != 1 ] && [ "$c" = none ] && continue
				iperf_server
				pair_start "$1" "i-$1-$2-$c-$p" "$c" "$2" "$IPERF_PORT"
				m_iperf "$PAIR_PORT" "$IPERF_T" "$p"
				stop "$PAIR_S" "$PAIR_C" "$IPERF_PID"
				say "   $1 $2 $([ "$1" = go ] && go_crypt "$c" || echo "$c")" \
					"x$p: ${M_RATE:-FAILED} MiB/s," \
					"${M_CPU:--} CPU s/GiB"
				rec iperf "$1" "$2" "$c" "mib_s_$p" "${M_RATE:-}" \
					MiB/s "load $(load1)"
				rec iperf "$1" "$2" "$c" "cpu_s_gib_$p" \
					"${M_CPU:-}" s/GiB
			done
		done
	done
}

# 8 parallel streams through our tunnel, every byte checked both ways
sec_parallel() {
	say "== $STREAMS parallel streams, loadgen sinksource $STREAMS x $SS_SIZE" \
		"each way (load $(loadavg))"
	pair_start ours par xchacha20poly1305_ietf sample "$UP_SS"
	m_sinksource "$PAIR_PORT" "$STREAMS" "$SS_SIZE"
	stop "$PAIR_S" "$PAIR_C"
	say "   ours sample xchacha20poly1305_ietf: ${M_RATE:-FAILED} MiB/s" \
		"(${M_MIB:-?} MiB), ${M_CPU:--} CPU s/GiB"
	rec parallel ours sample xchacha20poly1305_ietf mib_s "${M_RATE:-}" \
		MiB/s "load $(load1)"
	rec parallel ours sample xchacha20poly1305_ietf cpu_s_gib \
		"${M_CPU:-}" s/GiB
}

sec_latency() {
	local who
	say "== open latency, $LAT_N sequential opens to echo (load $(loadavg))"
	PAIR_S='' PAIR_C=''
	m_latency "$UP_ECHO" "$LAT_N"
	say "   direct TCP: median $M_MED ms, p99 $M_P99 ms"
	rec latency direct - - median_ms "$M_MED" ms "load $(load1)"
	rec latency direct - - p99_ms "$M_P99" ms
	for who in "ours sample xchacha20poly1305_ietf" "go default $AESLIKE"; do
		read -r -a W <<<"$who" && set -- "${W[@]}"
		pair_start "$1" "l-$1" "$3" "$2" "$UP_ECHO"
		m_latency "$PAIR_PORT" "$LAT_N"
		stop "$PAIR_S" "$PAIR_C"
		say "   $1 $2 $3: median ${M_MED:-?} ms, p99 ${M_P99:-?} ms"
		rec latency "$1" "$2" "$3" median_ms "${M_MED:-}" ms "load $(load1)"
		rec latency "$1" "$2" "$3" p99_ms "${M_P99:-}" ms
		rec latency "$1" "$2" "$3" max_ms "${M_MAX:-}" ms
	done
}

# idle RSS, then RSS with IDLE_N idle connections held open by this shell
sec_memory() {
	local who fds=() fd n up upid base t
	say "== memory: idle, then $IDLE_N idle connections (load $(loadavg))"
	for who in "ours sample xchacha20poly1305_ietf" "go default $AESLIKE"; do
		read -r -a W <<<"$who" && set -- "${W[@]}"
		tool "echo-$1" upstream --listen 127.0.0.1:0 --mode echo \
			--max-conns $((IDLE_N + 100)) --timeout $((TMO * 3))
		up=$PORT upid=$PID
		pair_start "$1" "m-$1" "$3" "$2" "$up"
		sleep 1
		rec memory "$1" "$2" "$3" idle_rss_client_kib "$(kib "$PAIR_C" VmRSS)" KiB "load $(load1)"
		rec memory "$1" "$2" "$3" idle_rss_server_kib "$(kib "$PAIR_S" VmRSS)" KiB
		# private (anonymous) part; the rest is shared library text
		rec memory "$1" "$2" "$3" idle_anon_client_kib "$(kib "$PAIR_C" RssAnon)" KiB
		rec memory "$1" "$2" "$3" idle_anon_server_kib "$(kib "$PAIR_S" RssAnon)" KiB
		base=$(nfds "$upid")
		fds=()
		t=$(date +%s.%N)
		for _ in $(seq "$IDLE_N"); do
			exec {fd}<>"/dev/tcp/127.0.0.1/$PAIR_PORT" 2>/dev/null || break
			fds+=("$fd")
		done
		# wait until the far end holds them all: they crossed the tunnel
		for _ in $(seq 600); do
			[ "$(nfds "$upid")" -ge $((base + ${#fds[@]})) ] && break
			sleep 0.05
		done
		n=$(($(nfds "$upid") - base))
		t=$(calc "$(date +%s.%N) - $t")
		sleep 1
		rec memory "$1" "$2" "$3" conns_opened "${#fds[@]}" conns
		rec memory "$1" "$2" "$3" conns_at_service "$n" conns
		rec memory "$1" "$2" "$3" conns_open_s "$t" s
		rec memory "$1" "$2" "$3" busy_rss_client_kib "$(kib "$PAIR_C" VmRSS)" KiB
		rec memory "$1" "$2" "$3" busy_rss_server_kib "$(kib "$PAIR_S" VmRSS)" KiB
		say "   $1: idle RSS $(get "memory/$1/$2/$3/idle_rss_client_kib") KiB" \
			"client, $(get "memory/$1/$2/$3/idle_rss_server_kib") KiB server;" \
			"${#fds[@]} opened, $n at the service in $t s;" \
			"RSS client $(kib "$PAIR_C" VmRSS) KiB, server" \
			"$(kib "$PAIR_S" VmRSS) KiB"
		for fd in "${fds[@]}"; do exec {fd}>&-; done
		stop "$PAIR_S" "$PAIR_C" "$upid"
	done
}

sec_binary() {
	local s libs
	strip -o "$WORK/kcptun-libev.stripped" "$DAEMON" || return
	s=$(stat -c %s "$WORK/kcptun-libev.stripped")
	libs=$(ldd "$DAEMON" 2>/dev/null | awk '$1 ~ /^lib/ && $1 !~ /^lib(c|m)\.so/ \
		{sub(/\.so.*/, "", $1); print $1}' | sort | tr '\n' ' ')
	rec binary ours - - stripped_bytes "$s" B "${libs% }"
	s=$(stat -c %s "$(command -v kcptun-client)")
	rec binary go - - client_bytes "$s" B "as packaged (static Go binary)"
	say "== binary: stripped $(get binary/ours/-/-/stripped_bytes) B (links ${libs% })"
}

sec_ceilings() {
	local c line
	say "== ceilings (load $(loadavg))"
	if [ ! -x "$BUILD/tests/bench_crypto" ]; then
		timeout 600 cmake --build "$BUILD" --target bench_crypto -j2 \
			>"$WORK/bc_build.log" 2>&1 || warn "bench_crypto did not build"
	fi
	if [ -x "$BUILD/tests/bench_crypto" ]; then
		timeout 60 "$BUILD/tests/bench_crypto" "$CRYPTO_S" >"$WORK/bc.txt" 2>&1
		for c in "${METHODS[@]}"; do
			line=$(grep "^$c " "$WORK/bc.txt") || continue
			rec ceiling crypto - "$c" seal_mb_s "$(awk '{print $3}' <<<"$line")" MB/s
			rec ceiling crypto - "$c" open_mb_s "$(awk '{print $8}' <<<"$line")" MB/s
		done
		sed 's/^/   /' "$WORK/bc.txt"
	fi
	iperf_server
	PAIR_S='' PAIR_C=''
	timeout $((UDP_T + 30)) iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -u -b 0 \
		-l 1400 -t "$UDP_T" -J >"$WORK/udp.json" 2>&1
	stop "$IPERF_PID"
	local pk lost sec
	pk=$(json_num "$WORK/udp.json" sum packets)
	lost=$(json_num "$WORK/udp.json" sum lost_packets)
	sec=$(json_num "$WORK/udp.json" sum seconds)
	if [ -n "$pk" ] && [ -n "$sec" ]; then
		rec ceiling udp - 1400 sent_dgram_s "$(calc "int($pk / $sec)")" dgram/s
		rec ceiling udp - 1400 recv_dgram_s "$(calc "int(($pk - $lost) / $sec)")" dgram/s
		say "   loopback UDP 1400 B: $(get ceiling/udp/-/1400/sent_dgram_s) sent/s," \
			"$(get ceiling/udp/-/1400/recv_dgram_s) received/s"
	fi
}

# perf profile of our two daemons during one xchacha bulk transfer: what
# bounds the one-stream figure (full runs only).
sec_perf() {
	local ppid
	command -v perf >/dev/null || return 0
	say "== perf profile, ours sample xchacha20poly1305_ietf bulk"
	pair_start ours perf xchacha20poly1305_ietf sample "$UP_SS"
	timeout 30 perf record -F 499 -p "$PAIR_S,$PAIR_C" \
		-o "$WORK/perf.data" -- sleep 4 >"$WORK/perf.log" 2>&1 &
	ppid=$!
	PIDS+=("$ppid")
	m_bulk "$PAIR_PORT" "$BULK"
	wait "$ppid"
	forget "$ppid"
	{
		echo "# perf record -F 499 during loadgen bulk through ours"
		echo "# (sample config, xchacha20poly1305_ietf); server pid $PAIR_S," \
			"client pid $PAIR_C; load $(loadavg)"
		local sort
		# per process, then where in each (kernel, libsodium, us...),
		# then the top symbols
		for sort in pid pid,dso pid,dso,symbol; do
			echo
			echo "## perf report --sort $sort"
			timeout 60 perf report -i "$WORK/perf.data" --stdio \
				--sort "$sort" --percent-limit 1 2>/dev/null |
				grep -v '^#' | grep -v '^$' | sed 's/ *$//' |
				head -n 30
		done
	} >"$OUT/perf.txt"
	stop "$PAIR_S" "$PAIR_C"
	grep -A 12 'sort pid,dso$' "$OUT/perf.txt"
}

# ------------------------------------------------------------- the report

# target NAME VALUE OP LIMIT UNIT: one row of the targets table
target() {
	local ok
	if [ -z "$2" ] || [ "$2" = "-" ]; then
		printf '| %s | %s %s | not measured | %s |\n' "$1" "$3" "$4 $5" "-"
		return
	fi
	ok=$(LC_ALL=C awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN {
		r = (op == ">=") ? v >= l : v <= l; print r ? "PASS" : "MISS" }')
	printf '| %s | %s %s %s | %s %s | **%s** |\n' "$1" "$3" "$4" "$5" "$2" "$5" "$ok"
}

write_report() {
	local c v who md=$OUT/loopback.md best s r g gd gt
	{
		echo "# Loopback benchmark"
		echo
		echo "Generated by \`contrib/bench/bench.sh${QUICK:+ --quick}\` on $(date -u +%Y-%m-%dT%H:%MZ)."
		echo "Machine: $MACHINE; load average $LOAD_START at the start, $(loadavg) at the end"
		echo "(the machine is shared: other jobs compete for the CPUs)."
		echo "Ours: $OURS_VER (git $GIT_REV), Release build. Go: Debian kcptun $GO_VER."
		echo "All processes (load generator, tunnel client, tunnel server, test service) share"
		echo "the same CPUs, so one-stream figures are CPU-bound, not link-bound."
		echo
		echo "## One stream through our tunnel (loadgen bulk, $BULK, byte count checked, best of $REPS)"
		echo
		echo "| method | sample config MiB/s | CPU s/GiB (client + server) | windows 4096 | windows 4096 + nc | sample / best tuned |"
		echo "|---|---:|---:|---:|---:|---:|"
		for c in "${METHODS[@]}"; do
			s=$(get "bulk1/ours/sample/$c/mib_s")
			best=$(LC_ALL=C awk -v a="$(get "bulk1/ours/w4096/$c/mib_s")" \
				-v b="$(get "bulk1/ours/w4096nc/$c/mib_s")" \
				'BEGIN { print (a + 0 > b + 0) ? a : b }')
			printf '| %s | %s | %s | %s | %s | %s |\n' "$c" "$(fmt %s "$s")" \
				"$(fmt %s "$(get "bulk1/ours/sample/$c/cpu_s_gib")") ($(fmt %s "$(get "bulk1/ours/sample/$c/cpu_client_s_gib")") + $(fmt %s "$(get "bulk1/ours/sample/$c/cpu_server_s_gib")"))" \
				"$(fmt %s "$(get "bulk1/ours/w4096/$c/mib_s")")" \
				"$(fmt %s "$(get "bulk1/ours/w4096nc/$c/mib_s")")" \
				"$(ratio "$s" "$best")"
		done
		echo
		echo "## Side by side with Go kcptun (iperf3, $IPERF_T s per run, receiver's count)"
		echo
		echo "Our \`$AESLIKE\` is compared with Go's \`--crypt aes\` (AES-256-CFB +"
		echo "CRC32: no authentication, no replay guard), \`none\` with \`none\`."
		echo "\"ours ÷\" is our sample config's figure divided by the row's (throughput: >1 = we are"
		echo "faster; CPU: <1 = we use less)."
		echo
		echo "| contender | config | cipher | 1 stream MiB/s | CPU s/GiB | ours ÷ | $STREAMS streams MiB/s | CPU s/GiB | ours ÷ |"
		echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
		printf '| kernel TCP, no tunnel | - | - | %s | - | - | - | - | - |\n' \
			"$(fmt %s "$(get iperf/direct/-/-/mib_s_1)")"
		for who in "ours sample" "go default" "go tuned"; do
			read -r -a W <<<"$who" && set -- "${W[@]}"
			for c in "$AESLIKE" none; do
				local gc=$c row
				[ "$1" = go ] && gc="$(go_crypt "$c")"
				row="iperf/$1/$2/$c"
				printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
					"$1" "$2" "$gc" \
					"$(fmt %s "$(get "$row/mib_s_1")")" \
					"$(fmt %s "$(get "$row/cpu_s_gib_1")")" \
					"$(ratio "$(get "iperf/ours/sample/$c/mib_s_1")" "$(get "$row/mib_s_1")")" \
					"$(fmt %s "$(get "$row/mib_s_$STREAMS")")" \
					"$(fmt %s "$(get "$row/cpu_s_gib_$STREAMS")")" \
					"$(ratio "$(get "iperf/ours/sample/$c/mib_s_$STREAMS")" "$(get "$row/mib_s_$STREAMS")")"
			done
		done
		echo
		echo "CPU ratios (ours sample ÷ Go), one stream: $AESLIKE vs aes:" \
			"$(ratio "$(get "iperf/ours/sample/$AESLIKE/cpu_s_gib_1")" "$(get "iperf/go/default/$AESLIKE/cpu_s_gib_1")")" \
			"(Go default), $(ratio "$(get "iperf/ours/sample/$AESLIKE/cpu_s_gib_1")" "$(get "iperf/go/tuned/$AESLIKE/cpu_s_gib_1")")" \
			"(Go tuned); none vs none:" \
			"$(ratio "$(get "iperf/ours/sample/none/cpu_s_gib_1")" "$(get "iperf/go/default/none/cpu_s_gib_1")")" \
			"(default), $(ratio "$(get "iperf/ours/sample/none/cpu_s_gib_1")" "$(get "iperf/go/tuned/none/cpu_s_gib_1")")" \
			"(tuned)."
		echo
		echo "Configs: ours sample = $(ours_variant_desc sample); Go default ="
		echo "\`$(go_variant_desc default)\`; Go tuned = \`$(go_variant_desc tuned)\`."
		echo
		echo "## $STREAMS parallel streams through our tunnel (loadgen sinksource, every byte SHA-256 checked)"
		echo
		echo "$STREAMS connections at once, each $SS_SIZE up and $SS_SIZE down, sample config," \
			"xchacha20poly1305_ietf: **$(fmt %s "$(get parallel/ours/sample/xchacha20poly1305_ietf/mib_s)") MiB/s**" \
			"(both directions together), $(fmt %s "$(get parallel/ours/sample/xchacha20poly1305_ietf/cpu_s_gib)") CPU s/GiB."
		echo "(Go kcptun cannot run this test: it closes both directions at the first EOF.)"
		echo
		echo "## Open latency ($LAT_N sequential connections: open, 1 byte, echo, close)"
		echo
		echo "| path | median ms | p99 ms | max ms |"
		echo "|---|---:|---:|---:|"
		printf '| direct TCP, no tunnel | %s | %s | - |\n' \
			"$(get latency/direct/-/-/median_ms)" "$(get latency/direct/-/-/p99_ms)"
		for who in "ours sample xchacha20poly1305_ietf" "go default $AESLIKE"; do
			read -r -a W <<<"$who" && set -- "${W[@]}"
			printf '| %s %s %s | %s | %s | %s |\n' "$1" "$2" \
				"$( [ "$1" = go ] && go_crypt "$3" || echo "$3")" \
				"$(fmt %s "$(get "latency/$1/$2/$3/median_ms")")" \
				"$(fmt %s "$(get "latency/$1/$2/$3/p99_ms")")" \
				"$(fmt %s "$(get "latency/$1/$2/$3/max_ms")")"
		done
		echo
		echo "## Memory (VmRSS)"
		echo
		echo "Idle: 1 s after start, no connection; in brackets the private (anonymous)"
		echo "part, RssAnon: the rest of VmRSS is shared library code (libc, libm, libsodium...)."
		echo "Then $IDLE_N idle connections opened through the client (bash \`exec {fd}<>/dev/tcp/...\`),"
		echo "counted at the service (all crossed the tunnel), VmRSS of both ends."
		echo
		echo "| contender | idle client KiB | idle server KiB | idle conns (reached service) | client KiB | server KiB |"
		echo "|---|---:|---:|---:|---:|---:|"
		for who in "ours sample xchacha20poly1305_ietf" "go default $AESLIKE"; do
			read -r -a W <<<"$who" && set -- "${W[@]}"
			local m="memory/$1/$2/$3"
			printf '| %s %s | %s (%s) | %s (%s) | %s (%s) | %s | %s |\n' "$1" "$2" \
				"$(get "$m/idle_rss_client_kib")" "$(get "$m/idle_anon_client_kib")" \
				"$(get "$m/idle_rss_server_kib")" "$(get "$m/idle_anon_server_kib")" \
				"$(get "$m/conns_opened")" "$(get "$m/conns_at_service")" \
				"$(get "$m/busy_rss_client_kib")" "$(get "$m/busy_rss_server_kib")"
		done
		echo
		echo "## Binary"
		echo
		echo "Stripped \`kcptun-libev\`: **$(get binary/ours/-/-/stripped_bytes) bytes**," \
			"our code only, linked dynamically against: ${R[binary/ours/-/-/stripped_bytes/note]:-}, libc, libm."
		echo "Go \`kcptun-client\` as packaged: $(get binary/go/-/-/client_bytes) bytes (statically linked Go)."
		echo
		echo "## Ceilings on this machine"
		echo
		echo "| what | figure |"
		echo "|---|---:|"
		for c in "${METHODS[@]}"; do
			[ "$c" = none ] && continue
			printf '| AEAD %s, 1400 B: seal / open | %s / %s MB/s |\n' "$c" \
				"$(fmt %s "$(get "ceiling/crypto/-/$c/seal_mb_s")")" \
				"$(fmt %s "$(get "ceiling/crypto/-/$c/open_mb_s")")"
		done
		printf '| loopback UDP, 1400 B, iperf3 -u -b 0: sent / received | %s / %s datagrams/s |\n' \
			"$(fmt %s "$(get ceiling/udp/-/1400/sent_dgram_s)")" \
			"$(fmt %s "$(get ceiling/udp/-/1400/recv_dgram_s)")"
		printf '| kernel TCP over loopback, one stream (iperf3) | %s MiB/s |\n' \
			"$(fmt %s "$(get iperf/direct/-/-/mib_s_1)")"
		echo
		echo "## Targets"
		echo
		echo "| target | goal | measured | |"
		echo "|---|---|---|---|"
		target "one stream, xchacha20poly1305_ietf, sample config" \
			"$(get bulk1/ours/sample/xchacha20poly1305_ietf/mib_s)" ">=" 300 MiB/s
		target "one stream, plaintext, sample config" \
			"$(get bulk1/ours/sample/none/mib_s)" ">=" 450 MiB/s
		g=$(get "iperf/go/default/$AESLIKE/cpu_s_gib_1")
		gt=$(get "iperf/go/tuned/$AESLIKE/cpu_s_gib_1")
		gd=$(LC_ALL=C awk -v a="$g" -v b="$gt" 'BEGIN {
			if (a == "") a = b; if (b == "") b = a;
			if (a == "") exit; printf "%.2f", 0.5 * (a + 0 < b + 0 ? a : b) }')
		target "CPU per GiB, $AESLIKE vs Go aes (0.5 x the better Go config)" \
			"$(get "iperf/ours/sample/$AESLIKE/cpu_s_gib_1")" "<=" "$gd" s/GiB
		target "open latency median" \
			"$(get latency/ours/sample/xchacha20poly1305_ietf/median_ms)" "<=" 1 ms
		s=$(LC_ALL=C awk -v a="$(get memory/ours/sample/xchacha20poly1305_ietf/idle_rss_client_kib)" \
			-v b="$(get memory/ours/sample/xchacha20poly1305_ietf/idle_rss_server_kib)" \
			'BEGIN { if (a != "") printf "%.2f", (a > b ? a : b) / 1024 }')
		target "idle RSS (larger of client, server)" "$s" "<=" 2 MiB
		r=$(LC_ALL=C awk -v a="$(get memory/ours/sample/xchacha20poly1305_ietf/busy_rss_client_kib)" \
			-v b="$(get memory/ours/sample/xchacha20poly1305_ietf/busy_rss_server_kib)" \
			'BEGIN { if (a != "") printf "%.1f", (a > b ? a : b) / 1024 }')
		target "RSS with $(get memory/ours/sample/xchacha20poly1305_ietf/conns_opened) idle connections (larger of the two)" \
			"$r" "<=" 48 MiB
		target "stripped binary (dynamic)" \
			"$(calc "$(get binary/ours/-/-/stripped_bytes) / 1024")" "<=" 100 KiB
		s=$(get bulk1/ours/sample/xchacha20poly1305_ietf/mib_s)
		best=$(LC_ALL=C awk -v a="$(get bulk1/ours/w4096/xchacha20poly1305_ietf/mib_s)" \
			-v b="$(get bulk1/ours/w4096nc/xchacha20poly1305_ietf/mib_s)" \
			'BEGIN { print (a + 0 > b + 0) ? a : b }')
		target "sample config / best tuned (xchacha, one stream)" \
			"$(LC_ALL=C awk -v a="$s" -v b="$best" 'BEGIN { if (a != "" && b > 0) printf "%.0f", 100 * a / b }')" \
			">=" 90 %
		if [ -n "$QUICK" ]; then
			echo
			echo "_Quick run: small sizes and short runs; figures are indicative only._"
		fi
	} >"$md"
}

# ------------------------------------------------------------------- main

# The whole run is one function, called on the last line: bash has read the
# entire file before anything runs, so editing the script mid-run is safe.
main() {
	LOAD_START=$(loadavg)
	say "kcptun-libev benchmark: $OURS_VER vs Go kcptun $GO_VER"
	say "machine: $MACHINE; load average $LOAD_START${QUICK:+; quick run}"

	if [ $LOOPBACK = yes ]; then
		TSV=$WORK/loopback.tsv
		printf 'section\tcontender\tvariant\tcipher\tmetric\tvalue\tunit\tnote\n' >"$TSV"
		tool up_ss upstream --listen 127.0.0.1:0 --mode sinksource --timeout 2000
		UP_SS=$PORT
		tool up_echo upstream --listen 127.0.0.1:0 --mode echo --timeout 2000
		UP_ECHO=$PORT
		sec_bulk
		sec_iperf
		sec_parallel
		sec_latency
		sec_memory
		sec_binary
		sec_ceilings
		[ -n "$QUICK" ] || sec_perf
		rec run - - - load_start "$LOAD_START" loadavg
		rec run - - - load_end "$(loadavg)" loadavg
		write_report
		cp "$TSV" "$OUT/loopback.tsv"
		[ -z "${BENCH_OUT:-}" ] &&
			splice "$SRC/docs/BENCHMARKS.md" loopback "$OUT/loopback.md"
		say ""
		cat "$OUT/loopback.md"
	fi

	if [ $LOSSY = yes ]; then
		bench_lossy
	elif [ -z "$QUICK" ] && [ $LOOPBACK = yes ]; then
		say "lossy-link lab: skipped (--no-lossy)"
	fi

	if [ $CC = yes ]; then
		bench_cc
	elif [ -z "$QUICK" ] && [ $LOOPBACK = yes ]; then
		say "congestion-control lab: skipped (--no-cc)"
	fi
}

main "$@"; exit 0 # one line: parsed whole before it runs
