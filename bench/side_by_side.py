#!/usr/bin/env python3
"""Side-by-side timing of lmm, lme4 and statsmodels on the same simulated data (issue 6).

For each design it simulates the data once (bench/simulate_growth.R, a copy of the project's
shared bench script, and bench/simulate_crossed.R), fits it with each program in turn, checks that the
log-likelihoods agree, and prints a Markdown table of fit seconds (data loading excluded, as each
program reports it), whole-process seconds and peak memory (GNU time's maximum RSS), with lme4's
figures divided by lmm's.

    bench/side_by_side.py [--lmm build/lmm] [--data DIR] [--sizes 200x5,10000x10,100000x10]
                          [--crossed 1000x500x100] [--statsmodels-max-rows 100000]
                          [--lme4-max-rows 10000000] [--lme4-reference-blas] [--out bench/results.md]

Needs R with lme4 and data.table, and Debian's python3-statsmodels for /usr/bin/python3
(apt-get install r-base-core r-cran-lme4 r-cran-data.table python3-statsmodels python3-pandas).
R uses the system's BLAS and LAPACK (OpenBLAS once scripts/install-deps has installed it);
--lme4-reference-blas runs R with Debian's reference BLAS and LAPACK instead, what R has where no
optimized BLAS is installed. Timings are noisy on a shared machine: run on a quiet one, and compare ratios from one run.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GROWTH = "y ~ time * group + (time | id)"
CROSSED = "y ~ 1 + (1 | subject) + (1 | item)"


def timed(cmd, env=None):
    """Runs cmd under GNU time; returns (stdout, stderr, wall seconds, peak RSS in MB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tf.name] + cmd, capture_output=True, text=True,
                           env=env)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
        wall, kb = tf.read().split()[-2:]
    return p.stdout, p.stderr, float(wall), float(kb) / 1024


def run_lmm(lmm, data, formula):
    # Timed: the text summary, as a user reads it (the scripts of lme4 and statsmodels print one
    # line). --ddf none: lme4's lmer() computes no df either. Also timed: the path users run by
    # default, `--json` with Satterthwaite df and p-values (and ranef[] for every level), whose output
    # gives the log-likelihood.
    _, err, wall, mb = timed([lmm, "fit", data, formula, "--ddf", "none", "--timings", "--quiet"])
    out, _, json_wall, _ = timed([lmm, "fit", data, formula, "--json", "--quiet"])
    t = re.search(r"model frame ([\d.]+) s, setup ([\d.]+) s, optimize ([\d.]+) s \((\d+) evaluations\), "
                  r"summary ([\d.]+) s, inference ([\d.]+) s; (\d+) threads", err)
    read = float(re.search(r"read ([\d.]+) s", err).group(1))
    fit = sum(float(t.group(i)) for i in (1, 2, 3, 5, 6))
    j = json.loads(out)
    return {"fit": fit, "read": read, "whole": wall, "json": json_wall, "mb": mb, "loglik": j["loglik"], "nobs": j["nobs"],
            "evals": int(t.group(4)), "threads": int(t.group(7))}


def reference_blas_env():
    """The environment for R with Debian's reference BLAS and LAPACK (libblas3, liblapack3)."""
    lib = "/usr/lib/x86_64-linux-gnu"
    home = subprocess.run(["R", "RHOME"], capture_output=True, text=True, check=True).stdout.strip()
    return dict(os.environ, R_LD_LIBRARY_PATH=f"{lib}/blas:{lib}/lapack:{home}/lib:{lib}")


def run_lme4(data, formula, env=None):
    out, _, wall, mb = timed(["Rscript", os.path.join(HERE, "fit_lme4.R"), data, formula], env)
    m = re.search(r"fit_seconds=([\d.]+) loglik=(-?[\d.]+) nobs=(\d+)", out)
    return {"fit": float(m.group(1)), "whole": wall, "mb": mb, "loglik": float(m.group(2)), "nobs": int(m.group(3))}


def run_statsmodels(data):
    out, _, wall, mb = timed(["/usr/bin/python3", os.path.join(HERE, "fit_statsmodels.py"), data])
    m = re.search(r"fit_seconds=([\d.]+) loglik=(-?[\d.]+) nobs=(\d+)", out)
    return {"fit": float(m.group(1)), "whole": wall, "mb": mb, "loglik": float(m.group(2)), "nobs": int(m.group(3))}


