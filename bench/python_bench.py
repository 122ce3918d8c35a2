#!/usr/bin/python3
"""lmm's Python package beside the CLI and beside statsmodels (docs/python.md).

    PYTHONPATH=build/python bench/python_bench.py cli DATA.csv           # lmm.fit vs `lmm fit`
    PYTHONPATH=build/python bench/python_bench.py statsmodels DATA.csv   # lmm.fit vs MixedLM

`cli`: the CLI's whole process (reading the CSV included) under GNU time, against lmm.fit on a
DataFrame already in memory (reading not timed), its summary included; memory: the CLI's peak RSS
against the Python process's peak RSS during the fit above its RSS with the DataFrame loaded (the
peak is reset after reading, through /proc/self/clear_refs). `statsmodels`: fit seconds of
lmm.fit and of statsmodels' MixedLM for the same model, y ~ time * group with a random intercept
and slope per id, REML, in one process. Run on a quiet machine; compare ratios from one run.
"""
import gc
import os
import subprocess
import sys
import tempfile
import time

GROWTH = "y ~ time * group + (time | id)"
HERE = os.path.dirname(os.path.abspath(__file__))


def rss_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def python_fit(path, formula):
    """In a child process: (fit seconds, peak MB above the loaded DataFrame, DataFrame MB)."""
    import pandas as pd
    import lmm
    before = rss_mb("VmRSS")
    df = pd.read_csv(path)
    gc.collect()
    loaded = rss_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    t = time.perf_counter()
    m = lmm.fit(formula, df)
    m.summary()
    seconds = time.perf_counter() - t
    return seconds, rss_mb("VmHWM") - loaded, loaded - before, m.loglik


def cli_fit(lmm_cli, path, formula):
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tf.name, lmm_cli, "fit", path, formula, "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        wall, kb = tf.read().split()[-2:]
    return float(wall), float(kb) / 1024


def compare_cli(path, lmm_cli):
    wall, mb = cli_fit(lmm_cli, path, GROWTH)
    out = subprocess.run([sys.executable, __file__, "child", path], capture_output=True, text=True, check=True).stdout
    seconds, above, df_mb, loglik = map(float, out.split())
    print(f"| {os.path.basename(path)} | CLI whole process {wall:.2f} s, peak {mb:.0f} MB "
          f"| lmm.fit {seconds:.2f} s, peak {above:.0f} MB above the loaded DataFrame ({df_mb:.0f} MB) "
          f"| time {seconds / wall:.2f}x, memory {above / mb:.2f}x |")


def compare_statsmodels(path):
    import pandas as pd
    import statsmodels.formula.api as smf
    import lmm
    df = pd.read_csv(path).dropna()
    t = time.perf_counter()
    m = lmm.fit(GROWTH, df)
    ours = time.perf_counter() - t
    t = time.perf_counter()
    sm = smf.mixedlm("y ~ time * group", df, groups=df["id"], re_formula="~time").fit(reml=True)
    theirs = time.perf_counter() - t
    print(f"| {os.path.basename(path)} | {len(df):,} rows | lmm.fit {ours:.3f} s | statsmodels MixedLM {theirs:.2f} s "
          f"| {theirs / ours:.0f}x | logLik {m.loglik:.3f} vs {sm.llf:.3f} |")


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "child":
        print(*python_fit(path, GROWTH))
    elif mode == "cli":
        compare_cli(path, sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "..", "build", "lmm"))
    else:
        compare_statsmodels(path)
