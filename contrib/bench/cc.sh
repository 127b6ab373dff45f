# cc.sh — congestion-control measurements of bench.sh (sourced after
# lossy.sh, whose lab helpers it uses; defines bench_cc).
#
# Everything runs on contrib/bench/lab.sh's emulated link (linkem, with
# --trace for queue and delivery every 100 ms), ours with the shipped
# sample configs, only addresses and key changed. Sections:
#   fairness  two of our flows at once, 50 Mbit/s, 50 ms RTT, 0% and 1%
#             loss: two client/server pairs (two independent controllers)
#             and two connections through one pair (sharing inside one
#             peer); then ours against one kernel TCP cubic flow.
#   latency   a 100-byte request every 100 ms on one connection (loadgen
#             interactive) alone, then beside a bulk upload through the
#             same pair; kernel TCP cubic and BBR (no tunnel) as reference.
#   many      8 uploads through one pair at 50 Mbit/s, 100 ms, 1%.
#   trace     one upload, 50 Mbit/s, 100 ms, 1%, the rate cut to 20 Mbit/s
#             half way: delivery and queue delay over time (PNG).
# Per-flow goodput is what the receiving service's socket counted
# (ss bytes_received in namespace b), over a window that skips the first
# CC_WARM seconds of start-up, so start order does not decide fairness.
# Writes docs/bench/cc.md, cc.tsv, cc_trace.tsv, cc_trace.png, cc_fair.png.
# shellcheck shell=bash
# shellcheck disable=SC2034 # CLEANUP_EXTRA, LAB_T: read by lib.sh / lossy.sh
# shellcheck disable=SC2015 # "start && start || warn": a warning either way

CC_SVC=5001  # the service each tunnel server connects to (b)
CC_SINK=5002 # latency section: sinksource behind the demux
CC_ECHO=5003 # latency section: echo behind the demux
CC_BG=()     # pids of what the current case started (see cc_stop)

cc_rec() { # section case metric value [note]
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$CTSV"
	CR["$1/$2/$3"]=$4
}
declare -A CR
cg() { echo "${CR["$1"]:-}"; }

# cc_bg SIDE NAME CMD...: lab_bg, remembered for cc_stop.
cc_bg() {
	lab_bg "$@" || return 1
	CC_BG+=("$BG_PID")
}
cc_stop() {
	stop "${CC_BG[@]}"
	stop "${LAB_WRAPS[@]}"
	CC_BG=() LAB_WRAPS=()
}

# cc_up RATE DELAY LOSS: a fresh lab with a fresh trace in $CC_TRACE.
cc_up() {
	CC_TRACE=$WORK/cc.$((++CC_N)).trace
	if ! lab up --rate "$1" --delay "$2" --loss "$3" --trace "$CC_TRACE" \
		>"$WORK/cc_up.log" 2>&1; then
		warn "lab.sh up failed:"
		tail -n 5 "$WORK/cc_up.log" >&2
		return 1
	fi
}

# cc_service PORT MODE: an upstream service in b.
cc_service() {
	cc_bg b "svc$1" "$BUILD/tests/upstream" --listen "$LAB_B_IP:$1" \
		--mode "$2" --timeout $((LAB_T + 60)) &&
		ns_port b tcp "$1"
}

# cc_pair NAME I TARGET_PORT: our client/server pair number I (client on
# 198.18.0.1:6001+10I, server on UDP 6000+10I) in front of b's TARGET_PORT.
cc_pair() {
	local name=$1 tun=$((6000 + 10 * $2)) cli=$((6001 + 10 * $2)) psk s
	psk=$("$DAEMON" --genpsk xchacha20poly1305_ietf) || return 1
	for s in server client; do
		cp "$SRC/$s.json" "$WORK/$name.$s.json" &&
			set_str "$WORK/$name.$s.json" psk "$psk" || return 1
		# BENCH_LOGLEVEL=3 (with --keep): each conversation's model
		# (min RTT, estimate) when it ends, in the kept daemon logs
		[ -z "${BENCH_LOGLEVEL:-}" ] ||
			sed -i "s/\"loglevel\": [0-9]/\"loglevel\": $BENCH_LOGLEVEL/" \
				"$WORK/$name.$s.json"
	done
	set_str "$WORK/$name.server.json" udp_bind "$LAB_B_IP:$tun" &&
		set_str "$WORK/$name.server.json" connect "$LAB_B_IP:$3" &&
		set_str "$WORK/$name.client.json" listen "$LAB_A_IP:$cli" &&
		set_str "$WORK/$name.client.json" udp_connect "$LAB_B_IP:$tun" ||
		return 1
	cc_bg b "$name.s" "$DAEMON" -c "$WORK/$name.server.json" &&
		cc_bg a "$name.c" "$DAEMON" -c "$WORK/$name.client.json" &&
		ns_port b udp "$tun" && ns_port a tcp "$cli"
}

