#!/bin/sh
# The bus's CURVE keys for one deployment, made once (docs/protocol.md,
# "Security"; the README's "Deploying"): the core's key pair and one per
# extension, each extension's key allowed to register as its own name only.
#   deploy/keys.sh DIR [HOLDER[=EXTENSIONS] ...]
# HOLDER is a file name (core, ipalloc, ...); EXTENSIONS the names its key may
# register as (interlookctl keygen --extensions; a name may end in '*').
# Without holders: core docker=provider.docker ipalloc=ipam.ipalloc
# dns=dns.rfc2136 lb=lb.haproxy echo=provisioner.echo. What it makes:
#   DIR/HOLDER/HOLDER.cert         the holder's public certificate
#   DIR/HOLDER/HOLDER.cert_secret  its secret (0600, directory 0700): the
#                                  holder's only (LoadCredential=, a volume,
#                                  a docker secret)
#   DIR/core.cert                  the core's public certificate: every
#                                  extension's core.bus.curve.coreCert
#   DIR/clients/HOLDER.cert        the extensions' public certificates: the
#                                  core's core.bus.curve.clientCerts
# A key that is already there is kept (run it again to add a holder; the
# public copies are refreshed). A key made elsewhere (an extension on another
# host) is admitted by copying its public file into DIR/clients: the core
# reads the directory again, no restart. Uses interlookctl from PATH, or
# $INTERLOOKCTL. KEYS_OWNER=UID:GID gives the secrets to that user (the
# containers' uid 10001).
set -eu

ctl=${INTERLOOKCTL:-interlookctl}
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $0 DIR [HOLDER[=EXTENSIONS] ...]" >&2
    exit 2
fi
dir=$1
shift
[ $# -gt 0 ] || set -- core docker=provider.docker ipalloc=ipam.ipalloc dns=dns.rfc2136 \
    lb=lb.haproxy echo=provisioner.echo

umask 022
mkdir -p "$dir/clients"
for spec in "$@"; do
    holder=${spec%%=*}
    case $holder in
    '' | *[!A-Za-z0-9._-]* | .*)
        echo "$0: '$holder': not a holder name (letters, digits, . _ -)" >&2
        exit 2
        ;;
    esac
    mkdir -p "$dir/$holder"
    chmod 0700 "$dir/$holder"
    cert=$dir/$holder/$holder.cert
    if [ -f "$cert" ] && [ -f "${cert}_secret" ]; then
        echo "$cert: kept"
    elif [ "$spec" = "$holder" ]; then
        "$ctl" keygen "$cert" --force >/dev/null
        echo "$cert: made, may register as any name"
    else
        "$ctl" keygen "$cert" --force --extensions "${spec#*=}" >/dev/null
        echo "$cert: made, may register as ${spec#*=}"
    fi
    if [ -n "${KEYS_OWNER:-}" ]; then
        chown "$KEYS_OWNER" "$dir/$holder" "$cert" "${cert}_secret"
    fi
    # The public copies, written through a rename: the core may be reading.
    if [ "$holder" = core ]; then
        target=$dir/core.cert
    else
        target=$dir/clients/$holder.cert
    fi
    cp "$cert" "$target.tmp"
    chmod 0644 "$target.tmp"
    mv -f "$target.tmp" "$target"
done
