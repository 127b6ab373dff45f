#!/usr/bin/env bash
# m.sh — one-word front end for building, testing and running kcptun-libev.
#   ./m.sh            build Release into build/
#   ./m.sh d          build Debug with ASan+UBSan into build-debug/
#   ./m.sh test       install what is missing, sanitizer build, run ctest
#   ./m.sh demo       install, build, run a client+server demo on loopback
#   ./m.sh bench      install, build, run the benchmarks (docs/BENCHMARKS.md)
#   ./m.sh fuzz [S]   run every fuzzer for S seconds each (default 60)
#   ./m.sh deps       install the build dependencies (apt-get, as root)
#   ./m.sh clean      remove build directories
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)

BUILD_DEPS="build-essential cmake pkg-config libev-dev libsodium-dev libjsonparser-dev libbloom-dev"
TEST_DEPS="clang clang-format libclang-rt-14-dev iproute2 iputils-ping iperf3"
BENCH_DEPS="clang iproute2 kcptun gnuplot-nox iperf3 procps"

# Install the Debian packages in $@ that are not installed yet.
need() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "m.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "m.sh: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure_build() { # dir, cmake args...
	local dir=$1
	shift
	cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
	cmake --build "$dir" -j"$JOBS"
}

build_release() {
	need $BUILD_DEPS
	configure_build build -DCMAKE_BUILD_TYPE=Release
}

build_test() {
	need $BUILD_DEPS $TEST_DEPS
	CC=clang configure_build build-test -DCMAKE_BUILD_TYPE=Debug \
		-DENABLE_SANITIZERS=ON -DENABLE_FUZZ=ON
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case "$cmd" in
build | r) build_release ;;
d)
	need $BUILD_DEPS
	configure_build build-debug -DCMAKE_BUILD_TYPE=Debug -DENABLE_SANITIZERS=ON
	;;
deps) need $BUILD_DEPS $TEST_DEPS ;;
test)
	build_test
	cd build-test
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	ctest --output-on-failure -j"$JOBS" "$@"
	;;
demo)
	build_release
	exec bash "$ROOT/contrib/demo.sh" "$ROOT/build" "$@"
	;;
bench)
	need $BUILD_DEPS $BENCH_DEPS
	build_release
	exec bash "$ROOT/contrib/bench/bench.sh" "$ROOT/build" "$@"
	;;
fuzz)
	build_test
	secs=${1:-60}
	for f in build-test/tests/fuzz_*; do
		echo "== $f ($secs s)"
		"$f" -max_total_time="$secs" -max_len=4096
	done
	;;
clean) rm -rf build build-debug build-test ;;
*)
	sed -n '2,10p' "$0" >&2
	exit 2
	;;
esac
