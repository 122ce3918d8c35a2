#!/usr/bin/env python3
"""Compare a fit's JSON (from `lmm fit ... --json`) with an lme4 reference JSON (tests/data/reference).

A copy of the project's shared reference folder's compare.py (shared/reference/compare.py), kept
here so that the comparison the tests and docs cite is inside the repository.

    scripts/compare_reference.py REFERENCE.json OURS.json [--fields=core,df,kr,icc,r2,ranef,profile,anova]

A reference named compare_*.json is a likelihood-ratio comparison (`lmm compare --json`) and is
checked on chisq, df, p and the per-model npar, loglik, aic, bic and deviance lists.

Prints one line per mismatch and a last line 'MATCH <case>' or 'DIFFER <case>: N mismatches'.
Exits 0 on a match. Standard library only.

Tolerances are those of two correct optimizers reaching the same optimum: fixed effects to 1e-4
relative, standard errors and standard deviations to 2e-3 relative (or 1e-3 of the residual SD,
whichever is larger, so that a variance at the boundary compares sensibly), correlations to 5e-3,
log-likelihood to 1e-3. Random-effect components are matched by (group, term1, term2), where a
group's R-specific suffix such as 'Subject.1' is read as 'Subject' and 'a:b' matches 'b:a'.
"""
import json
import math
import sys


def close(a, b, rel, abs_=0.0):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return str(a).lower() == str(b).lower()
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_)


def group_key(g):
    base = g.split(".")[0] if g and g[-1].isdigit() and "." in g else g
    return ":".join(sorted((base or "").split(":")))


def comp_key(r):
    return (group_key(r.get("group")), r.get("term1") or "", r.get("term2") or "")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--fields")]
    fields = {"core"}
    for a in sys.argv[1:]:
        if a.startswith("--fields"):
            fields = set(a.split("=", 1)[1].split(",")) if "=" in a else fields
    if len(args) != 2:
        sys.exit(__doc__)
    ref = json.load(open(args[0]))
    try:
        ours = json.load(open(args[1]))
    except (OSError, ValueError) as e:
        print(f"DIFFER {ref.get('case') or ref.get('name')}: output is not JSON ({e})")
        return 1
    bad = mismatches(ref, ours, fields)
    for line in bad:
        print(line)
    if bad:
        print(f"DIFFER {ref.get('case') or ref.get('name')}: {len(bad)} mismatches")
        return 1
    print(f"MATCH {ref.get('case') or ref.get('name')}")
    return 0