# cc_bulk NAME TARGET [CONNS]: loadgen bulk upload(s) from a, more than
# the link carries in the run, bounded by the run's length.
cc_bulk() {
	cc_bg a "$1" "$BUILD/tests/loadgen" --connect "$2" --mode bulk \
		--conns "${3:-1}" --up-size 4G --timeout "$((CC_T + 10))"
}

# cc_flows PORT: "peer bytes_received" per established connection to
# b's PORT, as the service's sockets count them.
cc_flows() {
	lab exec b ss -Htin state established "( sport = :$1 )" 2>/dev/null |
		awk '/^[^ \t]/ { peer = $NF; next }
		{ b = 0; for (i = 1; i <= NF; i++) if ($i ~ /^bytes_received:/) {
			split($i, x, ":"); b = x[2] }
		  if (peer != "") print peer, b; peer = "" }'
}

# cc_measure PORT [SERIES]: samples the flows every second of the run
# (into SERIES as "t_s peer bytes" when given). Sets CC_GOOD ("peer mbit"
# per flow over the window CC_WARM..CC_T s, highest first), CC_SECS (the
# window), CC_T0/CC_T1 (trace times of its ends), CC_TX (bytes both
# namespaces sent on the link in the window).
cc_measure() {
	local s0 s1 t0 t1 x0 x1 start i now fl
	start=$(date +%s.%N)
	for i in $(seq "$CC_T"); do
		# sleep to the next whole second of the run: the samples keep
		# their cadence whatever one sample costs
		sleep "$(calc "$start + $i - $(date +%s.%N)" | awk '{ print ($1 > 0) ? $1 : 0 }')"
		now=$(date +%s.%N)
		if [ "$i" = "$CC_WARM" ] || [ "$i" = "$CC_T" ]; then
			x1=$(($(ns_tx a) + $(ns_tx b)))
		fi
		fl=$(cc_flows "$1")
		[ -n "${2:-}" ] && awk -v t="$(calc "$now - $start")" \
			'{ print t, $1, $2 }' <<<"$fl" >>"$2"
		if [ "$i" = "$CC_WARM" ]; then
			t0=$now x0=$x1 s0=$fl
			CC_T0=$(tail -n 1 "$CC_TRACE" | awk '{print $1}')
		fi
	done
	t1=$now s1=$fl
	CC_T1=$(tail -n 1 "$CC_TRACE" | awk '{print $1}')
	CC_SECS=$(calc "$t1 - $t0")
	CC_TX=$((x1 - x0))
	CC_GOOD=$(awk -v d="$CC_SECS" 'NR == FNR { a[$1] = $2; next }
		{ printf "%s %.2f\n", $1, ($2 - a[$1]) * 8 / d / 1e6 }' \
		<(echo "$s0") <(echo "$s1") | sort -k2,2 -rn)
}

# cc_series_dat SERIES: per-flow Mbit/s per second, one gnuplot data
# block per flow (flows numbered by first appearance).
cc_series_dat() {
	# by time, then peer descending: b's address (ours, from the tunnel
	# server) before a's (direct TCP), so ours is flow 0
	sort -k1,1n -k2,2r "$1" | awk '{ if (!($2 in id)) { id[$2] = n++ }
		k = id[$2]; if (k in pt) { d = $1 - pt[k]
			if (d > 0) out[k] = out[k] sprintf("%.1f %.2f\n", $1,
				($3 - pb[k]) * 8 / d / 1e6) }
		pt[k] = $1; pb[k] = $3 }
		END { for (k = 0; k < n; k++) printf "%s%s", (k ? "\n\n" : ""), out[k] }'
}

