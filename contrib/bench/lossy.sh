# lossy.sh — the lossy-link part of bench.sh (sourced; defines bench_lossy).
#
# Runs each contender through contrib/bench/lab.sh's two network namespaces
# joined by an emulated link (rate, one-way delay, random loss), and writes
# docs/bench/lossy.md, lossy.tsv and goodput_vs_loss.png.
#
# The lab interface relied on (lab.sh is written separately):
#   lab.sh up --rate MBIT --delay ONE_WAY_MS --loss FRACTION
#   lab.sh exec a|b CMD...      run CMD inside namespace a or b
#   lab.sh down
#   namespace a = 198.18.0.1 (the client side: load generator, tunnel
#   client); b = 198.18.0.2 (the server side: service, tunnel server).
#
# Method, per scenario and contender: a fresh sinksource service in b; the
# tunnel (if any) between a and b; one loadgen bulk upload from a for
# LAB_T seconds (its size is more than the link can carry in that time, so
# every run lasts LAB_T s). Goodput = bytes the service's socket had
# received when loadgen stopped / elapsed time. Then the transfer drains
# (what was in flight and queued is still delivered: lab_drain), and wire
# bytes = bytes sent on the namespaces' link interfaces (both directions, IP
# headers included, counted before the emulated loss) over the whole
# transfer, per byte the service received over the whole transfer. Read at
# the cut instead, the wire count held up to two windows in flight that
# the goodput count never saw (~3% at 2%/300 ms/100 Mbit, for every
# contender). CPU % = utime+stime of both tunnel processes / elapsed (100 =
# one core). Peak RSS = VmHWM of each tunnel process.
# shellcheck shell=bash
# shellcheck disable=SC2034 # CLEANUP_EXTRA: read by cleanup in lib.sh

# "loss one-way-delay-ms rate-mbit [jitter-ms]": RTT = 2 x delay; jitter:
# each datagram's delay varies by up to +-jitter ms, which reorders them
# (a busy Wi-Fi or mobile hop).
LAB_SCENARIOS=(
	"0 10 50"
	"0.01 50 50"
	"0.02 150 100"
	"0.05 50 50"
	"0.10 100 20"
	"0 10 50 3"
	"0.01 50 50 3"
)
# ours-nc: the sample configs + kcp.nc = 1 (no congestion window), to show
# how much of ours-sample's result is its loss-based congestion control
LAB_CONTENDERS=(tcp-cubic tcp-bbr go-default go-bdp ours-sample ours-nc)
LAB_A_IP=198.18.0.1
LAB_B_IP=198.18.0.2
LAB_SVC_PORT=5001 # the namespaces are private: fixed ports are free
LAB_TUN_PORT=6000
LAB_CLI_PORT=6001

LAB_WRAPS=() # lab.sh exec processes around our background commands
lab() { timeout -k 5 120 bash "$LAB" "$@"; }

# shellcheck disable=SC2317 # called from cleanup via CLEANUP_EXTRA
lab_cleanup() {
	lab down >/dev/null 2>&1
	lab_restore_cc
}

# lab_bg SIDE NAME CMD...: starts CMD in a namespace in the background and
# learns its real pid (lab.sh exec may fork, so $! is not the pid to
# measure). Sets BG_PID.
lab_bg() {
	local side=$1 name=$2 wrapper n
	shift 2
	rm -f "$WORK/$name.pid"
	: >"$WORK/$name.out"
	# shellcheck disable=SC2016 # $$ and $@ are expanded by sh, not here
	timeout -k 5 $((LAB_T + 120)) bash "$LAB" exec "$side" \
		sh -c 'echo $$ >"$0"; exec "$@"' "$WORK/$name.pid" "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
	wrapper=$!
	PIDS+=("$wrapper")
	LAB_WRAPS+=("$wrapper")
	for _ in $(seq 100); do
		[ -s "$WORK/$name.pid" ] && break
		sleep 0.05
	done
	BG_PID=$(cat "$WORK/$name.pid" 2>/dev/null)
	[ -n "$BG_PID" ] || return 1
	PIDS+=("$BG_PID")
}

