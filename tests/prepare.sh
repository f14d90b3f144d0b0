#!/bin/sh
# make test's preparation, on a fresh Debian 12 machine as well as on a
# developer's: installs the packages the build and the tests need
# (deploy/install-deps.sh), starts a Docker daemon when none answers (the
# Docker tests use the real one; it is left running, its log in
# $DOCKERD_LOG), and builds the local test image (tests/support/docker-image.sh).
# Needs root, or sudo without a password (sudo -n); else it stops at once,
# saying what to run. Idempotent: on a ready machine it only checks.
set -eu
cd "$(dirname "$0")/.."
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/interlook-dockerd.log}
DOCKERD_WAIT_S=${DOCKERD_WAIT_S:-60}

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        cat >&2 <<MSG
make test: needs root (it installs packages, starts dockerd, and some tests
create network namespaces or install systemd units). Run it as root:
    sudo make test        (or, as root: make test)
The unit tests need none of that and run as any user:
    make unit             (once the libraries are installed: sudo make deps)
MSG
        exit 1
    fi
fi

$SUDO ./deploy/install-deps.sh

# The Docker tests need a running daemon: start one if none answers. It is
# started in a session of its own, so that a Ctrl-C of make does not stop it.
if ! $SUDO docker info >/dev/null 2>&1; then
    echo "make test: no Docker daemon answers; starting dockerd (log: $DOCKERD_LOG; it stays running)"
    pid=$($SUDO sh -c 'mkdir -p "$(dirname "$1")" && setsid dockerd >>"$1" 2>&1 </dev/null & echo $!' sh "$DOCKERD_LOG")
    waited=0
    until $SUDO docker info >/dev/null 2>&1; do
        if ! $SUDO kill -0 "$pid" 2>/dev/null; then
            echo "make test: dockerd exited before it answered; the end of $DOCKERD_LOG:" >&2
            $SUDO tail -30 "$DOCKERD_LOG" >&2
            exit 1
        fi
        waited=$((waited + 1))
        if [ "$waited" -gt $((DOCKERD_WAIT_S * 2)) ]; then
            echo "make test: dockerd did not answer within $DOCKERD_WAIT_S s; the end of $DOCKERD_LOG:" >&2
            $SUDO tail -30 "$DOCKERD_LOG" >&2
            exit 1
        fi
        sleep 0.5 # polling the daemon's readiness, bounded above
    done
    echo "make test: dockerd is up (pid $pid)"
fi

$SUDO ./tests/support/docker-image.sh