# goodput summaries of CC_GOOD
cc_sum() { awk '{ s += $2 } END { printf "%.2f", s }' <<<"$CC_GOOD"; }
cc_minmax() { # min/max of the flows
	awk 'NR == 1 { mx = $2; mn = $2 } { if ($2 < mn) mn = $2; if ($2 > mx) mx = $2 }
		END { if (mx > 0) printf "%.2f", mn / mx; else print "-" }' <<<"$CC_GOOD"
}
cc_jain() { # Jain's index: 1 = equal shares, 1/n = one flow has all
	awk '{ s += $2; q += $2 * $2; n++ }
		END { if (q > 0) printf "%.3f", s * s / (n * q); else print "-" }' <<<"$CC_GOOD"
}
# cc_trace_mean COL: mean of a trace column over [CC_T0, CC_T1]
cc_trace_mean() {
	awk -v c="$1" -v a="$CC_T0" -v b="$CC_T1" '!/^#/ && $1 > a && $1 <= b {
		s += $c; n++ } END { if (n) printf "%.2f", s / n }' "$CC_TRACE"
}

# ---- a. fairness -----------------------------------------------------

cc_fair_case() { # case-name: runs with the lab up; records the flows
	local c=$1 label=$2 n=0 f
	say "   $label: $(tr '\n' ' ' <<<"$CC_GOOD")(Mbit/s over ${CC_SECS} s)"
	while read -r _ f; do
		[ -n "$f" ] || continue
		n=$((n + 1))
		cc_rec fair "$c" "flow${n}_mbit" "$f"
	done <<<"$CC_GOOD"
	cc_rec fair "$c" flows "$n"
	cc_rec fair "$c" total_mbit "$(cc_sum)"
	cc_rec fair "$c" minmax "$(cc_minmax)"
	cc_rec fair "$c" ab_qdelay_ms "$(cc_trace_mean 4)"
}

# cc_fair_wanted CASE: BENCH_CC_FAIR (default all: "pairs conns cubic")
# names it; trial runs repeat one case (with BENCH_CC_REPS) in less time.
cc_fair_wanted() {
	case " ${BENCH_CC_FAIR:-pairs conns cubic} " in
	*" $1 "*) return 0 ;;
	*) return 1 ;;
	esac
}

cc_fair() {
	local loss tag rep
	for loss in 0 0.01; do
		tag=$(calc "100 * $loss")
		cc_up 50 25 "$loss" || continue
		say "== fairness, 50 Mbit/s, 50 ms RTT, $tag% loss, $CC_T s"
		# Each case CC_REPS times, the cases taking turns: one run is
		# at the mercy of the shared CPUs and of the loss dice.
		for rep in $(seq "$CC_REPS"); do
			# two pairs: two independent controllers, one bottleneck
			if cc_fair_wanted pairs; then
				cc_service $CC_SVC sinksource &&
					cc_pair p1 0 $CC_SVC &&
					cc_pair p2 1 $CC_SVC ||
					warn "fairness: start failed"
				cc_bulk b1 "$LAB_A_IP:6001"
				cc_bulk b2 "$LAB_A_IP:6011"
				cc_measure $CC_SVC "$WORK/fair-pairs-$tag-$rep.series"
				cc_stop
				cc_fair_case "pairs-$tag-$rep" "two pairs, run $rep"
			fi
			# one pair, two connections: sharing inside one peer
			cc_fair_wanted conns || continue
			cc_service $CC_SVC sinksource && cc_pair p1 0 $CC_SVC ||
				warn "fairness: start failed"
			cc_bulk b1 "$LAB_A_IP:6001" 2
			cc_measure $CC_SVC "$WORK/fair-conns-$tag-$rep.series"
			cc_stop
			cc_fair_case "conns-$tag-$rep" "one pair, two connections, run $rep"
		done
		if [ "$loss" = 0 ] && cc_fair_wanted cubic; then
			# ours against one kernel TCP cubic flow (a sends)
			if lab_set_cc cubic; then
				cc_service $CC_SVC sinksource &&
					cc_pair p1 0 $CC_SVC ||
					warn "fairness: start failed"
				cc_bulk b1 "$LAB_A_IP:6001"
				cc_bulk b2 "$LAB_B_IP:$CC_SVC"
				cc_measure $CC_SVC "$WORK/fair-vs-cubic.series"
				cc_stop
				# the tunnel server (in b) connects from b's
				# address, TCP comes straight from a
				local ours tcp
				ours=$(awk -v p="$LAB_B_IP:" 'index($1, p) == 1 {print $2}' <<<"$CC_GOOD")
				tcp=$(awk -v p="$LAB_A_IP:" 'index($1, p) == 1 {print $2}' <<<"$CC_GOOD")
				say "   ours vs TCP cubic: ours ${ours:-?}, cubic ${tcp:-?} Mbit/s"
				cc_rec fair vs-cubic ours_mbit "$ours"
				cc_rec fair vs-cubic cubic_mbit "$tcp"
				cc_rec fair vs-cubic ab_qdelay_ms "$(cc_trace_mean 4)"
			else
				say "   ours vs TCP cubic: cubic unavailable"
			fi
		fi
		lab down >/dev/null 2>&1
	done
}

