#!/bin/sh
# README's test command: installs the dependencies (and the engine's
# judges, scripts/install-judges.sh), builds agentd with
# AddressSanitizer and UndefinedBehaviorSanitizer and warnings as errors,
# runs every test (each case in its own process, with a timeout), and ends
# with a line "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/install-judges.sh

builddir=build-test
if [ ! -f "$builddir/build.ninja" ]; then
	meson setup "$builddir" \
		-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
		-Dwerror=true -Dcuda=disabled >/dev/null
fi
ninja -C "$builddir"

status=0
meson test -C "$builddir" --print-errorlogs "$@" || status=$?

log="$builddir/meson-logs/testlog.json"
passed=$(grep -c '"result": "\(OK\|EXPECTEDFAIL\)"' "$log" || true)
failed=$(grep -c '"result": "\(FAIL\|TIMEOUT\|ERROR\|UNEXPECTEDPASS\)"' "$log" || true)
echo "$passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
	exit 1
fi
