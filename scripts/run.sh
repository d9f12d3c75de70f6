#!/bin/sh
# README's run command: installs the dependencies, builds agentd (release),
# and runs it in the foreground with its data under ./var. Extra arguments
# go to agentd (e.g. --listen 127.0.0.1:8080).
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh

if [ ! -f build/build.ninja ]; then
	meson setup build -Dbuildtype=release >/dev/null
fi
ninja -C build
exec build/daemon/agentd --data-dir ./var "$@"
