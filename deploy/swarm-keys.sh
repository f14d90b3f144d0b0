#!/bin/sh
# The bus's CURVE keys of deploy/stack.yml, made once on a swarm manager
# before `docker stack deploy` (the README's "On a Docker Swarm"):
#   deploy/swarm-keys.sh [PREFIX [PUBLIC_DIR]]
# makes the key pairs of the core, the provider (may register as
# provider.docker only) and the allocator (ipam.ipalloc only) with
# deploy/keys.sh, and stores them in the swarm:
#   secrets PREFIX-core.cert_secret, PREFIX-docker.cert_secret,
#           PREFIX-ipalloc.cert_secret   (each mounted in its service only)
#   configs PREFIX-core.cert             (the extensions' coreCert)
#           PREFIX-docker.cert, PREFIX-ipalloc.cert   (the core's clientCerts)
# PREFIX defaults to interlook (the stack reads $INTERLOOK_KEYS, default
# interlook). The secret files are deleted once stored: the swarm keeps the
# only copy. The public files are left in PUBLIC_DIR (default
# ./interlook-keys-PREFIX): core.cert is what an extension on another host
# needs. Keys already in the swarm are kept (nothing is made or replaced);
# `docker secret rm` / `docker config rm` them first to make new ones.
# interlookctl is taken from PATH ($INTERLOOKCTL), else the keys are made in
# a container of $INTERLOOK_IMAGE (default interlook:latest).
set -eu

prefix=${1:-interlook}
public=${2:-./interlook-keys-$prefix}
here=$(cd "$(dirname "$0")" && pwd)
holders="core docker=provider.docker ipalloc=ipam.ipalloc"

if docker secret inspect "$prefix-core.cert_secret" >/dev/null 2>&1; then
    echo "$prefix-core.cert_secret is in the swarm: keys kept"
    exit 0
fi
tmp=$(mktemp -d)
trap 'find "$tmp" -type f -exec shred -u {} + 2>/dev/null; rm -rf "$tmp"' EXIT
ctl=${INTERLOOKCTL:-$(command -v interlookctl || true)}
if [ -n "$ctl" ]; then
    # shellcheck disable=SC2086 # the holders are words
    INTERLOOKCTL=$ctl "$here/keys.sh" "$tmp" $holders
else
    # shellcheck disable=SC2086
    docker run --rm --user "$(id -u):$(id -g)" -v "$tmp:/keys" \
        "${INTERLOOK_IMAGE:-interlook:latest}" interlook-keys /keys $holders
fi
for holder in core docker ipalloc; do
    docker secret create "$prefix-$holder.cert_secret" "$tmp/$holder/$holder.cert_secret" >/dev/null
    docker config create "$prefix-$holder.cert" "$tmp/$holder/$holder.cert" >/dev/null
    echo "$prefix-$holder.cert_secret (secret), $prefix-$holder.cert (config): stored"
done
mkdir -p "$public/clients"
cp "$tmp/core.cert" "$public/core.cert"
cp "$tmp/clients/"*.cert "$public/clients/"
echo "public certificates in $public (core.cert: for extensions on other hosts)"