# cc_fair_plot: per-flow goodput per second, run 1 of each case
cc_fair_plot() {
	local c files='' titles='' t
	command -v gnuplot >/dev/null || return 0
	for c in pairs-0-1 conns-0-1 vs-cubic pairs-1-1 conns-1-1; do
		[ -s "$WORK/fair-$c.series" ] || continue
		cc_series_dat "$WORK/fair-$c.series" >"$WORK/fair-$c.dat"
		case $c in
		pairs-*) t="two pairs, ${c:6:1}% loss" ;;
		conns-*) t="one pair two connections, ${c:6:1}% loss" ;;
		*) t="ours (flow 0) vs TCP cubic (flow 1), 0% loss" ;;
		esac
		files="$files $WORK/fair-$c.dat" titles="$titles${titles:+|}$t"
	done
	[ -n "$files" ] || return 0
	timeout 60 gnuplot -e "files='${files# }'; titles='$titles'; outfile='$OUT/cc_fair.png'; warm=$CC_WARM" \
		"$HERE/cc_fair.gp" || warn "gnuplot failed"
}

# ---- b. latency under load ----------------------------------------------

# cc_demux_pair: sinksource and echo in b behind demux.pl on CC_SVC, and
# pair 0 in front of it: uploads and interactive probes share one pair.
cc_demux_pair() {
	cc_service $CC_SINK sinksource && cc_service $CC_ECHO echo &&
		cc_bg b demux perl "$HERE/demux.pl" "$LAB_B_IP:$CC_SVC" \
			"$LAB_B_IP:$CC_SINK" "$LAB_B_IP:$CC_ECHO" $((LAB_T + 60)) &&
		ns_port b tcp $CC_SVC && cc_pair p1 0 $CC_SVC
}

# cc_inter NAME TARGET SECS: one interactive run; records median, p95,
# max, mean, count under latency/NAME.
cc_inter() {
	local line n med p95 mx mean un
	lab exec a "$BUILD/tests/loadgen" --connect "$2" --mode interactive \
		--interval 100 --duration "$3" --timeout "$(($3 + 20))" \
		--samples "$WORK/inter-$1.samples" >"$WORK/inter-$1.out" 2>&1
	# "interactive: count N median X p95 Y max Z mean M ms, unanswered U of N"
	line=$(grep '^interactive:' "$WORK/inter-$1.out")
	if [ -z "$line" ]; then
		say "   $1: no result: $(tail -n 1 "$WORK/inter-$1.out")"
		return 1
	fi
	read -r n med p95 mx mean un <<<"$(awk '{print $3, $5, $7, $9, $11, $14}' <<<"$line")"
	cc_rec latency "$1" count "$n"
	cc_rec latency "$1" median_ms "$med"
	cc_rec latency "$1" p95_ms "$p95"
	cc_rec latency "$1" max_ms "$mx"
	cc_rec latency "$1" mean_ms "$mean"
	cc_rec latency "$1" unanswered "$un"
	say "   $1: median $med p95 $p95 max $mx ms ($n answers, $un unanswered)"
}

# cc_loaded NAME BULK_TARGET INTER_TARGET: interactive beside a bulk
# upload that has had CC_WARM s to fill the queue.
cc_loaded() {
	local s0 s1 t0 t1
	cc_bulk "bulk-$1" "$2"
	sleep "$CC_WARM"
	s0=$(cc_flows $CC_SINK | awk '{ s += $2 } END { print s + 0 }')
	t0=$(date +%s.%N)
	CC_T0=$(tail -n 1 "$CC_TRACE" | awk '{print $1}')
	cc_inter "$1" "$3" "$CC_LAT_T"
	CC_T1=$(tail -n 1 "$CC_TRACE" | awk '{print $1}')
	s1=$(cc_flows $CC_SINK | awk '{ s += $2 } END { print s + 0 }')
	t1=$(date +%s.%N)
	cc_rec latency "$1" bulk_mbit "$(calc "($s1 - $s0) * 8 / ($t1 - $t0) / 1e6")"
	cc_rec latency "$1" ab_qdelay_ms "$(cc_trace_mean 4)"
	cc_rec latency "$1" ba_qdelay_ms "$(cc_trace_mean 10)"
	say "      bulk beside it: $(cg "latency/$1/bulk_mbit") Mbit/s," \
		"mean queue delay a>b $(cg "latency/$1/ab_qdelay_ms") ms"
}

