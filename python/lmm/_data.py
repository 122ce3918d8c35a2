"""pandas and numpy columns to the engine's table, as buffers.

Each column becomes (name, float64 array, None) for numbers or (name, int32 codes, [labels]) for a
factor, and the engine builds its table from those buffers: nothing is printed and parsed again.
The coding follows R's for the same data frame:

* numbers (int, float, nullable Int64/Float64): numeric, NaN/None/pd.NA missing;
* ``pandas.Categorical``: a factor with the categories in their order (the first is the reference
  level of treatment contrasts, as R's factor(x, levels = ...)); unused categories are dropped
  from the model as R's model frame drops them; an ordered Categorical is an ordered factor
  (polynomial contrasts, as R's);
* strings and other objects: a factor with levels in byte order, as R's factor() of text
  (under LC_COLLATE=C);
* booleans: a factor with levels FALSE, TRUE, as R codes a logical (the term is ``xTRUE``).
"""
from __future__ import annotations

import math
import os
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from . import _lmm
from ._lmm import Error

DataLike = Union[pd.DataFrame, Mapping[str, Any], str, "os.PathLike[str]"]

_NUMERIC_KINDS = {"integer", "floating", "mixed-integer-float", "decimal", "empty"}


def _label(value: Any) -> str:
    """A category's label as R writes it: 1.0 -> "1", True -> "TRUE"."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _na_numbers(na_values: Sequence[str]) -> list:
    out = []
    for code in na_values:
        try:
            out.append(float(code))
        except ValueError:
            pass
    return out


def _factor(name: str, s: pd.Series, na_values: Sequence[str]) -> Tuple:
    missing = s.isna().to_numpy()
    values = s.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(s, skipna=True) != "string":
        values = np.array([None if m else _label(v) for v, m in zip(values, missing)], dtype=object)
    if na_values:
        missing = missing | np.isin(values, [str(c).strip() for c in na_values])
    if missing.any():
        values = np.where(missing, None, values)
    # Python orders str by code point, which is UTF-8's byte order: R's order under LC_COLLATE=C.
    codes, levels = pd.factorize(values, sort=True)
    return (name, codes.astype(np.int32, copy=False), [str(v) for v in levels])


def _categorical(name: str, s: pd.Series, na_values: Sequence[str]) -> Tuple:
    levels = [_label(c) for c in s.cat.categories]
    codes = s.cat.codes.to_numpy(dtype=np.int32, copy=True)
    if na_values:
        drop = np.array([lab in {str(c).strip() for c in na_values} for lab in levels] + [False])
        codes[drop[codes]] = -1  # codes of -1 index the appended False
    return (name, codes, levels, bool(s.cat.ordered))


def _numeric(name: str, s: pd.Series, na_values: Sequence[str]) -> Tuple:
    if s.dtype == object:
        s = pd.to_numeric(s)
    arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
    codes = _na_numbers(na_values)
    if codes:
        arr = arr.copy()
        arr[np.isin(arr, codes)] = np.nan
    return (name, np.ascontiguousarray(arr), None)


def _column(name: str, s: pd.Series, na_values: Sequence[str]) -> Tuple:
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical(name, s, na_values)
    if pd.api.types.is_bool_dtype(dtype) or (dtype == object and pd.api.types.infer_dtype(s, skipna=True) == "boolean"):
        return _factor(name, s, na_values)
    if pd.api.types.is_complex_dtype(dtype):
        raise Error(f"column '{name}' holds complex numbers; a model needs real numbers or categories")
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise Error(f"column '{name}' holds dates or times; convert them to numbers first "
                    "(for example days since the first visit)")
    if pd.api.types.is_numeric_dtype(dtype):
        return _numeric(name, s, na_values)
    if dtype == object and pd.api.types.infer_dtype(s, skipna=True) in _NUMERIC_KINDS:
        return _numeric(name, s, na_values)
    return _factor(name, s, na_values)


def to_table(data: DataLike, na_values: Optional[Iterable[str]] = None) -> Tuple["_lmm.Table", pd.Index, str]:
    """The engine's table for `data`, the index its rows keep, and its name for the summary."""
    na = [str(c) for c in (na_values or [])]
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        table = _lmm.Table.read_csv(path, na)
        return table, pd.RangeIndex(table.nrows), path
    if isinstance(data, Mapping) and not isinstance(data, pd.DataFrame):
        try:
            data = pd.DataFrame({str(k): v for k, v in data.items()})
        except (ValueError, TypeError) as e:
            raise Error(f"data: the dict's arrays do not make a table ({e})") from None
    if not isinstance(data, pd.DataFrame):
        raise Error("data must be a pandas DataFrame, a dict of arrays or the path of a CSV file, "
                    f"not {type(data).__name__}")
    if isinstance(data.columns, pd.MultiIndex):
        raise Error("data has MultiIndex columns; flatten them to one name per column first")
    columns = []
    for i, name in enumerate(data.columns):
        try:
            columns.append(_column(str(name), data.iloc[:, i], na))
        except (TypeError, ValueError) as e:  # lists, dicts, mixed objects pandas cannot order
            if isinstance(e, Error):
                raise
            raise Error(f"column '{name}' cannot be used as numbers or categories ({e})") from None
    return _lmm.Table.from_columns(columns, len(data), ""), data.index, ""


def from_columns(columns: list, index: Optional[pd.Index] = None) -> pd.DataFrame:
    """A DataFrame from the engine's columns; factors become pandas Categoricals."""
    out = {}
    for name, values, levels, *ordered in columns:
        if levels is None:
            out[name] = values
        else:
            out[name] = pd.Categorical.from_codes(values, categories=levels, ordered=bool(ordered and ordered[0]))
    return pd.DataFrame(out, index=index)
