#!/bin/sh
# Fleet benchmark (not part of the test command): TASKS tasks of STEPS steps
# each, every step a cheap command (echo) in agentd-sandbox, driven by the
# scripted model, with --agents 100. Reports the total wall time, the
# daemon's own CPU time per step (agentd's threads only: the commands run in
# other processes and the scripted model costs nothing), the event loop's
# lag (p99 and worst, from a 20 ms timer), and agentd's peak RSS.
#
#   tests/bench/fleet.sh [TASKS [STEPS]]
set -eu
cd "$(dirname "$0")/../.."
tasks=${1:-100}
steps=${2:-10}

scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build -Dbuildtype=release >/dev/null
fi
ninja -C build >/dev/null

work=$(mktemp -d /tmp/agentd-fleet-bench-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/repo"
git -C "$work/repo" init -q -b main
printf 'test:\n\ttrue\n' >"$work/repo/Makefile"
git -C "$work/repo" add Makefile
git -C "$work/repo" -c user.name=b -c user.email=b@x commit -qm base

# STEPS - 1 echoes, then submit.
{
	printf '{"default":['
	i=1
	while [ "$i" -lt "$steps" ]; do
		printf '"Step %d.\\n```bash\\necho step %d\\n```",' "$i" "$i"
		i=$((i + 1))
	done
	printf '"Done.\\n```bash\\nsubmit\\n```"]}'
} >"$work/script.json"

sock="$work/data/agentd.sock"
build/daemon/agentd --data-dir "$work/data" --llm "scripted:$work/script.json" --agents 100 \
	--min-free-disk 0 --log-level warn 2>"$work/agentd.log" &
pid=$!
for i in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.05
done

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
metric() { curl -sf --unix-socket "$sock" http://agentd/metrics | awk -v m="$1" '$1 == m { print $2 }'; }

cpu0=$(ticks)
start=$(date +%s.%N)
body="{\"repo\":\"$work/repo\",\"instruction\":\"bench\",\"test_command\":\"make test\",\"budget\":{\"max_steps\":$steps}}"
i=0
while [ "$i" -lt "$tasks" ]; do
	curl -sf --unix-socket "$sock" -H 'Content-Type: application/json' -d "$body" http://agentd/v1/tasks >/dev/null
	i=$((i + 1))
done
while :; do
	left=$(curl -sf --unix-socket "$sock" http://agentd/v1/fleet | sed 's/.*"busy":\([0-9]*\).*"queue_depth":\([0-9]*\).*/\1 \2/')
	[ "$left" = "0 0" ] && break
	sleep 0.1
done
end=$(date +%s.%N)
cpu1=$(ticks)
done_steps=$(metric agentd_fleet_steps_total)
hz=$(getconf CLK_TCK)
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
lag=$(curl -sf --unix-socket "$sock" http://agentd/metrics | awk '
	/^agentd_loop_lag_seconds_bucket/ {
		match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
		n++; bound[n] = le; count[n] = $2
	}
	/^agentd_loop_lag_seconds_count/ { total = $2 }
	/^agentd_loop_lag_max_seconds/ { max = $2 }
	END {
		for (i = 1; i <= n; i++) if (count[i] >= 0.99 * total) { p99 = bound[i]; break }
		printf "%s %s", p99, max
	}')
submitted=$(metric 'agentd_fleet_runs_ended_total{outcome="submitted"}')
awk -v t0="$start" -v t1="$end" -v c="$((cpu1 - cpu0))" -v hz="$hz" -v s="$done_steps" -v rss="$rss" \
	-v lag="$lag" -v tasks="$tasks" -v submitted="$submitted" -v nproc="$(nproc)" 'BEGIN {
	split(lag, l, " ")
	wall = t1 - t0
	printf "%d tasks x %d steps on %d cores: %d runs submitted, %d steps\n", tasks, s / tasks, nproc, submitted, s
	printf "wall time %.1f s (%.0f steps/s)\n", wall, s / wall
	printf "agentd CPU %.2f s = %.3f ms per step (loop, store and worker threads; commands excluded)\n", \
		c / hz, 1000 * c / hz / s
	printf "event-loop lag p99 <= %s s, worst %s s\n", l[1], l[2]
	printf "peak RSS %.1f MiB\n", rss / 1024
}'
