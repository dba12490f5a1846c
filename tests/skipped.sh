#!/usr/bin/env bash
# tests/skipped.sh BUILD_DIR — after ctest: every skipped test with the reason it gave (GTEST_SKIP's
# message, read from ctest's log), so `make test` says why, not only that, tests were skipped.
log="${1:-build}/Testing/Temporary/LastTest.log"
[ -f "$log" ] || exit 0
awk '
  /^[0-9]+\/[0-9]+ Test: / { name = $3 }
  /: Skipped$/ { getline reason; skipped[name] = reason }
  END {
    n = 0; for (t in skipped) n++
    if (n == 0) exit
    printf "%d test(s) skipped:\n", n
    for (t in skipped) printf "  %s: %s\n", t, skipped[t]
  }' "$log"
