"""Fitting a linear mixed model to a Dask DataFrame: the rows stay on the workers.

    import dask.dataframe as dd, lmm.dask
    ddf = dd.read_csv("visits-*.csv")
    m = lmm.dask.fit("y ~ time * group + (time | id)", ddf)
    print(m.summary())      # the same Model as lmm.fit's: fixed, random, ranef, coef, anova(), ...

How (docs/scale-out.md): (1) each partition picks the rows a schema's sample needs (its first rows
and every row bringing a new level), which the client gathers and codes: factor levels, fixed-effect
columns and the response shift are agreed before anything is accumulated; (2) each partition is
turned into the cross-product blocks A = [Z X y]'[Z X y] by the C++ accumulator on its worker and
sent on in lmm's binary form; (3) the partials are merged in a tree (`split_every` at a time) on
the workers; (4) the client fits from the merged statistics. What needs the rows after the fit
(fitted values, residuals, the report, bootstrap and profile intervals) is not available.
"""
from __future__ import annotations

import uuid
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import pandas as pd

from . import _lmm
from ._data import to_table
from ._model import Model, _check, _options

_SCHEMAS: Dict[str, Any] = {}  # per worker process: token -> schema (rebuilt once from the sample)


def _sample_rows(part: pd.DataFrame, formula: str, head_rows: int, na: List[str]) -> pd.DataFrame:
    table = to_table(part, na)[0]
    return part.iloc[_lmm.sample_rows(table, formula, head_rows)]


def _schema(token: str, sample: pd.DataFrame, formula: str, opts: Dict[str, Any], shift: List[float],
            na: List[str]) -> Any:
    if token not in _SCHEMAS:
        if len(_SCHEMAS) > 8:
            _SCHEMAS.clear()
        _SCHEMAS[token] = _lmm.make_schema(to_table(sample, na)[0], formula, opts, shift)
    return _SCHEMAS[token]


def _partial(part: pd.DataFrame, sample: pd.DataFrame, formula: str, opts: Dict[str, Any], shift: List[float],
             token: str, na: List[str]) -> bytes:
    s = _lmm.Statistics(_schema(token, sample, formula, opts, shift, na))
    if len(part):
        s.accumulate(to_table(part, na)[0])
    return s.serialize()


def _merge(blobs: List[bytes], sample: pd.DataFrame, formula: str, opts: Dict[str, Any], shift: List[float],
           token: str, na: List[str]) -> bytes:
    schema = _schema(token, sample, formula, opts, shift, na)
    s = _lmm.Statistics.deserialize(blobs[0], schema)
    for b in blobs[1:]:
        s.merge(_lmm.Statistics.deserialize(b, schema))
    return s.serialize()


_STATS: Dict[str, Any] = {}  # per worker process: token -> the merged statistics (for the level rows)


def _level_part(blob: bytes, sample: pd.DataFrame, formula: str, opts: Dict[str, Any], shift: List[float],
                token: str, na: List[str], theta: List[float], lo: int, hi: int, coef: bool,
                columns: List[str]) -> pd.DataFrame:
    if token not in _STATS:
        if len(_STATS) > 2:
            _STATS.clear()
        _STATS[token] = _lmm.Statistics.deserialize(blob, _schema(token, sample, formula, opts, shift, na))
    groups, levels, names, arrays = _lmm.statistics_level_rows(_STATS[token], opts, theta, lo, hi, coef)
    out = pd.DataFrame({"group": groups, "level": levels, **{n: arrays[n] for n in names}},
                       index=pd.RangeIndex(lo, hi))
    return out.reindex(columns=columns)


