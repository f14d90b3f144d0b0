#!/bin/sh
# The BIND container's start: the TSIG key and the zone on first use, then
# named in the foreground (logging to stderr: docker logs).
set -eu
key=/var/lib/interlook-tsig/tsig.key
if [ ! -s "$key" ]; then
    # The directory is setgid 10001: the key is readable by interlook's user.
    umask 027
    tsig-keygen -a hmac-sha256 interlook >"$key.tmp"
    sync "$key.tmp"
    mv "$key.tmp" "$key"
    echo "interlook-bind: made the TSIG key $key (hmac-sha256, name interlook)"
fi
zone=/var/lib/bind/example.test.zone
[ -e "$zone" ] || cp /usr/share/interlook-bind/example.test.zone "$zone"
exec /usr/sbin/named -g -c /etc/bind/named.conf "$@"
