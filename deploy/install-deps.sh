#!/bin/sh
# Installs the Debian 12 packages interlook needs to build, test and run.
# Idempotent; run as root (or through sudo). Every package the project uses is listed here.
#   usage: install-deps.sh [all|build|runtime|bind|haproxy|etcd] [EXTRA_PACKAGE ...]
#     all      (default) build, test and deploy-test packages
#     build    what `make bins` needs (the image's build stage)
#     runtime  the shared libraries the binaries load (the image's final stage)
#     bind     BIND 9 and dig (deploy/docker/bind/Dockerfile: the compose dns profile)
#     haproxy  HAProxy (deploy/docker/haproxy/Dockerfile: the compose lb profile)
#     etcd     etcd 3.4 and etcdctl (deploy/docker/etcd/Dockerfile: the compose ha profile)
set -eu

BUILD_PKGS="build-essential pkg-config libzmq3-dev libczmq-dev libyaml-dev \
libcurl4-openssl-dev libmsgpack-dev libmicrohttpd-dev libjansson-dev libcmocka-dev libldns-dev libssl-dev libmnl-dev"
TEST_PKGS="python3 python3-zmq python3-msgpack procps iproute2 valgrind curl openssl docker.io busybox-static \
debootstrap docker-compose systemd \
bind9 bind9-dnsutils knot pdns-server pdns-backend-sqlite3 sqlite3 ldnsutils haproxy clang libclang-rt-14-dev etcd-server etcd-client"
BIND_PKGS="bind9 bind9-dnsutils"
HAPROXY_PKGS="haproxy"
ETCD_PKGS="etcd-server etcd-client"
# haproxy in the runtime too: interlook-lb checks its file with `haproxy -c`.
RUNTIME_PKGS="libzmq5 libczmq4 libyaml-0-2 libcurl4 libmsgpackc2 libmicrohttpd12 libjansson4 libldns3 libmnl0 ca-certificates \
haproxy"

mode=all
case "${1:-}" in
    all | build | runtime | bind | haproxy | etcd) mode=$1; shift ;;
esac
case "$mode" in
    all) PKGS="$BUILD_PKGS $TEST_PKGS" ;;
    build) PKGS="$BUILD_PKGS" ;;
    runtime) PKGS="$RUNTIME_PKGS" ;;
    bind) PKGS="$BIND_PKGS" ;;
    haproxy) PKGS="$HAPROXY_PKGS" ;;
    etcd) PKGS="$ETCD_PKGS" ;;
esac

missing=""
for p in $PKGS "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

# Root only when something is missing; sudo only when it asks no password
# (make may run with no terminal): else say exactly what to run.
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-deps: missing packages:$missing" >&2
        echo "install-deps: run as root: sudo $0 $mode${*:+ $*}  (or, as root: apt-get install -y$missing)" >&2
        exit 1
    fi
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The DNS servers the tests start themselves (BIND, Knot, PowerDNS) must not
# be started by their packages as services of this machine: a policy-rc.d
# that denies every start, for the time of the install only (unless the
# machine has one of its own).
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# interlook install-deps: no service starts during the install\nexit 101\n' |
        $SUDO tee "$guard" >/dev/null
    $SUDO chmod 0755 "$guard"
fi
rc=0
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing || rc=$?
[ -z "$guard" ] || $SUDO rm -f "$guard"
[ "$rc" -eq 0 ] || exit "$rc"
if [ "$mode" != all ]; then # an image layer: leave no package lists behind
    $SUDO apt-get clean
    $SUDO rm -rf /var/lib/apt/lists/*
fi