# ns_port SIDE PROTO PORT: true once PORT is bound inside the namespace
# (/proc/net is per network namespace, seen from the reading process).
ns_port() {
	local hex n
	hex=$(printf ':%04X ' "$3")
	for _ in $(seq 100); do
		# not "| grep -q": with pipefail, an early grep exit fails it
		[[ $(lab exec "$1" cat "/proc/net/$2" "/proc/net/${2}6" \
			2>/dev/null) == *"$hex"* ]] && return 0
		sleep 0.05
	done
	return 1
}

# ns_tx SIDE: bytes sent by every interface but lo in the namespace.
ns_tx() {
	lab exec "$1" cat /proc/net/dev 2>/dev/null | awk -F'[: ]+' '
		/:/ && $2 != "lo" { for (i = 1; i <= NF; i++) if ($i != "") break;
		t += $(i + 9) } END { printf "%.0f", t }'
}

# ns_rcvd PORT: bytes received so far by the connections to b's PORT, as
# their sockets count them (ss bytes_received, which includes bytes still
# in the receive queue); empty if there are none.
ns_rcvd() {
	lab exec b ss -Htin "( sport = :$1 )" 2>/dev/null |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^bytes_received:/) {
			split($i, x, ":"); b += x[2]; n++ } }
		END { if (n) printf "%.0f", b }'
}

# lab_drain: waits until the link is quiet, when the namespaces' interfaces
# sent less than a datagram's worth in 1 s (keepalives may go on), at
# most LAB_DRAIN_MAX s. Sets DRAIN_S (seconds waited) and DRAIN_TX (the
# last count of both namespaces' tx bytes).
LAB_DRAIN_MAX=15
lab_drain() {
	local prev now quiet=0 i
	prev=$(($(ns_tx a) + $(ns_tx b)))
	DRAIN_S=0
	for ((i = 1; i <= LAB_DRAIN_MAX * 5; i++)); do
		sleep 0.2
		now=$(($(ns_tx a) + $(ns_tx b)))
		if [ $((now - prev)) -lt 300 ]; then
			quiet=$((quiet + 1))
		else
			quiet=0
		fi
		prev=$now
		[ $quiet -ge 5 ] && break
	done
	DRAIN_S=$(calc "$i / 5")
	DRAIN_TX=$prev
}

# lab_set_cc CC: TCP congestion control CC in both namespaces (the sender,
# a, decides the rate). Outside the initial namespace the kernel accepts
# only algorithms in the global tcp_allowed_congestion_control list: if CC
# is missing there, it is added for the run and the list restored after.
LAB_ALLOWED_SAVED=''
lab_set_cc() {
	local k=net.ipv4.tcp_congestion_control allowed side
	for side in a b; do
		if ! lab exec "$side" sysctl -qw "$k=$1" 2>/dev/null; then
			allowed=$(cat /proc/sys/net/ipv4/tcp_allowed_congestion_control)
			if [[ " $allowed " != *" $1 "* ]]; then
				[ -n "$LAB_ALLOWED_SAVED" ] ||
					LAB_ALLOWED_SAVED=$allowed
				sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed $1" ||
					return 2
			fi
			lab exec "$side" sysctl -qw "$k=$1" || return 2
		fi
	done
	[ "$(lab exec a cat /proc/sys/net/ipv4/tcp_congestion_control)" = "$1" ] ||
		return 2
}
lab_restore_cc() {
	[ -n "$LAB_ALLOWED_SAVED" ] || return 0
	sysctl -qw net.ipv4.tcp_allowed_congestion_control="$LAB_ALLOWED_SAVED"
	LAB_ALLOWED_SAVED=''
}

