#!/usr/bin/env bash
# Start-up cost of agentd-sandbox beside bubblewrap, and 100 sandboxes at
# once. Not part of the test command: needs `scripts/install-deps.sh
# --bench` (bubblewrap). Builds a release agentd-sandbox in build-bench/
# (or uses $SANDBOX). Prints medians and side-by-side ratios from one run,
# since a small shared machine is noisy.
#
#   tests/bench/sandbox.sh            # 50 rounds, 100 concurrent
#   ROUNDS=200 CONCURRENT=100 tests/bench/sandbox.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${ROUNDS:-50}
concurrent=${CONCURRENT:-100}

if [ -z "${SANDBOX:-}" ]; then
	if [ ! -f build-bench/build.ninja ]; then
		meson setup build-bench -Dbuildtype=release -Dcuda=disabled >/dev/null
	fi
	ninja -C build-bench sandbox/agentd-sandbox >/dev/null
	SANDBOX=build-bench/sandbox/agentd-sandbox
fi
command -v bwrap >/dev/null || { echo "bwrap not found: run scripts/install-deps.sh --bench" >&2; exit 1; }

sandbox=("$SANDBOX" -- true)
sandbox_limits=("$SANDBOX" --workspace /tmp --timeout 30s --memory 256M --pids 128 --max-output 1M -- true)
bwrap=(bwrap --unshare-all --die-with-parent --ro-bind / / --dev /dev --proc /proc true)

# Microseconds taken by one run of "$@" (which must succeed).
time_once() {
	local start=$EPOCHREALTIME
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
	local end=$EPOCHREALTIME
	echo $(( (${end/./} - ${start/./}) ))
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

ms() {
	awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'
}

# Warm the page cache and the binaries.
for _ in 1 2 3; do
	time_once "${sandbox[@]}" >/dev/null
	time_once "${bwrap[@]}" >/dev/null
done

# Interleaved, so that both see the same noise.
: >/tmp/agentd-bench-sandbox.$$
: >/tmp/agentd-bench-limits.$$
: >/tmp/agentd-bench-bwrap.$$
for _ in $(seq "$rounds"); do
	time_once "${sandbox[@]}" >>/tmp/agentd-bench-sandbox.$$
	time_once "${bwrap[@]}" >>/tmp/agentd-bench-bwrap.$$
	time_once "${sandbox_limits[@]}" >>/tmp/agentd-bench-limits.$$
done
sandbox_us=$(median </tmp/agentd-bench-sandbox.$$)
limits_us=$(median </tmp/agentd-bench-limits.$$)
bwrap_us=$(median </tmp/agentd-bench-bwrap.$$)
rm -f /tmp/agentd-bench-sandbox.$$ /tmp/agentd-bench-limits.$$ /tmp/agentd-bench-bwrap.$$

# N at once: every one must succeed; total wall time.
at_once() {
	local n=$1
	shift
	local start=$EPOCHREALTIME pids=() failed=0
	for _ in $(seq "$n"); do
		"$@" >/dev/null 2>&1 &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=$((failed + 1))
	done
	local end=$EPOCHREALTIME
	echo "$(( (${end/./} - ${start/./}) )) $failed"
}
read -r sandbox_many_us sandbox_failed < <(at_once "$concurrent" "${sandbox[@]}")
read -r bwrap_many_us bwrap_failed < <(at_once "$concurrent" "${bwrap[@]}")

echo "machine: $(nproc) cores, $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "rounds: $rounds (interleaved), median wall time to start and finish 'true':"
printf '  %-44s %s\n' "agentd-sandbox -- true" "$(ms "$sandbox_us")"
printf '  %-44s %s\n' "agentd-sandbox with cgroup limits -- true" "$(ms "$limits_us")"
printf '  %-44s %s\n' "bwrap --unshare-all ... true" "$(ms "$bwrap_us")"
awk -v a="$sandbox_us" -v b="$bwrap_us" -v c="$limits_us" 'BEGIN {
	printf "  ratio agentd-sandbox / bwrap: %.2f (with limits: %.2f)\n", a / b, c / b }'
echo "$concurrent at once (all must succeed):"
printf '  %-44s %s, %d failed\n' "agentd-sandbox -- true" "$(ms "$sandbox_many_us")" "$sandbox_failed"
printf '  %-44s %s, %d failed\n' "bwrap --unshare-all ... true" "$(ms "$bwrap_many_us")" "$bwrap_failed"
[ "$sandbox_failed" -eq 0 ]