cc_latency() {
	local cc
	cc_up 50 25 0.01 || return
	say "== latency: 100 B every 100 ms, 50 Mbit/s, 50 ms RTT, 1% loss"
	cc_demux_pair ||
		{ warn "latency: start failed"; cc_stop; lab down; return; }
	cc_inter base-tcp "$LAB_B_IP:$CC_ECHO" "$CC_BASE_T"
	cc_inter base-ours "$LAB_A_IP:6001" "$CC_BASE_T"
	cc_loaded ours "$LAB_A_IP:6001" "$LAB_A_IP:6001"
	stop "${CC_BG[-1]}" # that bulk upload
	for cc in cubic bbr; do
		if ! grep -qw "$cc" /proc/sys/net/ipv4/tcp_available_congestion_control ||
			! lab_set_cc "$cc"; then
			say "   tcp-$cc: unavailable"
			continue
		fi
		cc_loaded "tcp-$cc" "$LAB_B_IP:$CC_SINK" "$LAB_B_IP:$CC_ECHO"
		stop "${CC_BG[-1]}"
	done
	cc_stop
	lab down >/dev/null 2>&1
}

# ---- c. many flows ------------------------------------------------------

cc_many() {
	cc_up 50 50 0.01 || return
	say "== 8 uploads through one pair, 50 Mbit/s, 100 ms RTT, 1% loss, $CC_T s"
	cc_service $CC_SVC sinksource && cc_pair p1 0 $CC_SVC ||
		warn "many: start failed"
	cc_bulk b8 "$LAB_A_IP:6001" 8
	cc_measure $CC_SVC
	cc_stop
	local g
	g=$(cc_sum)
	cc_rec many 8x flows "$(wc -l <<<"$CC_GOOD")"
	cc_rec many 8x total_mbit "$g"
	cc_rec many 8x minmax "$(cc_minmax)"
	cc_rec many 8x jain "$(cc_jain)"
	cc_rec many 8x wire_per_goodput "$(calc "$CC_TX / ($g * 1e6 / 8 * $CC_SECS)")"
	cc_rec many 8x ab_qdelay_ms "$(cc_trace_mean 4)"
	cc_rec many 8x ab_qdrop "$(awk -v a="$CC_T0" -v b="$CC_T1" '!/^#/ &&
		$1 > a && $1 <= b { s += $6 } END { print s + 0 }' "$CC_TRACE")"
	say "   total $g Mbit/s, flows $(awk '{printf "%s ", $2}' <<<"$CC_GOOD")," \
		"wire/goodput $(cg many/8x/wire_per_goodput), mean queue delay" \
		"$(cg many/8x/ab_qdelay_ms) ms"
	lab down >/dev/null 2>&1
}

# ---- d. trace with a rate cut ----------------------------------------------

