#!/usr/bin/env bash
# make run: starts interlookd and the extensions of its workflow that this
# build has, all with the same configuration file, logging to this terminal.
# Ctrl-C (or SIGTERM) stops them all cleanly.
#   usage: deploy/run.sh BIN_DIR [CONFIG]   (CONFIG defaults to deploy/interlook.yml)
set -u
BIN=${1:?usage: run.sh BIN_DIR [CONFIG]}
CONFIG=${2:-${INTERLOOK_CONFIG:-deploy/interlook.yml}}

check=$("$BIN/interlookd" --check-config -c "$CONFIG") || exit 2
steps=$(printf '%s\n' "$check" | sed -n 's/^workflow: //p' | tr ',' ' ')

pids=""
stop() {
    trap - INT TERM
    echo "run: stopping"
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
    wait
    exit 0
}
trap stop INT TERM

"$BIN/interlookd" -c "$CONFIG" &
pids="$!"

for step in $steps; do
    case "$step" in
        provider.docker) bin=interlook-docker ;;
        ipam.ipalloc) bin=interlook-ipalloc ;;
        provisioner.echo) bin=interlook-echo ;;
        dns.*) bin=interlook-dns ;; # configured by dns.rfc2136; the step named by -n
        *) bin="" ;;
    esac
    if [ -n "$bin" ] && [ -x "$BIN/$bin" ]; then
        case "$step" in
            dns.*) "$BIN/$bin" -c "$CONFIG" -n "$step" & ;;
            *) "$BIN/$bin" -c "$CONFIG" & ;;
        esac
        pids="$pids $!"
    else
        echo "run: this build has no extension for '$step'; the core waits for one to connect"
    fi
done
echo "run: started (workflow: $steps); Ctrl-C stops"
# One process ending (the core failing to bind its port, say) stops them all.
wait -n
status=$?
trap - INT TERM
echo "run: a process ended (status $status); stopping the others"
# shellcheck disable=SC2086
kill -TERM $pids 2>/dev/null
wait
exit "$status"
