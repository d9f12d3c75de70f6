#!/bin/sh
# Installs the Debian packages agentd needs to build and test (as root, or
# through sudo). Idempotent: packages already present are left alone, and
# nothing is fetched when everything is installed.
#
#   scripts/install-deps.sh           build and test dependencies
#   scripts/install-deps.sh --bench   also what tests/bench/ needs
set -eu

packages="build-essential pkg-config meson ninja-build git ca-certificates
libuv1-dev libcjson-dev libsqlite3-dev libssl-dev libseccomp-dev node-llhttp
python3 procps"
if [ "${1:-}" = "--bench" ]; then
	packages="$packages wrk nginx-light curl bubblewrap"
fi

missing=""
for p in $packages; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

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