# lab_ours_conf NAME: our shipped configs, only addresses and key changed.
lab_ours_conf() {
	local psk
	psk=$("$DAEMON" --genpsk xchacha20poly1305_ietf) || return 1
	cp "$SRC/server.json" "$WORK/$1.server.json" &&
		cp "$SRC/client.json" "$WORK/$1.client.json" || return 1
	set_str "$WORK/$1.server.json" psk "$psk" &&
		set_str "$WORK/$1.client.json" psk "$psk" &&
		set_str "$WORK/$1.server.json" udp_bind "$LAB_B_IP:$LAB_TUN_PORT" &&
		set_str "$WORK/$1.server.json" connect "$LAB_B_IP:$LAB_SVC_PORT" &&
		set_str "$WORK/$1.client.json" listen "$LAB_A_IP:$LAB_CLI_PORT" &&
		set_str "$WORK/$1.client.json" udp_connect "$LAB_B_IP:$LAB_TUN_PORT" || return 1
	# BENCH_LOGLEVEL=3 (with --keep): each conversation's retransmission
	# counts in the kept daemon logs (docs/CONGESTION.md quotes them)
	if [ -n "${BENCH_LOGLEVEL:-}" ]; then
		sed -i "s/\"loglevel\": [0-9]/\"loglevel\": $BENCH_LOGLEVEL/" \
			"$WORK/$1.server.json" "$WORK/$1.client.json"
	fi
}

# lab_tunnel CONTENDER NAME RATE DELAY: starts the contender's tunnel (none
# for kernel TCP); sets TARGET (where loadgen connects) and TS, TC (pids of
# the tunnel server and client, empty for TCP). Returns 2 if unavailable.
lab_tunnel() {
	local who=$1 name=$2 rate=$3 delay=$4 cc w
	TS='' TC='' TARGET=$LAB_B_IP:$LAB_SVC_PORT
	case $who in
	tcp-cubic | tcp-bbr)
		cc=${who#tcp-}
		grep -qw "$cc" /proc/sys/net/ipv4/tcp_available_congestion_control ||
			return 2
		lab_set_cc "$cc"
		return
		;;
	ours-sample | ours-nc)
		lab_ours_conf "$name" || return 1
		if [ "$who" = ours-nc ]; then
			set_kcp "$WORK/$name.server.json" nc 1 &&
				set_kcp "$WORK/$name.client.json" nc 1 || return 1
		fi
		lab_bg b "$name.s" "$DAEMON" -c "$WORK/$name.server.json" || return 1
		TS=$BG_PID
		lab_bg a "$name.c" "$DAEMON" -c "$WORK/$name.client.json" || return 1
		TC=$BG_PID
		;;
	go-default | go-bdp)
		local args=(--crypt aes --key benchkey --nocomp --quiet --mode fast)
		if [ "$who" = go-bdp ]; then
			# window = bandwidth x RTT in 1350-byte packets
			w=$(LC_ALL=C awk -v r="$rate" -v d="$delay" 'BEGIN {
				w = r * 1e6 / 8 * (2 * d / 1000) / 1350;
				w = int(w) + (w > int(w)); if (w < 32) w = 32; print w }')
			args+=(--sndwnd "$w" --rcvwnd "$w")
		fi
		lab_bg b "$name.s" kcptun-server -l "$LAB_B_IP:$LAB_TUN_PORT" \
			-t "$LAB_B_IP:$LAB_SVC_PORT" "${args[@]}" || return 1
		TS=$BG_PID
		lab_bg a "$name.c" kcptun-client -l "$LAB_A_IP:$LAB_CLI_PORT" \
			-r "$LAB_B_IP:$LAB_TUN_PORT" "${args[@]}" || return 1
		TC=$BG_PID
		;;
	*) return 1 ;;
	esac
	TARGET=$LAB_A_IP:$LAB_CLI_PORT
	ns_port b udp "$LAB_TUN_PORT" && ns_port a tcp "$LAB_CLI_PORT"
}