def mismatches(ref, ours, fields=frozenset({"core"})):
    """The mismatches of `ours` (a fit's or comparison's JSON as a dict) against `ref`, one line
    each; empty when they match. Used by main() and by the Python package's tests."""
    fields = set(fields)
    bad = []

    def check(name, a, b, rel, abs_=0.0):
        if not close(a, b, rel, abs_):
            bad.append(f"  {name}: ours={a} lme4={b}")

    if "chisq" in ref:  # a likelihood-ratio comparison of two models (lmm compare)
        for key, rel, abs_ in (("chisq", 1e-3, 1e-3), ("df", 0, 0), ("p", 1e-2, 1e-8)):
            check(key, ours.get(key), ref[key], rel, abs_)
        for key in ("npar", "loglik", "aic", "bic", "deviance"):
            a, b = ours.get(key) or [], ref[key]
            if len(a) != len(b):
                bad.append(f"  {key}: ours={a} lme4={b}")
            else:
                for i, (x, y) in enumerate(zip(a, b)):
                    check(f"{key}[{i}]", x, y, 0, 2e-3)
        fields = set()
    sigma = ref.get("sigma") or 1.0
    if "core" in fields:
        check("nobs", ours.get("nobs"), ref["nobs"], 0)
        check("loglik", ours.get("loglik"), ref["loglik"], 0, 1e-3)
        if ref.get("reml_criterion") is not None:
            check("reml_criterion", ours.get("reml_criterion"), ref["reml_criterion"], 0, 2e-3)
        check("sigma", ours.get("sigma"), ref["sigma"], 2e-3)
        check("singular", ours.get("singular"), ref["singular"], 0)
        of = {f.get("term"): f for f in ours.get("fixed", [])}
        for f in ref["fixed"]:
            o = of.get(f["term"])
            if o is None:
                bad.append(f"  fixed term missing: {f['term']} (ours: {sorted(of)})")
                continue
            check(f"fixed[{f['term']}].estimate", o.get("estimate"), f["estimate"], 1e-4, 1e-6 * sigma)
            check(f"fixed[{f['term']}].std_error", o.get("std_error"), f["std_error"], 2e-3)
        orand = {comp_key(r): r for r in ours.get("random", [])}
        for r in ref["random"]:
            o = orand.get(comp_key(r))
            if o is None:
                bad.append(f"  random component missing: {comp_key(r)} (ours: {sorted(orand)})")
                continue
            if "cor" in r:
                check(f"random{comp_key(r)}.cor", o.get("cor"), r["cor"], 0, 5e-3)
            else:
                check(f"random{comp_key(r)}.sd", o.get("sd"), r["sd"], 2e-3, 1e-3 * sigma)
    if "df" in fields:
        of = {f.get("term"): f for f in ours.get("fixed", [])}
        for f in ref["fixed"]:
            o = of.get(f["term"], {})
            check(f"fixed[{f['term']}].df", o.get("df"), f["df_satterthwaite"], 1e-2)
            check(f"fixed[{f['term']}].p", o.get("p"), f["p_satterthwaite"], 1e-2, 1e-6)
    if "kr" in fields and "df_kr" in ref["fixed"][0]:
        # ours comes from a fit run with Kenward-Roger chosen, so its df/p/std_error are KR's
        of = {f.get("term"): f for f in ours.get("fixed", [])}
        for f in ref["fixed"]:
            o = of.get(f["term"], {})
            check(f"fixed[{f['term']}].df (KR)", o.get("df"), f["df_kr"], 1e-2)
            check(f"fixed[{f['term']}].p (KR)", o.get("p"), f["p_kr"], 1e-2, 1e-6)
            check(f"fixed[{f['term']}].std_error (KR)", o.get("std_error"), f["std_error_kr"], 2e-3)
    for key in ("icc_adjusted", "icc_unadjusted", "r2_marginal", "r2_conditional"):
        if key.split("_")[0] in fields and ref.get(key) is not None:
            check(key, ours.get(key), ref[key], 5e-3, 1e-4)
    if "ranef" in fields and ref.get("ranef"):
        ore = {(group_key(r.get("group")), str(r.get("level"))): r for r in ours.get("ranef", [])}
        for r in ref["ranef"]:
            level = str(r["level"])
            o = ore.get((group_key(r["group"]), level)) or ore.get((group_key(r["group"]), ":".join(reversed(level.split(":")))))
            if o is None:
                bad.append(f"  ranef missing: {r['group']} {r['level']}")
                continue
            for k, v in r.items():
                if k in ("group", "level"):
                    continue
                check(f"ranef[{r['group']}/{r['level']}].{k}", o.get(k), v, 5e-3, 1e-3 * sigma)
    if "profile" in fields and ref.get("confint_profile"):
        oc = {c.get("parameter"): c for c in ours.get("confint_profile", [])}
        for c in ref["confint_profile"]:
            o = oc.get(c["parameter"])
            if o is None:
                bad.append(f"  confint_profile missing: {c['parameter']}")
                continue
            check(f"profile[{c['parameter']}].lower", o.get("lower"), c["lower"], 1e-2, 1e-3 * sigma)
            check(f"profile[{c['parameter']}].upper", o.get("upper"), c["upper"], 1e-2, 1e-3 * sigma)
    if "anova" in fields and ref.get("anova_type3"):
        oa = {a.get("term"): a for a in ours.get("anova_type3", [])}
        for a in ref["anova_type3"]:
            o = oa.get(a["term"], {})
            check(f"anova[{a['term']}].F", o.get("F"), a["F"], 1e-3)
            check(f"anova[{a['term']}].den_df", o.get("den_df"), a["den_df"], 1e-2)
    return bad


if __name__ == "__main__":
    sys.exit(main())
