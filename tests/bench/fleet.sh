#!/bin/sh
# Fleet benchmark (not part of the test command): TASKS tasks of STEPS steps
# each, with --agents 100, driven by the scripted model (which costs
# nothing). Every step is a cheap command in agentd-sandbox; the last one
# makes the fixture's test pass and submits, so each task gets a baseline
# (the test fails), a patch, and a verification (passed, fixed).
#
# Reports:
#  - the total wall time and steps per second;
#  - agentd's own CPU time per step (its threads only: commands run in other
#    processes), the event loop's lag (p99 and worst, from a 20 ms timer),
#    and agentd's peak RSS;
#  - per task: wall time from submission to awaiting_review (median, p90),
#    and where it went, from agentd's metrics: sandboxed commands by use
#    (steps, baseline, patch, verification: spawn to exit), the host's git
#    work on repositories and trees, the model, and the rest (waiting for a
#    CPU or the loop, commits).
#
#   tests/bench/fleet.sh [TASKS [STEPS]]
#
# With --model FILE (a GGUF with a chat template), TASKS agents (default 32)
# run STEPS steps each (default 5) on the in-process engine instead, with
# --agents TASKS and small reply bounds (--think-max 256, --block-max 128,
# --reply-max-tokens 256). Reports the aggregate generated tokens/s, the
# prefix-cache hit rate (and the turn-to-turn share for reference), time to
# first token per turn (median over agents), and the grammar's mask cost per
# constrained token beside the forward passes' time per step.
#   tests/bench/fleet.sh --model FILE [TASKS [STEPS]]
set -eu
cd "$(dirname "$0")/../.."
model=
if [ "${1:-}" = "--model" ]; then
	model=$2
	shift 2
fi
tasks=${1:-$([ -n "$model" ] && echo 32 || echo 100)}
steps=${2:-$([ -n "$model" ] && echo 5 || echo 10)}

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
printf 'test:\n\t@test -f fixed\n' >"$work/repo/Makefile"
git -C "$work/repo" add Makefile
git -C "$work/repo" -c user.name=b -c user.email=b@x commit -qm base

# STEPS - 1 echoes, then the fix and submit.
{
	printf '{"default":['
	i=1
	while [ "$i" -lt "$steps" ]; do
		printf '"Step %d.\\n```bash\\necho step %d\\n```",' "$i" "$i"
		i=$((i + 1))
	done
	printf '"Done.\\n```bash\\ntouch fixed && submit\\n```"]}'
} >"$work/script.json"

sock="$work/data/agentd.sock"
if [ -n "$model" ]; then
	build/daemon/agentd --data-dir "$work/data" --model "$model" --agents "$tasks" --think-max 256 \
		--block-max 128 --reply-max-tokens 256 --kv-memory 4G --min-free-disk 0 --log-level warn \
		2>"$work/agentd.log" &
else
	build/daemon/agentd --data-dir "$work/data" --llm "scripted:$work/script.json" --agents 100 \
		--min-free-disk 0 --log-level warn 2>"$work/agentd.log" &
fi
pid=$!
for i in $(seq 600); do
	[ -S "$sock" ] && break
	sleep 0.05
done

