#!/bin/sh
# Runs the benchmarks of this build ($BUILD, default build/release) and prints
# their figures. Targets missed are reported, not failed: the exit status is
# non-zero only when a benchmark could not run (missing binary, a stack that
# did not start or did not finish). BENCH_N overrides the service counts of
# the plain core runs; BENCH_IPALLOC_N those of the IP allocator runs
# (allocations per second with durability on; empty: none); BENCH_DNS_N
# those of the DNS step runs against a BIND the bench starts (services per
# second through ipam.ipalloc,dns.rfc2136 and EVENT -> name answered; empty:
# none).
set -u
BUILD=${BUILD:-build/release}
N=${BENCH_N:-1000 10000 100000}
IPALLOC_N=${BENCH_IPALLOC_N-10000 50000}
DNS_N=${BENCH_DNS_N-1000 10000}
bin="$BUILD/bench/bench_core"
if [ ! -x "$bin" ]; then
    echo "bench: $bin not found (run make first)" >&2
    exit 1
fi
echo "\$ $bin $N${IPALLOC_N:+ --ipalloc $IPALLOC_N}${DNS_N:+ --dns $DNS_N}"
# shellcheck disable=SC2086 # N, IPALLOC_N and DNS_N are lists of counts
exec "$bin" $N ${IPALLOC_N:+--ipalloc $IPALLOC_N} ${DNS_N:+--dns $DNS_N}