# lab_one LABEL LOSS DELAY RATE CONTENDER: one measurement into the TSV.
lab_one() {
	local label=$1 loss=$2 delay=$3 rate=$4 who=$5 name svc rc
	local size tx0 tx1 c0 c1 line dt got cut gp pct wire cpu hs hc note=""
	name="lossy-${label//[^0-9a-z]/_}-$who"
	lab_bg b "$name.svc" "$BUILD/tests/upstream" --listen \
		"$LAB_B_IP:$LAB_SVC_PORT" --mode sinksource \
		--timeout $((LAB_T + 90)) --stats-file "$WORK/$name.stats" ||
		{ warn "$name: service did not start"; return 1; }
	svc=$BG_PID
	ns_port b tcp "$LAB_SVC_PORT" || warn "$name: service not listening"
	lab_tunnel "$who" "$name" "$rate" "$delay"
	rc=$?
	if [ $rc -ne 0 ]; then
		[ $rc -eq 2 ] && note="unavailable" || note="did not start"
		say "   $label $who: $note"
		stop "$TS" "$TC" "$svc"
		stop "${LAB_WRAPS[@]}"
		LAB_WRAPS=()
		lab_rec "$label" "$who" "" "" "" "" "" "" "$note"
		return 0
	fi
	# more than the link can carry in LAB_T s: every run lasts LAB_T s
	size=$(LC_ALL=C awk -v r="$rate" -v t="$LAB_T" \
		'BEGIN { printf "%dM", r / 8 * t * 1.5 + 1 }')
	tx0=$(($(ns_tx a) + $(ns_tx b)))
	c0=$(cpu_ticks "$TS" "$TC")
	lab exec a "$BUILD/tests/loadgen" --connect "$TARGET" --mode bulk \
		--up-size "$size" --timeout "$LAB_T" >"$WORK/$name.lg" 2>&1
	c1=$(cpu_ticks "$TS" "$TC")
	cut=$(ns_rcvd "$LAB_SVC_PORT")
	lab_drain
	tx1=$DRAIN_TX
	hc=$(kib "${TC:-0}" VmHWM)
	hs=$(kib "${TS:-0}" VmHWM)
	stop "$TS" "$TC" "$svc"
	stop "${LAB_WRAPS[@]}"
	LAB_WRAPS=()
	# "loadgen: bulk FAILED, X MiB up in T s, R MiB/s" (FAILED: timed out)
	line=$(grep '^loadgen: bulk' "$WORK/$name.lg" | tail -n 1)
	dt=$(awk '{print $(NF-3)}' <<<"$line")
	got=$(awk '{for (i = 1; i < NF; i++) if ($i == "bytes_in") print $(i + 1)}' \
		"$WORK/$name.stats" 2>/dev/null)
	if [ -z "$dt" ] || [ -z "$got" ]; then
		say "   $label $who: no result"
		lab_rec "$label" "$who" "" "" "" "" "" "" "no result"
		return 0
	fi
	got=$((got > 32 ? got - 32 : 0)) # minus the request header
	if [ -z "$cut" ]; then
		# the connection was gone at the cut (it failed early)
		cut=$got
		note="goodput from the service's stats"
	fi
	cut=$((cut > 32 ? cut - 32 : 0))
	cut=$((cut < got ? cut : got))
	gp=$(LC_ALL=C awk -v b="$cut" -v t="$dt" 'BEGIN { printf "%.2f", b * 8 / t / 1e6 }')
	pct=$(LC_ALL=C awk -v g="$gp" -v r="$rate" 'BEGIN { printf "%.1f", 100 * g / r }')
	wire=$(LC_ALL=C awk -v w="$((tx1 - tx0))" -v b="$got" \
		'BEGIN { if (b > 0) printf "%.3f", w / b }')
	if [ -n "$TS" ]; then
		cpu=$(LC_ALL=C awk -v t="$((c1 - c0))" -v hz="$CLK_TCK" -v d="$dt" \
			'BEGIN { printf "%.1f", 100 * t / hz / d }')
	fi
	if [ -n "$TS" ] && [ "${who#ours}" != "$who" ]; then
		# our own count: UDP payload bytes sent by both daemons
		local ub
		ub=$(grep -h 'datagrams: rx' "$WORK/$name".[sc].err |
			sed 's/.*tx [0-9]* (\([0-9]*\) B).*/\1/' | awk '{s += $1} END {print s}')
		[ -n "$ub" ] && [ "$got" -gt 0 ] &&
			note="${note:+$note; }daemon UDP payload/goodput $(calc "$ub / $got")"
	fi
	note="${note:+$note; }drained $(calc "($got - $cut) / 1048576") MiB in ${DRAIN_S} s"
	[ "${DRAIN_S%.*}" -ge "$LAB_DRAIN_MAX" ] && note="$note (not quiet)"
	say "   $label $who: $gp Mbit/s ($pct% of link), wire/goodput ${wire:--}," \
		"CPU ${cpu:--}%, peak RSS ${hc:--}/${hs:--} KiB ($note)"
	lab_rec "$label" "$who" "$gp" "$pct" "$wire" "${cpu:-}" "${hc:-}" "${hs:-}" "$note"
}

