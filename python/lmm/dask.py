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


class DaskModel(Model):
    """A model fitted from a Dask DataFrame's statistics: everything :class:`lmm.Model` has that
    the statistics determine; fitted values, residuals, the report and profile or bootstrap
    intervals need the rows and raise :class:`lmm.Error`."""

    def __init__(self, core: Any, data_name: str, nbytes: Dict[str, int]) -> None:
        super().__init__(core, pd.RangeIndex(0), data_name)
        self.bytes_to_client = nbytes  # {"sample": ..., "statistics": ...}

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
    blob = level[0].compute()
    nbytes = {"sample": int(sample.memory_usage(deep=True).sum()), "statistics": len(blob)}
    return _lmm.Statistics.deserialize(blob, schema), opts, nbytes


def fit(formula: str, data: Any, reml: bool = True, ddf: str = "satterthwaite", *,
        offset: Optional[str] = None, ref: Optional[Mapping[str, str]] = None, contrasts: Optional[str] = None,
        na_values: Optional[Iterable[str]] = None, split_every: int = 8, head_rows: int = 20000,
        data_name: Optional[str] = None) -> DaskModel:
    """Fit a linear mixed model to a Dask DataFrame (lmm.fit's formula and options; weights= and
    residual= are not available here yet). Runs on the current Dask scheduler (a
    distributed.Client if one is active). Returns a :class:`DaskModel`, whose `bytes_to_client`
    says what the client received."""
    stats, opts, nbytes = statistics(formula, data, reml, ddf, offset=offset, ref=ref, contrasts=contrasts,
                                     na_values=na_values, split_every=split_every, head_rows=head_rows)
    core = _lmm.fit_statistics(stats, opts)
    return DaskModel(core, data_name or "", nbytes)