cc_trace() {
	local half=$((CC_T / 2)) t0 probe n
	cc_up 50 50 0.01 || return
	say "== trace: one upload, 50 Mbit/s, 100 ms RTT, 1% loss; 20 Mbit/s after ${half} s"
	cc_demux_pair || { warn "trace: start failed"; cc_stop; lab down; return; }
	t0=$(tail -n 1 "$CC_TRACE" | awk '{print $1}')
	cc_bulk b1 "$LAB_A_IP:6001"
	# a probe beside it through the same pair: the RTT a second session
	# of this peer sees (ends by itself, then writes its samples)
	rm -f "$WORK/probe.samples"
	cc_bg a probe "$BUILD/tests/loadgen" --connect "$LAB_A_IP:6001" \
		--mode interactive --interval 100 --duration "$((CC_T - 1))" \
		--timeout "$((CC_T + 8))" --samples "$WORK/probe.samples"
	probe=$BG_PID
	sleep "$half"
	lab set --rate 20 >/dev/null
	sleep "$((CC_T - half))"
	for n in $(seq 200); do
		kill -0 "$probe" 2>/dev/null || break
		sleep 0.05
	done
	cc_stop
	lab down >/dev/null 2>&1
	# trace relative to the upload's start: t, a>b Mbit/s, a>b queue
	# delay, RTT = propagation + both queues
	awk -v t0="$t0" -v h="$half" '!/^#/ && $1 > t0 {
		t = $1 - t0; printf "%.1f\t%s\t%s\t%s\t%.2f\t%s\n", t, $2, $4,
			$5, 100 + $4 + $10, (t < h ? 50 : 20) }' "$CC_TRACE" \
		>"$WORK/cc_trace.dat"
	{
		printf 't_s\tab_mbit\tab_qdelay_ms\tab_qmax_ms\trtt_est_ms\tlink_mbit\n'
		cat "$WORK/cc_trace.dat"
	} >"$OUT/cc_trace.tsv"
	local ph a b
	# steady phases: each skips its first CC_WARM s (start-up, the cut)
	for ph in "$CC_WARM $half before" "$((half + CC_WARM)) $CC_T after"; do
		read -r a b n <<<"$ph"
		cc_rec trace "$n" mbit "$(awk -v a="$a" -v b="$b" '$1 > a && $1 <= b {
			s += $2; c++ } END { if (c) printf "%.2f", s / c }' "$WORK/cc_trace.dat")"
		cc_rec trace "$n" qdelay_ms "$(awk -v a="$a" -v b="$b" '$1 > a && $1 <= b {
			s += $3; c++ } END { if (c) printf "%.2f", s / c }' "$WORK/cc_trace.dat")"
		cc_rec trace "$n" probe_median_ms "$(awk -v a="$a" -v b="$b" \
			'$1 > a && $1 <= b { print $2 }' "$WORK/probe.samples" 2>/dev/null |
			sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')"
	done
	cc_rec trace after qdelay_peak_ms "$(awk -v h="$half" '$1 > h && $4 > m { m = $4 }
		END { print m + 0 }' "$WORK/cc_trace.dat")"
	say "   before the cut $(cg trace/before/mbit) Mbit/s, queue $(cg trace/before/qdelay_ms) ms," \
		"probe RTT $(cg trace/before/probe_median_ms) ms; after $(cg trace/after/mbit) Mbit/s," \
		"queue $(cg trace/after/qdelay_ms) ms (peak $(cg trace/after/qdelay_peak_ms) ms)," \
		"probe RTT $(cg trace/after/probe_median_ms) ms"
	if command -v gnuplot >/dev/null; then
		timeout 60 gnuplot -e "datafile='$WORK/cc_trace.dat'; probefile='$WORK/probe.samples'; outfile='$OUT/cc_trace.png'; cut=$half" \
			"$HERE/cc_trace.gp" || warn "gnuplot failed"
	fi
}

# ---- report -----------------------------------------------------------------

