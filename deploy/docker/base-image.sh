#!/bin/sh
# Builds the Debian 12 base image of interlook's Dockerfile without a
# registry: debootstrap --variant=minbase into a folder, then docker import.
# Does nothing when the image exists already (FORCE=1 rebuilds it).
#   usage: deploy/docker/base-image.sh [IMAGE]      (default interlook-base:bookworm)
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian),
# DEBOOTSTRAP_CACHE (a folder kept between runs for the downloaded packages).
# Needs root (debootstrap), debootstrap and a running dockerd.
set -eu
image=${1:-interlook-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "base-image: $image exists (FORCE=1 rebuilds it)"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "base-image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
root=$(mktemp -d /var/tmp/interlook-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
cache=""
if [ -n "${DEBOOTSTRAP_CACHE:-}" ]; then
    mkdir -p "$DEBOOTSTRAP_CACHE"
    cache="--cache-dir=$(cd "$DEBOOTSTRAP_CACHE" && pwd)"
fi
echo "base-image: debootstrap --variant=minbase bookworm from $mirror"
# shellcheck disable=SC2086 # cache is one option or nothing
if ! debootstrap --variant=minbase $cache bookworm "$root" "$mirror" >"$root.log" 2>&1; then
    echo "base-image: debootstrap failed; its log:" >&2
    tail -30 "$root.log" >&2
    rm -f "$root.log"
    exit 1
fi
rm -f "$root.log"
# What a container image does not need, and what must not be baked into one.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/dev/*
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" >"$root/etc/apt/sources.list"
tar --numeric-owner -C "$root" -c . | docker import \
    -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$image" >/dev/null
echo "base-image: built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
