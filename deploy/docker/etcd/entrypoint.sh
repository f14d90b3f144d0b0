#!/bin/sh
# A member of the stack's etcd cluster: its URLs from its name on the
# stack's network (each ETCD_* given in the environment wins; etcd reads
# them itself). The data is kept in the volume: a member restarted with its
# data rejoins; the initial cluster matters only at the first start.
set -eu
: "${ETCD_NAME:?interlook-etcd: set ETCD_NAME (the host name of this member on the network)}"
: "${ETCD_INITIAL_CLUSTER:?interlook-etcd: set ETCD_INITIAL_CLUSTER (NAME=http://NAME:2380,...)}"
export ETCD_DATA_DIR="${ETCD_DATA_DIR:-/var/lib/etcd/$ETCD_NAME}"
export ETCD_LISTEN_CLIENT_URLS="${ETCD_LISTEN_CLIENT_URLS:-http://0.0.0.0:2379}"
export ETCD_ADVERTISE_CLIENT_URLS="${ETCD_ADVERTISE_CLIENT_URLS:-http://$ETCD_NAME:2379}"
export ETCD_LISTEN_PEER_URLS="${ETCD_LISTEN_PEER_URLS:-http://0.0.0.0:2380}"
export ETCD_INITIAL_ADVERTISE_PEER_URLS="${ETCD_INITIAL_ADVERTISE_PEER_URLS:-http://$ETCD_NAME:2380}"
export ETCD_INITIAL_CLUSTER_STATE="${ETCD_INITIAL_CLUSTER_STATE:-new}"
export ETCD_INITIAL_CLUSTER_TOKEN="${ETCD_INITIAL_CLUSTER_TOKEN:-interlook}"
exec /usr/bin/etcd "$@"