class DaskModel(Model):
    """A model fitted from a Dask DataFrame's statistics: everything :class:`lmm.Model` has that
    the statistics determine; fitted values, residuals, the report and profile or bootstrap
    intervals need the rows and raise :class:`lmm.Error`. `ranef_dask()` and `coef_dask()` give
    the per-level tables as Dask DataFrames computed on the workers, for millions of levels."""

    def __init__(self, core: Any, data_name: str, nbytes: Dict[str, int],
                 merged: Optional[Tuple[Any, ...]] = None) -> None:
        super().__init__(core, pd.RangeIndex(0), data_name)
        self.bytes_to_client = nbytes  # {"sample": ..., "statistics": ...}
        self._merged = merged  # (the merged statistics kept on the workers, and how to read them)

    def _level_frame_dask(self, coef: bool, npartitions: Optional[int]) -> Any:
        import dask.dataframe as dd
        import dask

        _check(self._merged is not None, "this model has no statistics on the workers")
        blob_d, sample_d, formula, opts, shift, token, na = self._merged
        sizes = [k for _, k in self._core.level_groups()]
        nrows = sum(sizes)
        n = npartitions or max(1, -(-nrows // 1_000_000))
        _check(isinstance(n, int) and n >= 1, f"npartitions must be a positive integer, not {npartitions!r}")
        n = min(n, max(nrows, 1))
        # The columns: the union over the grouping factors (each factor's block starts at a level
        # whose row has all its terms), as the pandas table has them.
        starts, at = [], 0
        for k in sizes:
            starts.append(at)
            at += k
        columns: List[str] = ["group", "level"]
        for lo in starts:
            for name in self._core.level_rows(lo, lo + 1, coef)[2]:
                if name not in columns:
                    columns.append(name)
        meta = pd.DataFrame({c: pd.Series(dtype=object if c in ("group", "level") else float) for c in columns})
        bounds = [nrows * i // n for i in range(n + 1)]
        theta = list(self._d["theta"])
        parts = [dask.delayed(_level_part)(blob_d, sample_d, formula, opts, shift, token, na, theta, bounds[i],
                                           bounds[i + 1], coef, columns) for i in range(n)]
        return dd.from_delayed(parts, meta=meta, divisions=bounds[:-1] + [nrows - 1])

    def ranef_dask(self, npartitions: Optional[int] = None) -> Any:
        """`ranef` as a Dask DataFrame (columns group, level, each term's mode and condsd_<term>;
        index the row number), its partitions computed on the workers from the merged statistics
        at the fit's θ (npartitions: default one per million levels)."""
        return self._level_frame_dask(False, npartitions)

    def coef_dask(self, npartitions: Optional[int] = None) -> Any:
        """`coef` as a Dask DataFrame (columns group, level, then fixed + random per term)."""
        return self._level_frame_dask(True, npartitions)

    def _rows(self, what: str) -> None:
        raise _lmm.Error(f"{what} needs the rows, which stay on the Dask workers; compute it there with "
                         "lmm.Model.predict on each partition")

    fitted = property(lambda self: self._rows("fitted"))
    residuals = property(lambda self: self._rows("residuals"))

    def report(self, path: Any, max_persons: int = 2000) -> None:
        self._rows("report()")

    def simulate(self, nsim: int = 1, seed: int = 1) -> pd.DataFrame:
        self._rows("simulate()")

    def confint(self, method: str = "wald", nboot: int = 1000, seed: int = 1, threads: int = 0) -> pd.DataFrame:
        _check(method == "wald", f"confint(method={method!r}) needs the rows; use method='wald'")
        return super().confint(method)


def statistics(formula: str, data: Any, reml: bool = True, ddf: str = "satterthwaite", *,
               offset: Optional[str] = None, ref: Optional[Mapping[str, str]] = None,
               contrasts: Optional[str] = None, na_values: Optional[Iterable[str]] = None,
               split_every: int = 8, head_rows: int = 20000) -> Tuple[Any, Dict[str, Any], Dict[str, int]]:
    """The merged statistics of a Dask DataFrame (lmm's engine object), the options, and the bytes
    the client received (the sample and the statistics)."""
    return _statistics(formula, data, reml, ddf, offset, ref, contrasts, na_values, split_every, head_rows)[:3]


def _statistics(formula: str, data: Any, reml: bool, ddf: str, offset: Optional[str],
                ref: Optional[Mapping[str, str]], contrasts: Optional[str], na_values: Optional[Iterable[str]],
                split_every: int, head_rows: int) -> Tuple[Any, ...]:
    import dask

    _check(hasattr(data, "to_delayed"), f"data must be a Dask DataFrame, not {type(data).__name__}")
    _check(isinstance(split_every, int) and split_every >= 2, f"split_every must be an integer >= 2, not {split_every!r}")
    opts = _options(reml, ddf, None, offset, ref, contrasts)
    na = [str(c) for c in (na_values or [])]
    parts = data.to_delayed()
    picks = [dask.delayed(_sample_rows)(p, formula, head_rows if i == 0 else 0, na) for i, p in enumerate(parts)]
    sample = pd.concat(dask.compute(*picks), ignore_index=True)
    schema = _lmm.make_schema(to_table(sample, na)[0], formula, opts, [])
    shift, token = list(schema.shift), uuid.uuid4().hex
    sample_d = dask.delayed(sample, pure=True)
    level = [dask.delayed(_partial)(p, sample_d, formula, opts, shift, token, na) for p in parts]
    while len(level) > 1:
        level = [dask.delayed(_merge)(level[i:i + split_every], sample_d, formula, opts, shift, token, na)
                 for i in range(0, len(level), split_every)]
    merged = level[0].persist()  # kept on a worker for ranef_dask() and coef_dask()
    blob = merged.compute()
    nbytes = {"sample": int(sample.memory_usage(deep=True).sum()), "statistics": len(blob)}
    return (_lmm.Statistics.deserialize(blob, schema), opts, nbytes,
            (merged, sample_d, formula, opts, shift, token, na))


def fit(formula: str, data: Any, reml: bool = True, ddf: str = "satterthwaite", *,
        offset: Optional[str] = None, ref: Optional[Mapping[str, str]] = None, contrasts: Optional[str] = None,
        na_values: Optional[Iterable[str]] = None, split_every: int = 8, head_rows: int = 20000,
        data_name: Optional[str] = None) -> DaskModel:
    """Fit a linear mixed model to a Dask DataFrame (lmm.fit's formula and options; weights= and
    residual= are not available here yet). Runs on the current Dask scheduler (a
    distributed.Client if one is active). Returns a :class:`DaskModel`, whose `bytes_to_client`
    says what the client received."""
    stats, opts, nbytes, merged = _statistics(formula, data, reml, ddf, offset, ref, contrasts, na_values,
                                              split_every, head_rows)
    core = _lmm.fit_statistics(stats, opts)
    return DaskModel(core, data_name or "", nbytes, merged)
