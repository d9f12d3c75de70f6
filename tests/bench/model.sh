#!/bin/sh
# Forward-pass benchmark (not part of the test command): agentd's engine
# against llama.cpp (node-llama-cpp) on the same random model files, beside
# this machine's memory bandwidth, all measured in the same run. Models (GPT-2
# vocabulary, written once and kept in DIR):
#   150m-f16   n_embd 768, 12 layers, 12 heads, 4 KV heads, n_ff 2048, F16
#   150m-q8_0  the same in Q8_0
#   550m-q8_0  n_embd 1536, 16 layers, 12 heads, 4 KV heads, n_ff 4096, Q8_0
# For each: tests/membw (streaming reads, THREADS threads), `agentd model
# bench` and tests/engine/judge/bench.mjs (-p 512 -n 128, REPEAT repeats,
# THREADS threads). Prints prompt-processing and generation tokens/s, the
# ratios agentd / llama.cpp, and generation as a fraction of the floor:
# bandwidth / bytes of weights read per token, where a token reads every
# weight tensor but token_embd, of which it reads one row, and the output
# head (token_embd in full when the embeddings are tied).
#   tests/bench/model.sh [DIR [REPEAT]]   (DIR: /tmp/agentd-model-bench, REPEAT: 5)
# Environment: THREADS (2), BUILD (build-bench, a release build made here).
set -eu
cd "$(dirname "$0")/../.."
dir=${1:-/tmp/agentd-model-bench}
repeat=${2:-5}
threads=${THREADS:-2}
build=${BUILD:-build-bench}

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dbuildtype=release -Dcuda=disabled >/dev/null
fi
ninja -C "$build" daemon/agentd tests/membw >/dev/null
agentd=$build/daemon/agentd
membw=$build/tests/membw
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

models="150m-f16 150m-q8_0 550m-q8_0"

# The writer's shape and type arguments for a model name.
shape() {
	case $1 in
	150m-f16) echo --n-embd 768 --n-layer 12 --n-head 12 --n-head-kv 4 --n-ff 2048 --type f16 ;;
	150m-q8_0) echo --n-embd 768 --n-layer 12 --n-head 12 --n-head-kv 4 --n-ff 2048 --type q8_0 ;;
	550m-q8_0) echo --n-embd 1536 --n-layer 16 --n-head 12 --n-head-kv 4 --n-ff 4096 --type q8_0 ;;
	esac
}

# Parameters and bytes of weights read per token, from the file's tensor
# table as node-llama-cpp's GGUF reader sees it: "PARAMS BYTES_PER_TOKEN".
# shellcheck disable=SC2016 # the script is JavaScript
weights() {
	node --input-type=module -e '
		import { createRequire } from "node:module";
		const require = createRequire(process.cwd() + "/tests/engine/judge/package.json");
		const { readGgufFileInfo } = await import(require.resolve("node-llama-cpp"));
		// ggml type id: [elements per block, bytes per block].
		const sizes = { 0: [1, 4], 1: [1, 2], 8: [32, 34], 30: [1, 2] };
		const info = await readGgufFileInfo(process.argv[1], { logWarnings: false });
		let params = 0, all = 0, embd = 0, embdRow = 0, output = false;
		for (const t of info.tensorInfo) {
			const dims = t.dimensions.map(Number);
			const n = dims.reduce((a, b) => a * b, 1);
			const s = sizes[t.ggmlType];
			if (!s) throw new Error(`${t.name}: ggml type ${t.ggmlType} has no size here`);
			const bytes = (n / s[0]) * s[1];
			params += n;
			all += bytes;
			if (t.name === "token_embd.weight") { embd = bytes; embdRow = bytes / dims[1]; }
			if (t.name === "output.weight") output = true;
		}
		const perToken = all - embd + embdRow + (output ? 0 : embd);
		console.log(params, perToken);
	' "$1"
}

# A field of a JSON object given as text.
field() {
	node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; console.log(v == null ? "-" : v)' "$1" "$2"
}

# a / b to two decimals, or "-" when either is missing.
ratio() {
	node -e 'const [a, b] = process.argv.slice(1).map(Number);
		console.log(Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : "-")' "$1" "$2"
}

for name in $models; do
	file=$dir/$name.gguf
	if [ ! -f "$file" ]; then
		echo "writing $file" >&2
		# shellcheck disable=SC2046 # the shape is a list of words
		node tests/tools/gguf_writer.mjs --out "$file.tmp" --vocab gpt2 --seed 1 $(shape "$name")
		mv "$file.tmp" "$file"
	fi
done

missing=
rows=$work/rows
: >"$rows"
for name in $models; do
	file=$dir/$name.gguf
	sizes=$(weights "$file")
	params=${sizes% *}
	per_token=${sizes#* }
	bw=$("$membw" -t "$threads" --json)
	bw=$(field "$bw" gb_per_s)
	floor=$(node -e 'console.log((process.argv[1] * 1e9 / process.argv[2]).toFixed(1))' "$bw" "$per_token")
	if ours=$("$agentd" model bench --model "$file" --json --threads "$threads" -p 512 -n 128 \
		--repeat "$repeat" 2>"$work/agentd.err"); then
		:
	else
		echo "$name: agentd model bench failed: $(head -c 300 "$work/agentd.err")" >&2
		ours='{}'
		missing=1
	fi
	theirs=$(node tests/engine/judge/bench.mjs --model "$file" --threads "$threads" -p 512 -n 128 \
		--repeat "$repeat")
	a_pp=$(field "$ours" pp_tokens_per_s)
	a_tg=$(field "$ours" tg_tokens_per_s)
	l_pp=$(field "$theirs" pp_tokens_per_s)
	l_tg=$(field "$theirs" tg_tokens_per_s)
	printf '%s %s %s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$name" \
		"$(node -e 'console.log((process.argv[1] / 1e6).toFixed(1))' "$params")" \
		"$(node -e 'console.log((process.argv[1] / 1e6).toFixed(1))' "$per_token")" \
		"$bw" "$floor" \
		"$a_pp" "$l_pp" "$(ratio "$a_pp" "$l_pp")" \
		"$a_tg" "$l_tg" "$(ratio "$a_tg" "$l_tg")" \
		"$(ratio "$a_tg" "$floor")" "$(ratio "$l_tg" "$floor")" \
		"$(field "$ours" pp_spread)/$(field "$theirs" pp_spread)" \
		"$(field "$ours" tg_spread)/$(field "$theirs" tg_spread)" >>"$rows"
done

echo "threads $threads, -p 512 -n 128, $repeat repeats; medians (spreads: (max-min)/median, agentd/llama.cpp)"
{
	echo "model Mparams MB/token GB/s floor_tg agentd_pp llama_pp pp_ratio agentd_tg llama_tg tg_ratio" \
		"agentd_tg/floor llama_tg/floor pp_spread tg_spread"
	cat "$rows"
} | awk '{
	for (i = 1; i <= NF; i++) {
		fmt = i == 1 ? "%-10s" : " %9s"
		printf fmt, $i
	}
	printf "\n"
}'
if [ -n "$missing" ]; then
	echo "agentd model bench did not run (see above): its columns are '-'" >&2
	exit 1
fi
