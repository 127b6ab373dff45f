#!/bin/bash
# ab_lab.sh REPS "LOSS DELAY RATE" BUILD... : did a change move a lab cell,
# or did the shared machine? One lossy-lab run of the cell (ours with the
# sample configs, lossy.sh's method) per build, the builds taking turns
# REPS times, so that the machine's moods hit them alike; prints each run's
# goodput line and its cost line. A cell is lossy.sh's "loss one-way-delay
# rate" triple, e.g. "0.02 150 100" (2%, 300 ms RTT, 100 Mbit/s). Each
# BUILD is a CMake build directory (e.g. a `git worktree` of the old
# commit built in Release). As root; ~1 min per run.
set -u
REPS=${1:?usage: $0 REPS "LOSS DELAY RATE" BUILD...}
CELL=${2:?usage: $0 REPS "LOSS DELAY RATE" BUILD...}
shift 2
[ $# -gt 0 ] || {
	echo "usage: $0 REPS \"LOSS DELAY RATE\" BUILD..." >&2
	exit 2
}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/kcptun-ablab.XXXXXX") || exit 1
trap 'rm -rf "$OUT"' EXIT

for i in $(seq "$REPS"); do
	for b in "$@"; do
		BENCH_OUT=$OUT BENCH_LAB_CONTENDERS=ours-sample \
			BENCH_LAB_SCENARIOS="$CELL" bash "$HERE/bench.sh" "$b" \
			--lossy-only >"$OUT/log" 2>&1 ||
			echo "$b: bench.sh failed (tail of its log below)" >&2
		# the goodput table's row, then the cost table's
		rows=$(grep -E '^\| [0-9]' "$OUT/lossy.md" 2>/dev/null | tr '\n' ' ')
		[ -n "$rows" ] || tail -n 5 "$OUT/log" >&2
		echo "$i $b: $rows"
	done
done