if [ -n "$model" ]; then
	start=$(date +%s.%N)
	body="{\"repo\":\"$work/repo\",\"instruction\":\"bench\",\"test_command\":\"make test\",\"budget\":{\"max_steps\":$steps}}"
	seq "$tasks" | xargs -P 32 -I{} curl -sf --unix-socket "$sock" -H 'Content-Type: application/json' \
		-d "$body" -o /dev/null http://agentd/v1/tasks
	while :; do
		left=$(curl -sf --unix-socket "$sock" http://agentd/v1/fleet | sed 's/.*"busy":\([0-9]*\).*"queue_depth":\([0-9]*\).*/\1 \2/')
		[ "$left" = "0 0" ] && break
		sleep 0.5
	done
	end=$(date +%s.%N)
	curl -sf --unix-socket "$sock" http://agentd/v1/fleet >"$work/fleet.json"
	curl -sf --unix-socket "$sock" "http://agentd/v1/tasks?limit=500" >"$work/tasks.json"
	for id in $(node -e 'for (const t of JSON.parse(require("fs").readFileSync(process.argv[1])).tasks) console.log(t.id)' "$work/tasks.json"); do
		curl -sf --unix-socket "$sock" "http://agentd/v1/tasks/$id/events?limit=500" >"$work/events-$id.json"
	done
	node -e '
		const fs = require("fs");
		const [dir, wall, tasks, steps] = process.argv.slice(1);
		const e = JSON.parse(fs.readFileSync(dir + "/fleet.json")).engine;
		const ttft = [];
		let out = 0, ideal = 0, prompt = 0;
		for (const f of fs.readdirSync(dir).filter((n) => n.startsWith("events-"))) {
			let prev = null, turn = 0;
			for (const ev of JSON.parse(fs.readFileSync(dir + "/" + f)).events) {
				if (ev.kind !== "step") continue;
				const d = ev.data;
				(ttft[turn] ??= []).push(d.ttft_ms);
				out += d.tokens_out;
				prompt += d.tokens_in;
				if (prev) ideal += prev.tokens_in + prev.tokens_out - 1;
				prev = d;
				turn++;
			}
		}
		const med = (v) => { v = [...v].sort((a, b) => a - b); return v[Math.floor((v.length - 1) / 2)]; };
		console.log(`${tasks} agents x ${steps} steps on ${require("os").cpus().length} cores, wall ${(+wall).toFixed(1)} s`);
		console.log(`generated ${out} tokens: ${(out / wall).toFixed(1)} tokens/s aggregate; engine decode ${e.decode_tokens_per_s} tokens/s, prefill ${e.prefill_tokens_per_s} tokens/s (step time shared by rows)`);
		console.log(`prefix cache: ${e.cached_tokens} of ${e.prompt_tokens} prompt tokens reused (${(100 * e.prefix_hit_rate).toFixed(1)}%); what the previous turn computed: ${(100 * ideal / prompt).toFixed(1)}%`);
		console.log(`time to first token, median by turn (ms): ${ttft.map((v) => med(v).toFixed(0)).join(" ")}`);
		console.log(`grammar: ${e.grammar_masks} masks, ${(1e6 * e.grammar_seconds / e.grammar_masks).toFixed(1)} us each; forward passes ${(1e3 * e.forward_seconds / e.steps).toFixed(1)} ms per step over ${e.steps} steps (masks ${(100 * e.grammar_seconds / e.forward_seconds).toFixed(1)}% of forward time)`);
	' "$work" "$(awk -v a="$end" -v b="$start" "BEGIN { print a - b }")" "$tasks" "$steps"
	exit 0
fi

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
metrics() { curl -sf --unix-socket "$sock" http://agentd/metrics; }
metric() { metrics | awk -v m="$1" '$1 == m { print $2 }'; }

cpu0=$(ticks)
start=$(date +%s.%N)
body="{\"repo\":\"$work/repo\",\"instruction\":\"bench\",\"test_command\":\"make test\",\"budget\":{\"max_steps\":$steps}}"
# Submitted at once (32 clients), as a team would with a backlog: one
# client in a loop would wait for a commit per task.
seq "$tasks" | xargs -P 32 -I{} curl -sf --unix-socket "$sock" -H 'Content-Type: application/json' \
	-d "$body" -o /dev/null http://agentd/v1/tasks
submitted=$(date +%s.%N)
while :; do
	left=$(curl -sf --unix-socket "$sock" http://agentd/v1/fleet | sed 's/.*"busy":\([0-9]*\).*"queue_depth":\([0-9]*\).*/\1 \2/')
	[ "$left" = "0 0" ] && break
	sleep 0.1
done
end=$(date +%s.%N)
cpu1=$(ticks)
# CPU seconds by thread: the loop (the main thread), the store, libuv's pool
# (spawning, tree walks).
threads=$(for t in /proc/"$pid"/task/*; do
	awk -v tid="$(basename "$t")" -v main="$pid" -v comm="$(cat "$t/comm")" '{
		what = tid == main ? "loop" : comm == "agentd-store" ? "store" : "pool"
		print what, $14 + $15 }' "$t/stat"
done | awk -v hz="$(getconf CLK_TCK)" '{ c[$1] += $2 } END {
	printf "loop %.2f s, store %.2f s, pool %.2f s", c["loop"] / hz, c["store"] / hz, c["pool"] / hz }')
metrics >"$work/metrics.txt"
m() { awk -v m="$1" '$1 == m { print $2 }' "$work/metrics.txt"; }
done_steps=$(m agentd_fleet_steps_total)
hz=$(getconf CLK_TCK)
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
lag=$(awk '
	/^agentd_loop_lag_seconds_bucket/ {
		match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
		n++; bound[n] = le; count[n] = $2
	}
	/^agentd_loop_lag_seconds_count/ { total = $2 }
	/^agentd_loop_lag_max_seconds/ { max = $2 }
	END {
		for (i = 1; i <= n; i++) if (count[i] >= 0.99 * total) { p99 = bound[i]; break }
		printf "%s %s", p99, max
	}' "$work/metrics.txt")
passed=$(m 'agentd_fleet_verifications_total{verdict="passed"}')
review=$(m 'agentd_tasks{state="awaiting_review"}')
sb_step=$(m 'agentd_fleet_sandbox_seconds_total{use="step"}')
sb_base=$(m 'agentd_fleet_sandbox_seconds_total{use="baseline"}')
sb_patch=$(m 'agentd_fleet_sandbox_seconds_total{use="patch"}')
sb_verify=$(m 'agentd_fleet_sandbox_seconds_total{use="verify"}')
ws=$(m 'agentd_fleet_workspace_seconds_total{op="make"}')
ws_measure=$(m 'agentd_fleet_workspace_seconds_total{op="measure"}')
ws_remove=$(m 'agentd_fleet_workspace_seconds_total{op="remove"}')
model=$(m agentd_fleet_model_seconds_total)

# Each task's wall time, from its timestamps (the last update is its move
# to awaiting_review).
curl -sf --unix-socket "$sock" "http://agentd/v1/tasks?limit=500" |
	grep -o '"created_at":"[^"]*","updated_at":"[^"]*"' |
	awk -F'"' '
	function secs(t) { return substr(t, 12, 2) * 3600 + substr(t, 15, 2) * 60 + substr(t, 18, 6) }
	{ d = secs($8) - secs($4); if (d < 0) d += 86400; print d, secs($4), secs($8) }' | sort -n >"$work/walls.txt"

awk -v t0="$start" -v t1="$end" -v c="$((cpu1 - cpu0))" -v hz="$hz" -v s="$done_steps" -v rss="$rss" \
	-v lag="$lag" -v tasks="$tasks" -v passed="$passed" -v review="$review" -v nproc="$(nproc)" \
	-v sb_step="$sb_step" -v sb_base="$sb_base" -v sb_patch="$sb_patch" -v sb_verify="$sb_verify" \
	-v ws="$ws" -v ws_measure="$ws_measure" -v ws_remove="$ws_remove" -v model="$model" -v walls="$work/walls.txt" -v t_sub="$submitted" -v threads="$threads" 'BEGIN {
	split(lag, l, " ")
	n = 0
	first = 1e9; last = 0
	while ((getline line < walls) > 0) {
		split(line, f, " ")
		n++; wall_of[n] = f[1]; sum += f[1]
		if (f[2] < first) first = f[2]
		if (f[3] > last) last = f[3]
	}
	med = wall_of[int((n + 1) / 2)]
	p90 = wall_of[int(0.9 * n + 0.5) > 0 ? int(0.9 * n + 0.5) : 1]
	mean = sum / n
	wall = t1 - t0
	cpu = c / hz
	printf "%d tasks x %d steps on %d cores: %d verified passed, %d awaiting review, %d steps\n", \
		tasks, s / tasks, nproc, passed, review, s
	printf "wall time %.1f s (%.0f steps/s); the submissions took %.2f s\n", wall, s / wall, t_sub - t0
	printf "agentd CPU %.2f s = %.3f ms per step, %.1f ms per task (%s)\n", \
		cpu, 1000 * cpu / s, 1000 * cpu / tasks, threads
	printf "event-loop lag p99 <= %s s, worst %s s\n", l[1], l[2]
	printf "peak RSS %.1f MiB\n", rss / 1024
	printf "per task, submission to awaiting_review: median %.2f s, p90 %.2f s, mean %.2f s (first submission to last verdict %.1f s)\n", \
		med, p90, mean, last - first
	sb = sb_step + sb_base + sb_patch + sb_verify
	printf "per task, mean seconds (share of the mean wall time):\n"
	printf "  sandboxes   %6.3f s (%4.1f%%): steps %.3f, baseline %.3f, patch %.3f, verification %.3f\n", \
		sb / tasks, 100 * sb / tasks / mean, sb_step / tasks, sb_base / tasks, sb_patch / tasks, sb_verify / tasks
	printf "  host git    %6.3f s (%4.1f%%): the base repository and the checkouts (agent, baseline, verification)\n", \
		ws / tasks, 100 * ws / tasks / mean
	printf "  measuring   %6.3f s (%4.1f%%): the workspace size after each step (a thread-pool walk)\n", \
		ws_measure / tasks, 100 * ws_measure / tasks / mean
	printf "  model       %6.3f s (%4.1f%%)\n", model / tasks, 100 * model / tasks / mean
	rest = mean - (sb + ws + ws_measure + model) / tasks
	printf "  the rest    %6.3f s (%4.1f%%): waiting for a CPU or the loop, commits; agentd CPU %.3f s of it\n", \
		rest, 100 * rest / mean, cpu / tasks
	printf "  after the verdict: %.3f s removing the run'"'"'s trees\n", ws_remove / tasks
}'
