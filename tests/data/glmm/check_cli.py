#!/usr/bin/env python3
"""Runs `lmm fit --family ... --json` on every reference case here and checks it with the
references' compare script (compare_glmm.py, beside the shared references, not in this repository):

    python3 tests/data/glmm/check_cli.py build/lmm ../shared/reference/glmm/compare_glmm.py

A case with a null model (anova_lrt) also runs `lmm compare --family ... --json` and adds its
likelihood-ratio test as anova_lrt. Prints compare_glmm.py's verdict per case; exits 1 if any differs.
"""
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def ours(lmm, ref):
    data = os.path.join(here, "data", ref["data"])
    flags = ["--family", ref["family"], "--link", ref["link"], "--nagq", str(ref["nAGQ"])]
    newdata = os.path.join(here, "data", ref["case"] + "_newdata.csv")
    out = json.loads(run([lmm, "fit", data, ref["formula"], "--json", "--newdata", newdata] + flags))
    if "anova_lrt" in ref:
        null = ref["anova_lrt"]["null_formula"]
        c = json.loads(run([lmm, "compare", data, null, ref["formula"], "--json"] + flags))
        out["anova_lrt"] = {"null_formula": null, "npar": c["npar"], "aic": c["aic"], "bic": c["bic"],
                            "loglik": c["loglik"], "deviance": c["deviance"], "chisq": c["chisq"],
                            "df": c["df"], "p": c["p"]}
    return out


def main():
    lmm, compare = sys.argv[1], sys.argv[2]
    failed = 0
    for name in sorted(f for f in os.listdir(here) if f.endswith(".json")):
        ref_path = os.path.join(here, name)
        with open(ref_path) as f:
            ref = json.load(f)
        if not all(k in ref for k in ("formula", "data", "family")):  # latent_refs, cbpp_profile, predict_ci: unit tests' own
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as t:
            json.dump(ours(lmm, ref), t)
        r = subprocess.run([sys.executable, compare, ref_path, t.name, "--max-lines=10"], capture_output=True, text=True)
        os.unlink(t.name)
        print(r.stdout.strip())
        failed += r.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
