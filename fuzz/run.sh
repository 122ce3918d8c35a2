#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) in build-fuzz/ and
# runs each for a fixed time (default 60 s). Exit status 1 if any target found something; the
# reproducer is in build-fuzz/artifacts/<target>/ (crash-*, leak-*, timeout-*, oom-*).
#
#   fuzz/run.sh          60 s per target
#   fuzz/run.sh 3600     an hour each (the nightly run)
#   FUZZ_TARGETS="csv" fuzz/run.sh 30
#
# New inputs that reach new code are kept in build-fuzz/corpus/<target>/ (not committed); the
# seeds in fuzz/corpus/<target>/ are only read. To reproduce a finding:
#   build-fuzz/fuzz/fuzz_<target> build-fuzz/artifacts/<target>/crash-...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
build="${LMM_FUZZ_BUILD:-$root/build-fuzz}"
targets="${FUZZ_TARGETS:-$(sed -n 's/^set(LMM_FUZZ_TARGETS \(.*\))$/\1/p' "$root/fuzz/CMakeLists.txt")}"
jobs="${JOBS:-$(nproc)}"

command -v clang++ >/dev/null || { echo "fuzz/run.sh: clang++ not found (scripts/install-deps installs it)" >&2; exit 2; }
# Line tables only (-gline-tables-only): all a sanitizer's stack trace needs, and much cheaper to
# compile than full debug information.
# A build directory already configured for fuzzing (make test-sanitize's build-asan) is reused as
# it is: reconfiguring it with other flags would recompile everything.
if ! grep -qs '^LMM_FUZZ:BOOL=ON$' "$build/CMakeCache.txt"; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
    -DLMM_FUZZ=ON -DLMM_BUILD_TESTS=OFF >/dev/null
fi
# shellcheck disable=SC2046
cmake --build "$build" -j "$jobs" --target $(printf 'fuzz_%s ' $targets)

# Sanitizer reports are fatal; leaks are reported (libFuzzer's -detect_leaks defaults to on).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1}"
failed=()
for t in $targets; do
  work="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$work" "$artifacts"
  dict=()
  [ -f "$root/fuzz/dict/$t.dict" ] && dict=("-dict=$root/fuzz/dict/$t.dict")
  echo "== fuzz_$t: ${seconds}s" >&2
  if ! "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$work" "$root/fuzz/corpus/$t" \
      2>"$build/fuzz_$t.log"; then
    failed+=("$t")
    tail -n 60 "$build/fuzz_$t.log" >&2
  else
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done' "$build/fuzz_$t.log" >&2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: findings in: ${failed[*]} (reproducers in $build/artifacts/)" >&2
  exit 1
fi
echo "fuzz/run.sh: no findings ($seconds s per target: $targets)" >&2