def simulate(args, kind, spec):
    os.makedirs(args.data, exist_ok=True)
    if kind == "growth":
        n, t = spec
        path = os.path.join(args.data, f"growth_{n}x{t}.csv")
        cmd = ["Rscript", os.path.join(HERE, "simulate_growth.R"), str(n), str(t), path]
    else:
        s, i, per = spec
        path = os.path.join(args.data, f"crossed_{s}x{i}x{per}.csv")
        cmd = ["Rscript", os.path.join(HERE, "simulate_crossed.R"), str(s), str(i), str(per), path]
    if not os.path.exists(path):
        print(f"simulating {path}", file=sys.stderr)
        subprocess.run(cmd, check=True)
    return path


def fmt_s(x):
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lmm", default=os.path.join(HERE, "..", "build", "lmm"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "build", "bench-data"))
    ap.add_argument("--sizes", default="200x5,10000x10,100000x10")
    ap.add_argument("--crossed", default="1000x500x100", help="SUBJECTSxITEMSxPER_SUBJECT, or empty for none")
    ap.add_argument("--statsmodels-max-rows", type=int, default=100000)
    ap.add_argument("--lme4-max-rows", type=int, default=10_000_000)
    ap.add_argument("--lme4-reference-blas", action="store_true",
                    help="run R with Debian's reference BLAS/LAPACK (R's start-up script puts R_LD_LIBRARY_PATH first)")
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args()

    designs = [("growth", tuple(int(v) for v in s.split("x")), GROWTH) for s in args.sizes.split(",") if s]
    if args.crossed:
        designs.append(("crossed", tuple(int(v) for v in args.crossed.split("x")), CROSSED))

    rows = []
    worst = 0.0
    for kind, spec, formula in designs:
        data = simulate(args, kind, spec)
        name = (f"{spec[0]:,} x {spec[1]}" if kind == "growth" else f"crossed {spec[0]:,} x {spec[1]:,}")
        print(f"== {name}: lmm", file=sys.stderr)
        lm = run_lmm(args.lmm, data, formula)
        r = {"name": name, "formula": formula, "rows": lm["nobs"], "lmm": lm}
        if lm["nobs"] <= args.lme4_max_rows:
            print(f"== {name}: lme4", file=sys.stderr)
            r["lme4"] = run_lme4(data, formula, reference_blas_env() if args.lme4_reference_blas else None)
            d = abs(r["lme4"]["loglik"] - lm["loglik"])
            worst = max(worst, d)
            r["agree"] = d
        if kind == "growth" and lm["nobs"] <= args.statsmodels_max_rows:
            print(f"== {name}: statsmodels", file=sys.stderr)
            r["sm"] = run_statsmodels(data)
        rows.append(r)
        print(json.dumps(r), file=sys.stderr)

    cpu = ""
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except (OSError, AttributeError):
        pass
    lines = [
        f"Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; "
        f"lmm with {rows[0]['lmm']['threads']} threads; R with {'reference' if args.lme4_reference_blas else 'the system'} BLAS. REML fits; fit s excludes reading the CSV; whole s and peak MB are the whole process (lmm: `lmm fit --ddf none` printing its summary; lme4: lmer() and a one-line summary). lmm --json s: the whole `lmm fit --json` with its default Satterthwaite df and p-values, ×faster against lme4's bare whole process.",
        "",
        "| data | rows | lmm fit s | lmm whole s | lmm peak MB | lme4 fit s | lme4 whole s | lme4 peak MB "
        "| fit ×faster | whole ×faster | memory ÷ | lmm --json s | --json ×faster | statsmodels fit s | logLik lmm − lme4 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lm, l4, sm = r["lmm"], r.get("lme4"), r.get("sm")
        cells = [r["name"], f"{r['rows']:,}", fmt_s(lm["fit"]), fmt_s(lm["whole"]), f"{lm['mb']:.0f}"]
        if l4:
            cells += [fmt_s(l4["fit"]), fmt_s(l4["whole"]), f"{l4['mb']:.0f}",
                      f"{l4['fit'] / max(lm['fit'], 1e-3):.0f}", f"{l4['whole'] / lm['whole']:.1f}",
                      f"{l4['mb'] / lm['mb']:.1f}"]
        else:
            cells += ["–"] * 6
        cells.append(fmt_s(lm["json"]))
        cells.append(f"{l4['whole'] / lm['json']:.1f}" if l4 else "–")
        cells.append(fmt_s(sm["fit"]) if sm else "–")
        cells.append(f"{lm['loglik'] - l4['loglik']:+.1e}" if l4 else "–")
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)
    if worst > 1e-3:
        print(f"side_by_side: log-likelihoods differ by up to {worst:.3g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
