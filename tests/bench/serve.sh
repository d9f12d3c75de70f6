#!/bin/sh
# Serving benchmark (not part of the test command): agentd's serving engine
# beside llama.cpp's batched decode (node-llama-cpp, one context with N
# sequences), on the same random 150M-parameter Q8_0 model, in the same run.
#   1. Aggregate decode tokens/s with N sequences at once (N in PARALLEL), each
#      with a 128-token prompt generating 64 tokens: `agentd model bench
#      --parallel N` and tests/engine/judge/bench_parallel.mjs, alternating,
#      REPEAT times each; medians.
#   2. The agent simulation: AGENTS agents share a 1,024-token system prompt
#      and run TURNS turns (each appends the 32-token reply and a 100-token
#      user message), with the prefix cache on and then off.
#   tests/bench/serve.sh [DIR [REPEAT]]   (DIR: /tmp/agentd-model-bench, REPEAT: 3)
# Environment: THREADS (2), BUILD (build-bench, a release build made here),
# PARALLEL ("1 8 32 100"), AGENTS (100), TURNS (5), SIM_OFF (1: also run the
# simulation without the prefix cache).
set -eu
cd "$(dirname "$0")/../.."
dir=${1:-/tmp/agentd-model-bench}
repeat=${2:-3}
threads=${THREADS:-2}
build=${BUILD:-build-bench}
parallel=${PARALLEL:-"1 8 32 100"}
agents=${AGENTS:-100}
turns=${TURNS:-5}
sim_off=${SIM_OFF:-1}

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dbuildtype=release -Dcuda=disabled >/dev/null
fi
ninja -C "$build" daemon/agentd >/dev/null
agentd=$build/daemon/agentd
mkdir -p "$dir"
model=$dir/150m-q8_0.gguf
if [ ! -f "$model" ]; then
	echo "writing $model" >&2
	node tests/tools/gguf_writer.mjs --out "$model.tmp" --vocab gpt2 --seed 1 --n-embd 768 --n-layer 12 \
		--n-head 12 --n-head-kv 4 --n-ff 2048 --type q8_0
	mv "$model.tmp" "$model"
fi

# A field of a JSON object given as text.
field() {
	node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; console.log(v == null ? "-" : v)' "$1" "$2"
}

# The median of the numbers given as arguments.
median() {
	node -e 'const v = process.argv.slice(1).map(Number).sort((a, b) => a - b);
		const m = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
		console.log(m.toFixed(1))' "$@"
}

# a / b to two decimals.
ratio() {
	node -e 'const [a, b] = process.argv.slice(1).map(Number); console.log((a / b).toFixed(2))' "$1" "$2"
}

echo "model $model, threads $threads, $repeat runs each (alternating); -p 128 -n 64 per sequence"
printf '%-9s %14s %14s %7s %10s %10s\n' parallel agentd_tg/s llama_tg/s ratio agentd_itl llama_steps
for n in $parallel; do
	ours=
	theirs=
	itl=
	steps=
	r=0
	while [ "$r" -lt "$repeat" ]; do
		a=$("$agentd" model bench --model "$model" --threads "$threads" --parallel "$n" -p 128 -n 64 --json)
		l=$(node tests/engine/judge/bench_parallel.mjs --model "$model" --threads "$threads" --parallel "$n" \
			-p 128 -n 64 --repeat 1)
		ours="$ours $(field "$a" aggregate_tg_tokens_per_s)"
		theirs="$theirs $(field "$l" aggregate_tg_tokens_per_s)"
		itl="$itl $(field "$a" itl_ms_p50)"
		steps="$steps $(node -e 'const r = JSON.parse(process.argv[1]).runs; console.log(r && r[0] &&
			r[0].decode_steps != null ? r[0].decode_steps : "-")' "$l")"
		r=$((r + 1))
	done
	# shellcheck disable=SC2086 # the lists are words
	mo=$(median $ours)
	# shellcheck disable=SC2086
	ml=$(median $theirs)
	# shellcheck disable=SC2086
	printf '%-9s %14s %14s %7s %8sms %10s\n' "$n" "$mo" "$ml" "$(ratio "$mo" "$ml")" "$(median $itl)" \
		"$(echo "$steps" | awk '{print $1}')"
done

echo
echo "agent simulation: $agents agents x $turns turns, 1024-token shared prefix, 100-token user messages," \
	"32-token replies"
sim() {
	"$agentd" model bench --model "$model" --threads "$threads" --parallel "$agents" --prefix-tokens 1024 \
		--turns "$turns" --user-tokens 100 -n 32 --kv-memory 4GiB --json "$@"
}
show() {
	printf '%-13s %8ss %9s %9s %9s %9s %9s  %s\n' "$1" "$(field "$2" wall_seconds)" \
		"$(field "$2" aggregate_tg_tokens_per_s)" "$(field "$2" prefix_hit_rate)" \
		"$(field "$2" prefix_hit_rate_ideal)" "$(field "$2" ttft_ms_p50)" "$(field "$2" itl_ms_p50)" \
		"$(node -e 'console.log(JSON.parse(process.argv[1]).ttft_ms_p50_by_turn.map((x) => x.toFixed(0)).join(" "))' "$2")"
}
printf '%-13s %9s %9s %9s %9s %9s %9s  %s\n' "" wall tg/s hit_rate ideal ttft_p50 itl_p50 "ttft_p50 by turn (ms)"
on=$(sim)
show "cache on" "$on"
echo "hit rate / ideal: $(ratio "$(field "$on" prefix_hit_rate)" "$(field "$on" prefix_hit_rate_ideal)")"
if [ "$sim_off" = 1 ]; then
	off=$(sim --no-prefix-cache)
	show "cache off" "$off"
	echo "cache on / off: wall $(ratio "$(field "$off" wall_seconds)" "$(field "$on" wall_seconds)")x faster," \
		"decode $(ratio "$(field "$on" aggregate_tg_tokens_per_s)" "$(field "$off" aggregate_tg_tokens_per_s)")x"
fi