cc_goal() { # text value op limit
	local ok
	if [ -z "$2" ] || [ "$2" = - ]; then
		echo "- $1: not measured"
		return
	fi
	ok=$(LC_ALL=C awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN {
		r = (op == ">=") ? v >= l : v < l; print r ? "PASS" : "MISS" }')
	echo "- $1: $2 (goal $3 $4) **$ok**"
}

# cc_goal_all TEXT CASE: min/max >= 0.8 in every run of fairness CASE
cc_goal_all() {
	local rep v all='' ok=PASS
	for rep in $(seq "$CC_REPS"); do
		v=$(cg "fair/$2-$rep/minmax")
		all="$all${all:+, }$(fmt %s "$v")"
		if [ -z "$v" ] || [ "$v" = - ] ||
			! LC_ALL=C awk -v v="$v" 'BEGIN { exit !(v >= 0.8) }'; then
			ok=MISS
		fi
	done
	echo "- $1: $all (goal >= 0.8 in every run) **$ok**"
}

cc_report() {
	local md=$OUT/cc.md c tag k base rep
	{
		echo "# Congestion control on the lab link"
		echo
		echo "Generated by \`contrib/bench/bench.sh --cc-only\` (cc.sh) on $(date -u +%Y-%m-%dT%H:%MZ)."
		echo "Ours: $OURS_VER (git $GIT_REV), shipped client.json/server.json (addresses and key"
		echo "replaced). Machine: $MACHINE; load $CC_LOAD at the start, $(loadavg) at the end"
		echo "(2 cores shared with other jobs: tunnel, load generator and link emulator compete)."
		echo "Link: contrib/bench/lab.sh (linkem), drop-tail queue of 100 ms at the rate, loss"
		echo "per direction. Goodput per flow = bytes the service's socket received"
		echo "(\`ss bytes_received\` in namespace b) over the run minus its first $CC_WARM s."
		echo "Queue delay = linkem's trace: mean wait before serialisation of the packets"
		echo "queued a>b, averaged over the 100 ms intervals of the window."
		echo
		echo "## Fairness: two flows at once, 50 Mbit/s, 50 ms RTT (${CC_T} s)"
		echo
		echo "| case | loss | flow 1 Mbit/s | flow 2 Mbit/s | total | min/max | queue delay ms |"
		echo "|---|---:|---:|---:|---:|---:|---:|"
		for tag in 0 1; do
			for c in pairs conns; do
				for rep in $(seq "$CC_REPS"); do
					k="fair/$c-$tag-$rep"
					printf '| %s, run %s | %s%% | %s | %s | %s | %s | %s |\n' \
						"$([ $c = pairs ] && echo "two client/server pairs" || echo "one pair, two connections")" \
						"$rep" "$tag" "$(fmt %s "$(cg "$k/flow1_mbit")")" \
						"$(fmt %s "$(cg "$k/flow2_mbit")")" \
						"$(fmt %s "$(cg "$k/total_mbit")")" \
						"$(fmt %s "$(cg "$k/minmax")")" \
						"$(fmt %s "$(cg "$k/ab_qdelay_ms")")"
				done
			done
		done
		echo
		echo "Ours against one kernel TCP cubic flow, 0% loss: ours" \
			"$(fmt %s "$(cg fair/vs-cubic/ours_mbit)") Mbit/s, cubic" \
			"$(fmt %s "$(cg fair/vs-cubic/cubic_mbit)") Mbit/s (ours ÷ cubic" \
			"$(ratio "$(cg fair/vs-cubic/ours_mbit)" "$(cg fair/vs-cubic/cubic_mbit)")," \
			"queue delay $(fmt %s "$(cg fair/vs-cubic/ab_qdelay_ms)") ms)."
		echo
		echo "Each flow per second (run 1 of each case; the dashed line ends the"
		echo "excluded start-up):"
		echo
		echo "![per-flow goodput per second](cc_fair.png)"
		echo
		echo "## Interactive latency under load, 50 Mbit/s, 50 ms RTT, 1% loss"
		echo
		echo "loadgen interactive: one connection, 100 B every 100 ms, echoed; round trip"
		echo "per request. Alone for $CC_BASE_T s (base), then for $CC_LAT_T s beside one"
		echo "bulk upload started $CC_WARM s earlier: through ours, the same client/server"
		echo "pair (a second session); for TCP, two direct connections. Ratios are to the"
		echo "base median of the same path (ours idle for ours, direct TCP for TCP)."
		echo "Our one tunnel server has one \`connect\` address, so through ours the upload"
		echo "and the probe reach their services via contrib/bench/demux.pl (by first bytes)."
		echo "The bulk column shows how far each loads the link: TCP cubic under 1% random"
		echo "loss stays near the Mathis limit (MSS/RTT x 1.22/sqrt(p), about 2.8 Mbit/s"
		echo "here), so its row shows the probe's own loss recovery, not a queue."
		echo
		echo "| path | median ms | p95 ms | max ms | median ÷ base | p95 ÷ base | max ÷ base | bulk Mbit/s | queue delay a>b ms |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
		for c in base-tcp base-ours ours tcp-cubic tcp-bbr; do
			k="latency/$c"
			[ "$c" = ours ] && base=$(cg latency/base-ours/median_ms) ||
				base=$(cg latency/base-tcp/median_ms)
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
				"$(case $c in base-tcp) echo "TCP alone (no tunnel)" ;;
					base-ours) echo "ours alone" ;;
					ours) echo "ours beside an upload through the same pair" ;;
					*) echo "TCP ${c#tcp-}, beside a TCP ${c#tcp-} upload" ;; esac)" \
				"$(fmt %s "$(cg "$k/median_ms")")" "$(fmt %s "$(cg "$k/p95_ms")")" \
				"$(fmt %s "$(cg "$k/max_ms")")" \
				"$(ratio "$(cg "$k/median_ms")" "$base")" \
				"$(ratio "$(cg "$k/p95_ms")" "$base")" \
				"$(ratio "$(cg "$k/max_ms")" "$base")" \
				"$(fmt %s "$(cg "$k/bulk_mbit")")" \
				"$(fmt %s "$(cg "$k/ab_qdelay_ms")")"
		done
		echo
		echo "## Many flows: 8 uploads through one pair, 50 Mbit/s, 100 ms RTT, 1% loss"
		echo
		echo "Total goodput **$(fmt %s "$(cg many/8x/total_mbit)") Mbit/s**" \
			"($(fmt %s "$(cg many/8x/flows)") flows; min/max $(fmt %s "$(cg many/8x/minmax)")," \
			"Jain's index $(fmt %s "$(cg many/8x/jain)")); wire bytes (both directions, IP, before" \
			"loss) per goodput byte $(fmt %s "$(cg many/8x/wire_per_goodput)");" \
			"mean queue delay a>b $(fmt %s "$(cg many/8x/ab_qdelay_ms)") ms;" \
			"queue-full drops a>b $(fmt %s "$(cg many/8x/ab_qdrop)")."
		echo
		echo "## Trace: one upload, 50 Mbit/s → 20 Mbit/s at $((CC_T / 2)) s, 100 ms RTT, 1% loss"
		echo
		echo "Delivered a>b (IP bytes, linkem trace, retransmissions included) and the"
		echo "queue: $CC_WARM s after the start to the cut $(fmt %s "$(cg trace/before/mbit)") Mbit/s," \
			"queue delay $(fmt %s "$(cg trace/before/qdelay_ms)") ms; from $CC_WARM s after the cut to" \
			"the end $(fmt %s "$(cg trace/after/mbit)") Mbit/s, queue delay" \
			"$(fmt %s "$(cg trace/after/qdelay_ms)") ms (peak after the cut" \
			"$(fmt %s "$(cg trace/after/qdelay_peak_ms)") ms). Median round trip of a probe"
		echo "(100 B every 100 ms through the same pair, a second session):" \
			"$(fmt %s "$(cg trace/before/probe_median_ms)") ms before the cut," \
			"$(fmt %s "$(cg trace/after/probe_median_ms)") ms after (same windows;" \
			"propagation alone: 100 ms). Data: cc_trace.tsv."
		echo
		echo "![delivery and queue delay over time](cc_trace.png)"
		echo
		echo "## Goals"
		echo
		for tag in 0 1; do
			for c in pairs conns; do
				cc_goal_all "two flows within 20%, $([ $c = pairs ] &&
					echo "two pairs" || echo "one pair"), $tag% loss (min/max of each run)" \
					"$c-$tag"
			done
		done
		cc_goal "interactive RTT < 2x base through ours under load (median ÷ base)" \
			"$(ratio "$(cg latency/ours/median_ms)" "$(cg latency/base-ours/median_ms)")" "<" 2
		cc_goal "interactive RTT < 2x base through ours under load (p95 ÷ base)" \
			"$(ratio "$(cg latency/ours/p95_ms)" "$(cg latency/base-ours/median_ms)")" "<" 2
		if [ -n "$QUICK" ]; then
			echo
			echo "_Quick run: short runs; figures are indicative only._"
		fi
	} >"$md"
}

