#!/bin/sh
# Tokenizer throughput, agentd against llama.cpp (node-llama-cpp), on the
# same text: the judges' corpus (code, many scripts, emoji, digits, white
# space) concatenated to about 8 MB, tokenized in one call, for each real
# vocabulary. Prints tokens/s; the best of 3 runs each.
#   tests/bench/tokenize.sh   (after scripts/install-deps.sh and scripts/install-judges.sh)
set -eu
cd "$(dirname "$0")/../.."
build=build-bench
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dbuildtype=release -Dcuda=disabled >/dev/null
fi
ninja -C "$build" daemon/agentd >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-8s %12s %14s %14s %8s\n' vocab tokens agentd_tok/s llama.cpp_tok/s ratio
for vocab in gpt2 llama3 qwen; do
	node tests/engine/judge/run.mjs --vocab "$vocab" --dir "$work" --n 2400 2>/dev/null
	node -e '
		const c = require(process.argv[1]);
		let s = "", all = c.strings.join("\n");
		while (s.length < 8e6) s += all;
		require("fs").writeFileSync(process.argv[2], s);
	' "$work/corpus.json" "$work/text.txt"
	: >"$work/empty.txt"
	best=""
	for i in 1 2 3; do
		t0=$(date +%s%N)
		"$build/daemon/agentd" model tokenize --model "$work/model.gguf" --file "$work/empty.txt" >/dev/null
		t1=$(date +%s%N)
		"$build/daemon/agentd" model tokenize --model "$work/model.gguf" --file "$work/text.txt" >"$work/ids.json"
		t2=$(date +%s%N)
		# The time of the text, less that of loading the model.
		ns=$(((t2 - t1) - (t1 - t0)))
		if [ -z "$best" ] || [ "$ns" -lt "$best" ]; then best=$ns; fi
	done
	ours=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).length)' "$work/ids.json")
	set -- $(node tests/bench/tokenize_llama.mjs "$work/model.gguf" "$work/text.txt" 3)
	if [ "$ours" != "$1" ]; then
		echo "$vocab: token counts differ: agentd $ours, llama.cpp $1" >&2
	fi
	our_rate=$((ours * 1000000000 / best))
	their_rate=$(node -e 'console.log(Math.round(process.argv[1] / process.argv[2]))' "$1" "$2")
	printf '%-8s %12s %14s %15s %8s\n' "$vocab" "$ours" "$our_rate" "$their_rate" \
		"$(node -e 'console.log((process.argv[1] / process.argv[2]).toFixed(2))' "$our_rate" "$their_rate")"
done
