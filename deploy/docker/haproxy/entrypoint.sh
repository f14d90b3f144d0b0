#!/bin/sh
# The HAProxy container's start: the shared directories as interlook-lb (uid
# 10001) needs them, an empty interlook.cfg at the first start (HAProxy
# refuses a -f that does not exist; interlook-lb accepts an empty file as an
# empty state), then HAProxy in master-worker mode in the foreground.
set -eu
run=/run/haproxy
dir=/var/lib/interlook-lb
cfg=$dir/interlook.cfg
# Volumes made by an older image, or by the other container first, may have
# other owners: set them each time (the directories only, not their files).
chown root:10001 "$run" && chmod 0750 "$run"
chown 10001:10001 "$dir" && chmod 0750 "$dir"
if [ ! -e "$cfg" ]; then
    : >"$cfg.tmp"
    chown 10001:10001 "$cfg.tmp"
    mv "$cfg.tmp" "$cfg"
    echo "interlook-haproxy: made the empty $cfg"
fi
exec /usr/sbin/haproxy -W -S "$run/master.sock,mode,660,gid,10001" \
    -f /usr/local/etc/haproxy/haproxy.cfg -f "$cfg" "$@"
