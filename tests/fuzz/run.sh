#!/bin/sh
# Builds the GGUF fuzz target with clang's libFuzzer (and ASan/UBSan) and
# runs it: tests/fuzz/run.sh [SECONDS] (default 60). Seeds are models made
# by the GGUF writer; crashes land in build-fuzz/ (crash-*).
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-60}
out=build-fuzz
mkdir -p "$out/corpus"
clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I. -I/usr/include/cjson -o "$out/gguf_fuzz" tests/fuzz/gguf_fuzz.c \
	daemon/engine/bytelevel.c daemon/engine/chat.c daemon/engine/dtype.c daemon/engine/engine.c \
	daemon/engine/gguf.c daemon/engine/model.c daemon/engine/pairmap.c daemon/engine/pretok.c \
	daemon/engine/strmap.c daemon/engine/tokenizer.c daemon/engine/unicode.c daemon/engine/unicode_data.c \
	daemon/engine/vocab.c common/buf.c common/xalloc.c -lcjson -lm
if [ -z "$(ls "$out/corpus")" ]; then
	for t in f32 q8_0 q4_k; do
		node tests/tools/gguf_writer.mjs --out "$out/corpus/seed-$t.gguf" --vocab synthetic --merges 40 \
			--n-embd 256 --n-layer 1 --n-ff 256 --tied --type "$t" --chat-template chatml
	done
	node tests/tools/gguf_writer.mjs --out "$out/corpus/seed-qwen2.gguf" --arch qwen2 --vocab synthetic \
		--merges 20 --n-embd 32 --n-layer 1 --n-ff 32 --n-head 2 --n-head-kv 1 --chat-template llama3 --version 2
fi
cd "$out"
exec ./gguf_fuzz -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=4096 -timeout=20 corpus
