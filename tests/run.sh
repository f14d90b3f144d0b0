#!/bin/sh
# Runs every test binary given, each under a time bound, and sums up:
# the last line is "N passed, N failed" (cmocka test cases). A binary that
# crashes, hangs or runs no test counts as one failure. Exit status 1 when
# anything failed.
# VALGRIND=1 runs each binary under valgrind (leaks and errors are failures).
# TEST_FILTER=GLOB runs only the cases of that name (tests/support/testrun.h):
# a binary with none exits 77 and is skipped; a filter that matches no case
# in any binary is a failure, never a pass.
set -u
if [ "$#" -eq 0 ]; then
    echo "run.sh: no test binary given"
    echo "0 passed, 1 failed"
    exit 1
fi
TIMEOUT=${TEST_TIMEOUT:-600}
passed=0
failed=0
skipped=0
logdir=${TMPDIR:-/tmp}/interlook-tests.$$
mkdir -p "$logdir/children"
# Processes the tests start log here; a sanitizer report in any of them fails the run.
INTERLOOK_TEST_LOGDIR="$logdir/children"
export INTERLOOK_TEST_LOGDIR
for bin in "$@"; do
    name=$(basename "$bin")
    out="$logdir/$name.log"
    case "$name" in
    fuzz_*) # a libFuzzer target (tests/fuzz): a few seconds on its seeds, one test
        if [ -n "${TEST_FILTER:-}" ]; then
            skipped=$((skipped + 1))
            continue
        fi
        mkdir -p "$logdir/$name.corpus"
        timeout -k 10 "$TIMEOUT" "$bin" -max_total_time="${FUZZ_TEST_SECONDS:-4}" -timeout=10 \
            -artifact_prefix="$logdir/$name-" "$logdir/$name.corpus" \
            "$(dirname "$0")/fuzz/corpus/$name" >"$out" 2>&1
        rc=$?
        [ "$rc" -eq 0 ] && echo "[  PASSED  ] 1 test(s)." >>"$out"
        ;;
    chaos) # the chaos drill (tests/chaos): its short version, one test
        if [ -n "${TEST_FILTER:-}" ]; then
            skipped=$((skipped + 1))
            continue
        fi
        timeout -k 10 "$TIMEOUT" "$bin" --short >"$out" 2>&1
        rc=$?
        [ "$rc" -eq 0 ] && echo "[  PASSED  ] 1 test(s)." >>"$out"
        ;;
    *)
    if [ "${VALGRIND:-0}" = 1 ]; then
        timeout -k 10 "$TIMEOUT" valgrind -q --leak-check=full --error-exitcode=99 \
            --trace-children=no "$bin" >"$out" 2>&1
    else
        timeout -k 10 "$TIMEOUT" "$bin" >"$out" 2>&1
    fi
    rc=$?
        ;;
    esac
    if [ "$rc" -eq 77 ] && [ -n "${TEST_FILTER:-}" ]; then
        skipped=$((skipped + 1)) # no case of this binary matches the filter
        continue
    fi
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed, timed out or leaked: not a pass whatever it printed
        echo "$name: exit status $rc" >>"$out"
    fi
    if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ]; then
        f=1
        echo "$name: ran no test" >>"$out"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -gt 0 ]; then
        echo "FAIL $name ($p passed, $f failed) — log follows"
        sed 's/^/    /' "$out" | tail -80
    else
        echo "ok   $name ($p passed)"
    fi
done
reports=$(grep -l -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' \
    "$logdir"/children/*.log 2>/dev/null)
if [ -n "$reports" ]; then
    for r in $reports; do
        echo "FAIL sanitizer report in a child process: $(basename "$r")"
        grep -E -A30 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$r" | head -40 | sed 's/^/    /'
        failed=$((failed + 1))
    done
fi
rm -rf "$logdir"
if [ -n "${TEST_FILTER:-}" ] && [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "FAIL no test case matches TEST_FILTER='$TEST_FILTER' in $# binaries"
    failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
