#!/bin/sh
# make fuzz: runs each libFuzzer target given for FUZZ_SECONDS (default 60)
# on a copy of its seed corpus (tests/fuzz/corpus/NAME -> build/fuzz/corpus/NAME,
# which grows run after run; the repository's seeds stay small) and prints,
# per target, the executions, the corpus size and the findings (the crash,
# leak and timeout files libFuzzer wrote to build/fuzz/findings/NAME/).
# Exit status 1 when a target found something.
set -u
SECONDS_EACH=${FUZZ_SECONDS:-60}
here=$(dirname "$0")
found=0
for bin in "$@"; do
    name=$(basename "$bin")
    corpus=build/fuzz/corpus/$name
    findings=build/fuzz/findings/$name
    log=build/fuzz/$name.log
    mkdir -p "$corpus" "$findings"
    [ -d "$here/corpus/$name" ] && cp -n "$here/corpus/$name"/* "$corpus"/ 2>/dev/null
    before=$(ls "$findings" | wc -l)
    "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$findings/" "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    after=$(ls "$findings" | wc -l)
    new=$((after - before))
    printf '%-24s %12s executions in %ss, corpus %6s inputs, %s new finding(s)\n' \
        "$name" "${execs:-?}" "$SECONDS_EACH" "$(ls "$corpus" | wc -l)" "$new"
    if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
        found=1
        echo "    exit status $rc; findings in $findings:"
        ls -t "$findings" | head -5 | sed "s|^|    $findings/|"
        grep -E -m1 -A12 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log" | sed 's/^/    /'
    fi
done
[ "$found" -eq 0 ]
