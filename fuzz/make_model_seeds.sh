#!/usr/bin/env bash
# Remakes the seed corpus of fuzz_model (fuzz/corpus/model/) from real saved models: small subsets
# of the bundled data sets (seeds must stay under run.sh's -max_len of 8192 bytes), saved by
# `lmm fit --save` and written as compact JSON.  Usage: fuzz/make_model_seeds.sh [path/to/lmm]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lmm="${1:-$root/build/lmm}"
d="$root/tests/data"
t="$(mktemp -d)"
trap 'rm -rf "$t"' EXIT
head -41 "$d/sleepstudy.csv" >"$t/sleep.csv"
head -40 "$d/penicillin.csv" >"$t/pen.csv"
{ head -1 "$d/growth200.csv"; grep -E '"P00[1-6]"' "$d/growth200.csv"; } >"$t/growth.csv"
{ head -1 "$d/cake.csv"; grep -E '^[1-4],' "$d/cake.csv"; } >"$t/cake.csv"
fit() { local name="$1"; shift; "$lmm" fit "$@" --save "$t/$name.json" >/dev/null; }
fit sleepstudy_slope "$t/sleep.csv" "Reaction ~ Days + (Days | Subject)"
fit penicillin_crossed "$t/pen.csv" "diameter ~ 1 + (1 | plate) + (1 | sample)"
fit growth_factor "$t/growth.csv" "y ~ time * group + (time | id)"
fit cake_factor_interaction "$t/cake.csv" "angle ~ recipe + factor(temp) + (1 | replicate:recipe)"
fit growth_centered "$t/growth.csv" "y ~ time + group + (time | id)" --center time=2
fit growth_person_mean "$t/growth.csv" "y ~ time_within + time_between + (1 | id)" \
  --center-person time:id --center time_between
mkdir -p "$root/fuzz/corpus/model"
for f in "$t"/*.json; do
  python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1])), separators=(",", ":")))' \
    "$f" >"$root/fuzz/corpus/model/$(basename "$f")"
done