lab_rec() { # label who goodput pct wire cpu hwm_c hwm_s note
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$LTSV"
}

# lab_cell SCENARIO CONTENDER AWK: AWK run on that TSV row ($1 scenario,
# $2 contender, $3.. the figures).
lab_cell() {
	awk -F'\t' -v s="$1" -v w="$2" "\$1 == s && \$2 == w { $3 }" "$LTSV"
}

# lab_table HEAD ALIGN AWK: a markdown table, a row per scenario and a
# column per contender; AWK prints a cell from the contender's TSV row
# ($1 scenario, $2 contender, $3.. the figures), "-" when it prints none.
lab_table() {
	local sc who v
	printf '| %s |' "$1"
	for who in "${LAB_CONTENDERS[@]}"; do printf ' %s |' "$who"; done
	echo
	printf '|---|'
	for who in "${LAB_CONTENDERS[@]}"; do printf -- '%s|' "$2"; done
	echo
	for sc in "${LAB_LABELS[@]}"; do
		printf '| %s |' "$sc"
		for who in "${LAB_CONTENDERS[@]}"; do
			v=$(lab_cell "$sc" "$who" "$3")
			printf ' %s |' "${v:--}"
		done
		echo
	done
}

lab_report() {
	local md=$OUT/lossy.md sc who label v dat=$WORK/lossy.dat
	{
		echo "# Lossy-link benchmark"
		echo
		echo "Generated by \`contrib/bench/bench.sh\` on $(date -u +%Y-%m-%dT%H:%MZ)."
		echo "Machine: $MACHINE; load average $LAB_LOAD at the start, $(loadavg) at the end."
		echo "Each cell: one ${LAB_T} s upload (loadgen bulk) from namespace a to b through"
		echo "contrib/bench/lab.sh's emulated link; goodput in Mbit/s (share of the link rate):"
		echo "bytes the service had received when the upload stopped, over its ${LAB_T} s."
		echo "Go kcptun: \`--crypt aes --nocomp --mode fast\` (FEC 10+3); go-bdp adds"
		echo "\`--sndwnd = --rcvwnd =\` the bandwidth-delay product in 1350-byte packets."
		echo "Ours: the shipped sample configs (xchacha20poly1305_ietf, windows 1024);"
		echo "ours-nc: the same + \`kcp.nc = 1\` (no congestion window)."
		echo
		lab_table 'scenario (loss / RTT / rate)' '---:' '
			if ($3 == "") print ($9 == "" ? "-" : $9);
			else print $3 " (" $4 "%)"'
		echo
		echo "Cost per run: wire bytes per goodput byte / tunnel CPU % (100 = one core) /"
		echo "peak RSS client, server KiB. Wire bytes per goodput byte: after the upload"
		echo "stops, what is in flight drains (until the link is quiet for 1 s, at most"
		echo "${LAB_DRAIN_MAX} s); then all bytes both namespaces sent on the link (IP headers"
		echo "included, before the emulated loss) / all bytes the service received."
		echo
		lab_table 'scenario' '---' '
			if ($3 == "") next;
			c = ($6 == "") ? "kernel" : $6 "%";
			m = ($7 == "") ? "" : " / " $7 ", " $8;
			print $5 " / " c m'
		echo
		echo "![goodput against loss](goodput_vs_loss.png)"
	} >"$md"
	# plot data: loss %, label, then goodput % of link per contender
	{
		printf 'loss\tlabel'
		printf '\t%s' "${LAB_CONTENDERS[@]}"
		echo
	} >"$dat"
	{
		for sc in "${LAB_LABELS[@]}"; do
			printf '%s\t"%s"' "$(awk -F'\t' -v s="$sc" '$1 == s {
				split($1, a, "%"); print a[1]; exit }' "$LTSV")" "$sc"
			for who in "${LAB_CONTENDERS[@]}"; do
				v=$(lab_cell "$sc" "$who" 'print $4')
				printf '\t%s' "${v:-NaN}"
			done
			echo
		done
	} | sort -n -k1,1 >>"$dat"
	if command -v gnuplot >/dev/null; then
		timeout 60 gnuplot -e "datafile='$dat'; outfile='$OUT/goodput_vs_loss.png'; ncols=$((${#LAB_CONTENDERS[@]} + 2))" \
			"$HERE/goodput.gp" || warn "gnuplot failed"
	fi
}

