#!/bin/sh
# InstEval (lme4's data: 73,421 ratings, 2,972 students x 1,128 instructors x 14 departments) side by
# side in one run (issue 17): lmm's whole `fit --json` with Satterthwaite df (ML) and with
# Kenward-Roger (REML), each with --timings, beside lme4's bare lmer (whole Rscript process, and
# its fit alone as bench/fit_lme4.R reports it).
# Usage: bench/insteval_df.sh [build/lmm]   (needs R with lme4; about a minute)
set -eu
LMM=${1:-build/lmm}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
Rscript -e 'library(lme4); write.csv(InstEval, commandArgs(TRUE)[1], row.names = FALSE)' "$DIR/insteval.csv"
F='y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)'
timed() { s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
echo "lmm fit --json --ml (Satterthwaite): $(timed "$LMM" fit "$DIR/insteval.csv" "$F" --ml --json) s"
"$LMM" fit "$DIR/insteval.csv" "$F" --ml --json --timings 2>&1 >/dev/null | grep timings
echo "lmm fit --json --ddf kenward-roger (REML): $(timed "$LMM" fit "$DIR/insteval.csv" "$F" --ddf kenward-roger --json) s"
"$LMM" fit "$DIR/insteval.csv" "$F" --ddf kenward-roger --json --timings 2>&1 >/dev/null | grep timings
echo "lme4 bare lmer, ML, whole Rscript (R's BLAS as installed: OpenBLAS once install-deps ran): $(timed Rscript "$(dirname "$0")/fit_lme4.R" "$DIR/insteval.csv" "$F" ML) s"
Rscript "$(dirname "$0")/fit_lme4.R" "$DIR/insteval.csv" "$F" ML
# Debian's reference BLAS and LAPACK, what R uses where no optimized BLAS is installed (libblas3,
# liblapack3 are r-base-core's dependencies), chosen for these processes only (R's start-up script
# puts R_LD_LIBRARY_PATH first on the library path).
REF=/usr/lib/x86_64-linux-gnu
if [ -e "$REF/blas/libblas.so.3" ] && [ -e "$REF/lapack/liblapack.so.3" ]; then
  export R_LD_LIBRARY_PATH="$REF/blas:$REF/lapack:$(R RHOME)/lib:$REF"
  echo "lme4 bare lmer, ML, whole Rscript, reference BLAS: $(timed Rscript "$(dirname "$0")/fit_lme4.R" "$DIR/insteval.csv" "$F" ML) s"
  Rscript "$(dirname "$0")/fit_lme4.R" "$DIR/insteval.csv" "$F" ML
  Rscript -e 'cat("BLAS:", extSoftVersion()[["BLAS"]], "LAPACK:", La_library(), "\n")'
fi
