"""Random tables and formulas (seeded): every call returns a model or raises lmm.Error, never
another exception and never a crash, and the interpreter fits a good model afterwards."""
import random

import numpy as np
import pandas as pd

import lmm

PIECES = ["y", "x", "z", "g", "h", "b", "1", "0", "+", "-", "*", ":", "/", "|", "||", "(", ")", "~", " ",
          "factor(", "log(", "I(", "^2", "poly(x, 2)", "scale(z)", "relevel(g, 'a')", "offset(z)", ",", "\"",
          "(1 | g)", "(x | g)", "(x || h)", "(1 | g/h)", "(1 | g:h)", "nope", "%in%", "\u00e9", "\x00"]
GOOD = ["y ~ x + (1 | g)", "y ~ x * b + (x | g)", "y ~ factor(h) + (1 | g)", "y ~ poly(x, 2) + (1 | g) + (1 | h)",
        "y ~ 0 + x + (x || g)", "y ~ scale(z) + (1 | g/h)", "log(abs(y) + 1) ~ x + (1 | g:h)"]


def random_column(rng, n):
    kind = rng.choice(["float", "int", "str", "cat", "bool", "object", "nan", "nullable"])
    if kind == "float":
        v = np.array([rng.gauss(0, 1e3 if rng.random() < 0.1 else 1) for _ in range(n)])
        for i in range(n):
            if rng.random() < 0.1:
                v[i] = rng.choice([np.nan, np.inf, -np.inf, 0.0, 1e308])
        return v
    if kind == "int":
        return np.array([rng.randint(-3, 3) for _ in range(n)], dtype=np.int64)
    if kind == "str":
        return np.array([rng.choice(["a", "b", "c", "", "a b", "\u00e9"]) for _ in range(n)], dtype=object)
    if kind == "cat":
        cats = rng.sample(["a", "b", "c", "d"], rng.randint(1, 4))
        return pd.Categorical([rng.choice(cats + [None]) for _ in range(n)], categories=cats)
    if kind == "bool":
        return np.array([rng.random() < 0.5 for _ in range(n)])
    if kind == "object":
        return np.array([rng.choice([1, 2.5, "x", None, True]) for _ in range(n)], dtype=object)
    if kind == "nullable":
        return pd.array([rng.choice([1, 2, 3, None]) for _ in range(n)], dtype="Int64")
    return np.full(n, np.nan)


def random_frame(rng):
    n = rng.choice([0, 1, 2, 3, 8, 30, 40, 40, 60])

    def clean(kind):  # mostly well-formed columns, so that many fits succeed; sometimes anything
        if rng.random() < 0.25:
            return random_column(rng, n)
        if kind == "number":
            return np.array([rng.gauss(0, 1) + 1.5 for _ in range(n)])
        return np.array([f"{kind}{rng.randint(1, 5)}" for _ in range(n)], dtype=object)

    return pd.DataFrame({"y": clean("number"), "x": clean("number"), "z": clean("number"), "b": clean("b"),
                         "g": clean("g"), "h": clean("h")})


def random_formula(rng):
    u = rng.random()
    if u < 0.4:
        return rng.choice(GOOD)
    if u < 0.7:
        f = list(rng.choice(GOOD))
        for _ in range(rng.randint(0, 3)):  # a few random edits
            i = rng.randint(0, len(f))
            f.insert(i, rng.choice(PIECES)) if rng.random() < 0.7 else f.pop(min(i, len(f) - 1))
        return "".join(f)
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))


def test_random_tables_and_formulas():
    rng = random.Random(20261129)
    outcomes = {"fit": 0, "error": 0}
    for _ in range(300):
        df, formula = random_frame(rng), random_formula(rng)
        options = rng.choice([{}, {"reml": False}, {"ddf": "kenward-roger"}, {"ddf": "none"},
                              {"ref": {"g": "g1"}}, {"contrasts": "sum"}, {"weights": "z"}, {"offset": "x"}])
        try:
            m = lmm.fit(formula, df, **options)
            m.to_dict(), m.summary(), m.fixed, m.ranef
            outcomes["fit"] += 1
        except lmm.Error as e:
            assert str(e), formula
            outcomes["error"] += 1
    # Both paths ran many times (a generator that only made errors would test little).
    assert outcomes["fit"] >= 30 and outcomes["error"] >= 100, outcomes
    df = pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2, 5.1, 5.8], "x": [1, 2, 3, 4, 5, 6], "g": list("aabbcc")})
    assert lmm.fit("y ~ x + (1 | g)", df).nobs == 6
