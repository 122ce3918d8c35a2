#!/usr/bin/python3
"""Fits every reference case (tests/data/reference/*.json: formula, data, method) with two lmm
binaries, e.g. a portable build (-DLMM_NATIVE=OFF) and a native one, and compares every number of
their `lmm fit --json` outputs: |a - b| / max(|a|, |b|, 1), relative for numbers above 1 and absolute
below (default tolerance 1e-10). The optimizer's own record (`optimizer`: evaluations, path;
`convergence`: the gradient at the optimum, which is zero up to rounding and so has no relative
digits to compare) describes the route, not the result, and is left out.

    bench/compare_builds.py build-portable/lmm build/lmm [--tol 1e-10] [--extra DATA FORMULA ...]

Prints the largest relative difference per case and exits 1 if any exceeds the tolerance.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def leaves(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, f"{path}[{i}]")
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield path, float(x)


def fit(lmm, data, formula, ml):
    cmd = [lmm, "fit", data, formula, "--json", "--quiet"] + (["--ml"] if ml else [])
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--extra", nargs=2, action="append", default=[], metavar=("DATA", "FORMULA"))
    args = ap.parse_args()
    cases = []
    for f in sorted(glob.glob(os.path.join(ROOT, "tests/data/reference/*.json"))):
        ref = json.load(open(f))
        if "formula" in ref:
            cases.append((os.path.basename(f)[:-5], os.path.join(ROOT, "tests/data", ref["data"]), ref["formula"],
                          ref.get("method") == "ML"))
    cases += [(os.path.basename(d), d, f, False) for d, f in args.extra]
    worst_all = 0.0
    for name, data, formula, ml in cases:
        ja, jb = dict(leaves(fit(args.a, data, formula, ml))), dict(leaves(fit(args.b, data, formula, ml)))
        worst, where = 0.0, ""
        for k in sorted(set(ja) | set(jb)):
            if "seconds" in k or k.startswith((".optimizer", ".convergence")):
                continue
            if k not in ja or k not in jb:
                print(f"{name}: {k} only in one output")
                worst = float("inf")
                continue
            x, y = ja[k], jb[k]
            d = abs(x - y) / max(abs(x), abs(y), 1.0) if x != y else 0.0
            if d > worst:
                worst, where = d, k
        worst_all = max(worst_all, worst)
        print(f"{name:36s} largest difference {worst:.2e} {where}")
    sys.exit(1 if worst_all > args.tol else 0)


if __name__ == "__main__":
    main()