bench_cc() {
	LAB=${BENCH_LAB:-$HERE/lab.sh}
	if [ ! -f "$LAB" ] || [ "$(id -u)" -ne 0 ]; then
		say "congestion-control lab: not available (needs $LAB and root)"
		return 0
	fi
	export LAB_BUILD=${LAB_BUILD:-$BUILD} LAB_NAME=${LAB_NAME:-kbench}
	CC_T=30 CC_WARM=5 CC_BASE_T=10 CC_LAT_T=20 CC_REPS=2
	[ -n "$QUICK" ] && CC_T=10 CC_WARM=3 CC_BASE_T=3 CC_LAT_T=5 CC_REPS=1
	CC_REPS=${BENCH_CC_REPS:-$CC_REPS}
	LAB_T=$((CC_T + 60)) # lab_bg's bound on what it starts
	CC_N=0
	modprobe tcp_bbr 2>/dev/null
	CLEANUP_EXTRA=lab_cleanup
	CC_LOAD=$(loadavg)
	CTSV=$WORK/cc.tsv
	printf 'section\tcase\tmetric\tvalue\tnote\n' >"$CTSV"
	say "== congestion control on the lab link (load $CC_LOAD)"
	# BENCH_CC_SECTIONS="fair many" runs only those (trial runs; the
	# report then has empty cells for the others)
	local sec
	for sec in ${BENCH_CC_SECTIONS:-fair latency many trace}; do
		case $sec in
		fair | latency | many | trace) "cc_$sec" ;;
		*) warn "BENCH_CC_SECTIONS: no section '$sec'" ;;
		esac
	done
	CLEANUP_EXTRA=''
	lab_restore_cc
	cc_fair_plot
	cc_report
	cp "$CTSV" "$OUT/cc.tsv"
	say ""
	cat "$OUT/cc.md"
}
