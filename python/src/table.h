// Tables between Python and the engine: columns as buffers, never as text.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "lmm/data.h"

namespace lmm::python {

namespace py = pybind11;

/// A DataFrame from a list of (name, values, levels[, ordered]) tuples: `levels` None for a numeric
/// column (values: float64, NaN missing), else the labels in their order (values: int32 codes into
/// them, -1 missing), `ordered` true for an ordered factor. Throws lmm::Error for a column of the wrong length, a duplicate or empty name, a
/// duplicate level or a code out of range.
DataFrame table_from_columns(const py::list& columns, std::size_t nrows, const std::string& source);

/// The reverse: (name, float64 array, None) or (name, int32 codes, [levels], ordered) per column.
py::list table_to_columns(const DataFrame& df);

}  // namespace lmm::python