bench_lossy() {
	local sc loss delay rate jitter jargs label who
	# BENCH_LAB: another lab.sh with the same interface (for testing)
	LAB=${BENCH_LAB:-$HERE/lab.sh}
	if [ ! -f "$LAB" ]; then
		say "lossy-link lab: lab not available ($LAB is missing)"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		say "lossy-link lab: lab not available (needs root for namespaces)"
		return 0
	fi
	# lab.sh finds its link emulator in LAB_BUILD; our own name, so that
	# a concurrent lab (e.g. the e2e test's) is not torn down by ours
	export LAB_BUILD=${LAB_BUILD:-$BUILD} LAB_NAME=${LAB_NAME:-kbench}
	LAB_T=20
	# BENCH_LAB_CONTENDERS="tcp-cubic ours-sample": a subset (for testing)
	[ -n "${BENCH_LAB_CONTENDERS:-}" ] &&
		read -r -a LAB_CONTENDERS <<<"$BENCH_LAB_CONTENDERS"
	# BENCH_LAB_SCENARIOS="0.02 150 100;0.05 50 50": a subset, likewise
	[ -n "${BENCH_LAB_SCENARIOS:-}" ] &&
		IFS=';' read -r -a LAB_SCENARIOS <<<"$BENCH_LAB_SCENARIOS"
	[ -n "$QUICK" ] && LAB_T=5
	modprobe tcp_bbr 2>/dev/null # may fail: lab_tunnel then says unavailable
	CLEANUP_EXTRA=lab_cleanup
	LAB_LOAD=$(loadavg)
	LTSV=$WORK/lossy.tsv
	printf 'scenario\tcontender\tgoodput_mbit\tpct_of_link\twire_per_goodput\tcpu_pct\thwm_client_kib\thwm_server_kib\tnote\n' >"$LTSV"
	LAB_LABELS=()
	say "== lossy-link lab, $LAB_T s per run (load $LAB_LOAD)"
	for sc in "${LAB_SCENARIOS[@]}"; do
		read -r loss delay rate jitter <<<"$sc"
		label="$(calc "100 * $loss")% / $((2 * delay)) ms / $rate Mbit"
		jargs=()
		if [ -n "$jitter" ] && [ "$jitter" != 0 ]; then
			label+=" / +-$jitter ms"
			jargs=(--jitter "$jitter" --reorder-ok)
		fi
		LAB_LABELS+=("$label")
		if ! lab up --rate "$rate" --delay "$delay" --loss "$loss" \
			"${jargs[@]}" >"$WORK/lab_up.log" 2>&1; then
			warn "lab.sh up failed for $label:"
			tail -n 5 "$WORK/lab_up.log" >&2
			for who in "${LAB_CONTENDERS[@]}"; do
				lab_rec "$label" "$who" "" "" "" "" "" "" "lab up failed"
			done
			continue
		fi
		for who in "${LAB_CONTENDERS[@]}"; do
			lab_one "$label" "$loss" "$delay" "$rate" "$who"
		done
		lab down >/dev/null 2>&1
	done
	CLEANUP_EXTRA=''
	lab_restore_cc
	lab_report
	cp "$LTSV" "$OUT/lossy.tsv"
	[ -z "${BENCH_OUT:-}" ] &&
		splice "$SRC/docs/BENCHMARKS.md" lossy "$OUT/lossy.md"
	say ""
	cat "$OUT/lossy.md"
}
