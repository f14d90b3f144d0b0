#!/bin/sh
# Installs the Debian 12 packages interlook needs to build, test and run.
# Idempotent; run as root (or through sudo). Every package the project uses is listed here.
set -eu

BUILD_PKGS="build-essential pkg-config libzmq3-dev libczmq-dev libyaml-dev \
libcurl4-openssl-dev libmsgpack-dev libmicrohttpd-dev libjansson-dev libcmocka-dev"
TEST_PKGS="python3 python3-zmq python3-msgpack procps iproute2 valgrind curl openssl docker.io busybox-static"

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo" >&2; exit 1; }
    SUDO=sudo
fi

missing=""
for p in $BUILD_PKGS $TEST_PKGS "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
