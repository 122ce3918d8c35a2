#!/bin/sh
# `lmm power` at the size of issue 18's speed note: a power curve at 5 sample sizes (50 to 800
# persons, 6 waves) with 1,000 simulated studies each, on all cores (the target: under 60 s on the
# project's 2-core machine). Prints the curve with each size's seconds, then the whole run's wall
# time, user and system seconds and peak memory (GNU time).
# Usage: bench/power_curve.sh [build/lmm] [nsim] [threads]
set -eu
LMM=${1:-build/lmm}
NSIM=${2:-1000}
THREADS=${3:-0}
/usr/bin/time -f "wall %e s, user %U s, system %S s, peak %M KB" \
  "$LMM" power --persons 50,100,200,400,800 --waves 0,1,2,3,4,5 --group-effect 0.5 \
  --nsim "$NSIM" --seed 1 --threads "$THREADS" --quiet
