#!/usr/bin/env bash
# Installs lmm into a temporary prefix, builds examples/consumer against it with find_package(lmm),
# and checks that the program fits sleepstudy to lme4's REML criterion.
set -euo pipefail
src=$1; build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
# The consumer is compiled by the compiler that built the library (the sanitizer build's is clang,
# whose instrumented objects need clang's sanitizer runtimes at the link).
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
cmake -S "$src/examples/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release \
  ${cxx:+-DCMAKE_CXX_COMPILER="$cxx"} >/dev/null
cmake --build "$tmp/consumer" >/dev/null
out=$("$tmp/consumer/fit_sleepstudy" "$src/tests/data/sleepstudy.csv")
echo "$out" | grep -q "REML criterion at convergence: 1743.6" || { echo "unexpected output:"; echo "$out"; exit 1; }
echo "$out" | grep -q "^theta: 0.9667" || { echo "unexpected theta:"; echo "$out"; exit 1; }
echo "consumer built with find_package(lmm) and fitted sleepstudy"
