#!/bin/sh
# Runs the benchmarks of this build ($BUILD, default build/release) and prints
# their figures. Targets missed are reported, not failed: the exit status is
# non-zero only when a benchmark could not run (missing binary, a stack that
# did not start or did not finish). BENCH_N overrides the service counts of
# the plain core runs; BENCH_IPALLOC_N those of the IP allocator runs
# (allocations per second with durability on; empty: none); BENCH_DNS_N
# those of the DNS step runs against a BIND the bench starts (services per
# second through ipam.ipalloc,dns.rfc2136 and EVENT -> name answered; empty:
# none). With BENCH_N, BENCH_IPALLOC_N and BENCH_DNS_N all set empty, the
# core benchmark is skipped. BENCH_LB_N (default 100; empty: none) runs
# bench_lb, the load-balancer step against a HAProxy it starts (needs root):
# EVENT -> first HTTP answer through the VIP over that many services added
# one at a time, reloads per BENCH_LB_BURST (default 1000) services added in
# a burst, requests failed during BENCH_LB_CHANGES (default 100) target
# changes under load, and docker run -> VIP answers over BENCH_LB_DOCKER_N
# (default 20; empty or 0: none) containers on the running dockerd.
# BENCH_IPALLOC_ETCD_N (default 2000; empty: none) runs bench_ipalloc_etcd:
# allocations per second of the IP allocator's file store next to its etcd
# store (1 and 3 members it starts on loopback ports, and two allocators).
# BENCH_ETCD (default 1; 0: off) runs each plain core N a second time with
# core.store etcd on 3 members, so the two stores are compared in one run.
# BENCH_TAKEOVER_N (default 10; empty or 0: none) runs bench_takeover: that
# many kill -9 of the leading core at lease TTL 2 s and 5 s (3 etcd members,
# two cores, two allocators on etcd), takeover p50/max next to Kubernetes'
# 15 s lease and keepalived's ~3 s.
set -u
BENCH_ETCD=${BENCH_ETCD-1}
export BENCH_ETCD
BUILD=${BUILD:-build/release}
N=${BENCH_N-1000 10000 100000}
IPALLOC_N=${BENCH_IPALLOC_N-10000 50000}
DNS_N=${BENCH_DNS_N-1000 10000}
LB_N=${BENCH_LB_N-100}
LB_BURST=${BENCH_LB_BURST:-1000}
LB_CHANGES=${BENCH_LB_CHANGES:-100}
LB_DOCKER=${BENCH_LB_DOCKER_N-20}
IPALLOC_ETCD_N=${BENCH_IPALLOC_ETCD_N-2000}
TAKEOVER_N=${BENCH_TAKEOVER_N-10}
rc=0
if [ -n "$N$IPALLOC_N$DNS_N" ]; then
    bin="$BUILD/bench/bench_core"
    if [ ! -x "$bin" ]; then
        echo "bench: $bin not found (run make first)" >&2
        exit 1
    fi
    echo "\$ $bin $N${IPALLOC_N:+ --ipalloc $IPALLOC_N}${DNS_N:+ --dns $DNS_N}"
    # shellcheck disable=SC2086 # N, IPALLOC_N and DNS_N are lists of counts
    "$bin" $N ${IPALLOC_N:+--ipalloc $IPALLOC_N} ${DNS_N:+--dns $DNS_N} || rc=1
fi
if [ -n "$LB_N" ]; then
    bin="$BUILD/bench/bench_lb"
    if [ ! -x "$bin" ]; then
        echo "bench: $bin not found (run make first)" >&2
        exit 1
    fi
    echo "\$ $bin $LB_N --burst $LB_BURST --changes $LB_CHANGES${LB_DOCKER:+ --docker $LB_DOCKER}"
    "$bin" "$LB_N" --burst "$LB_BURST" --changes "$LB_CHANGES" ${LB_DOCKER:+--docker "$LB_DOCKER"} || rc=1
fi
if [ -n "$IPALLOC_ETCD_N" ]; then
    bin="$BUILD/bench/bench_ipalloc_etcd"
    if [ -x "$bin" ]; then
        echo "\$ $bin $IPALLOC_ETCD_N"
        "$bin" "$IPALLOC_ETCD_N" 2>/dev/null || rc=1
    else
        echo "bench: $bin not found (run make first)" >&2
        rc=1
    fi
fi
if [ -n "$TAKEOVER_N" ] && [ "$TAKEOVER_N" != 0 ]; then
    bin="$BUILD/bench/bench_takeover"
    if [ -x "$bin" ]; then
        echo "\$ $bin $TAKEOVER_N"
        "$bin" "$TAKEOVER_N" || rc=1
    else
        echo "bench: $bin not found (run make first)" >&2
        rc=1
    fi
fi
exit $rc
