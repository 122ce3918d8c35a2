#!/usr/bin/python3
"""Writes a simulated ratings data set shaped like MovieLens (issue 17): power-law user activity
(at least 20 ratings per user, as MovieLens keeps, at most --max-per-user) and power-law item
popularity (Zipf weights rank^-s), each (user, item) pair rated at most once, a row-level
covariate x, and half-star ratings from 0.5 to 5:

    rating = round_half(3.5 + 0.2 x + u_user + v_item + e),  u ~ N(0, 0.5²), v ~ N(0, 0.6²), e ~ N(0, 0.9²)

clipped to [0.5, 5]. The model fitted to it is `rating ~ 1 + x + (1 | user) + (1 | item)`.

    bench/simulate_ratings.py out.csv [--rows 10000000] [--users 100000] [--items 10000]
                              [--subset 1000000 subset.csv] [--seed 17]

--subset also writes that many rows drawn at random without replacement (for lme4 beside lmm).
Needs numpy and pandas (Debian: python3-numpy python3-pandas).
"""
import argparse

import numpy as np
import pandas as pd


def user_counts(rows, users, cap, alpha=0.6, floor=20):
    """Ratings per user: floor + a share of the rest proportional to rank^-alpha, capped."""
    w = np.arange(1, users + 1, dtype=float) ** -alpha
    n = np.full(users, float(floor))
    rest = rows - floor * users
    free = np.ones(users, bool)
    while rest > 0.5:  # give out what is left, capping the heaviest users
        add = rest * w * free / (w * free).sum()
        n += add
        over = n > cap
        rest = (n[over] - cap).sum()
        n[over] = cap
        free &= ~over
    n = np.floor(n).astype(np.int64)
    r = rows - n.sum()  # rounding: the remainder to the lightest users
    if r > 0:
        n[np.flatnonzero(n < cap)[-r:]] += 1
    assert n.sum() == rows and n.max() <= cap
    return n


def draw_pairs(rng, counts, items, s):
    """Distinct items per user, drawn by popularity rank^-s: draws with replacement, duplicates
    dropped, the shortfall drawn again (a round never gives a user more than it needs); after 8
    rounds, a user still short (one who rates a large share of the items) takes the most popular
    items it has not rated."""
    users = len(counts)
    p = np.arange(1, items + 1, dtype=float) ** -s
    p /= p.sum()
    item_of_rank = rng.permutation(items)  # popularity unrelated to the item's label
    have = np.empty(0, dtype=np.int64)  # keys user * items + item
    need = counts.copy()
    for _ in range(8):
        user = np.repeat(np.arange(users, dtype=np.int64), need)
        item = item_of_rank[rng.choice(items, size=len(user), p=p)]
        have = np.unique(np.concatenate([have, user * items + item]))
        need = counts - np.bincount(have // items, minlength=users)
        if not need.any():
            return have // items, have % items
    extra = []
    for u in np.flatnonzero(need):
        rated = have[(have >= u * items) & (have < (u + 1) * items)] % items
        extra.append(u * items + item_of_rank[~np.isin(item_of_rank, rated)][: need[u]])
    have = np.sort(np.concatenate([have] + extra))
    return have // items, have % items


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--max-per-user", type=int, default=5_000)
    ap.add_argument("--popularity-exponent", type=float, default=0.7)
    ap.add_argument("--subset", nargs=2, metavar=("ROWS", "FILE"))
    ap.add_argument("--seed", type=int, default=17)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    counts = user_counts(a.rows, a.users, a.max_per_user)
    user, item = draw_pairs(rng, counts, a.items, a.popularity_exponent)
    order = rng.permutation(len(user))  # rows in no particular order, as an export would be
    user, item = user[order], item[order]
    x = rng.standard_normal(len(user))
    u = rng.normal(0, 0.5, a.users)
    v = rng.normal(0, 0.6, a.items)
    eta = 3.5 + 0.2 * x + u[user] + v[item] + rng.normal(0, 0.9, len(user))
    rating = np.clip(np.round(2 * eta) / 2, 0.5, 5.0)
    d = pd.DataFrame({"user": np.char.add("u", user.astype(str)), "item": np.char.add("i", item.astype(str)),
                      "x": np.round(x, 4), "rating": rating})
    d.to_csv(a.out, index=False)
    per_item = np.bincount(item, minlength=a.items)
    print(f"{len(d)} ratings, {len(np.unique(user))} users ({counts.min()}-{counts.max()} each), "
          f"{(per_item > 0).sum()} items ({per_item.min()}-{per_item.max()} each); "
          f"sum over users of ratings^2: {float((counts.astype(float) ** 2).sum()):.3g}")
    if a.subset:
        k = int(a.subset[0])
        d.iloc[np.sort(rng.choice(len(d), size=k, replace=False))].to_csv(a.subset[1], index=False)


if __name__ == "__main__":
    main()
