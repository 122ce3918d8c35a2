"""lmm.dask.fit on a distributed.LocalCluster with 2 workers equals lmm.fit on the same rows, and
the statistics' binary form is what the workers exchange."""
import pandas as pd
import pytest

import lmm
import lmm.dask
from conftest import DATA

dd = pytest.importorskip("dask.dataframe", reason="python3-dask is not installed (scripts/install-deps installs it)")
distributed = pytest.importorskip("distributed", reason="python3-distributed is not installed (scripts/install-deps)")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _same(a, b, tol=1e-5):
    # Two optimizer runs on blocks that differ by rounding stop up to ~1e-7 apart on a flat optimum
    # and the df are numerical derivatives: estimates are compared to 1e-5 here, the objective to
    # 1e-10; tests/statistics_test.cpp compares every estimate to 1e-8 at the same theta.
    assert a.shape == b.shape
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=tol, atol=tol)


def test_random_slope_with_a_factor_equals_in_memory_fit(client):
    df = pd.read_csv(DATA / "growth200.csv")
    formula = "y ~ time * group + (time | id)"
    mem = lmm.fit(formula, df)
    m = lmm.dask.fit(formula, dd.from_pandas(df, npartitions=5), split_every=2)
    assert abs(m.loglik - mem.loglik) < 1e-10 * abs(mem.loglik)
    _same(m.fixed[["estimate", "std_error", "t"]], mem.fixed[["estimate", "std_error", "t"]])
    _same(m.fixed[["df", "p"]], mem.fixed[["df", "p"]], 1e-4)  # Satterthwaite's numerical derivatives
    _same(m.random, mem.random)
    _same(m.ranef, mem.ranef)
    _same(m.coef, mem.coef)
    assert m.bytes_to_client["statistics"] > 0
    with pytest.raises(lmm.Error, match="needs the rows"):
        m.residuals
    _same_levels(m.ranef_dask(npartitions=3), m.ranef, 3)
    _same_levels(m.coef_dask(npartitions=2), m.coef, 2)


def _same_levels(ddf, table, npartitions):
    # The workers' rows come from the merged statistics at the fit's theta: the client's table.
    assert ddf.npartitions == npartitions
    got = ddf.compute()
    assert list(got.index) == list(range(len(table)))
    pd.testing.assert_frame_equal(got.reset_index(drop=True), table.reset_index(), check_exact=False, rtol=1e-12,
                                  atol=1e-14)


def test_crossed_model_equals_in_memory_fit(client):
    df = pd.read_csv(DATA / "penicillin.csv")
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    mem = lmm.fit(formula, df, reml=False)
    m = lmm.dask.fit(formula, dd.from_pandas(df, npartitions=3), reml=False)
    assert abs(m.loglik - mem.loglik) < 1e-10 * abs(mem.loglik)
    _same(m.fixed, mem.fixed)
    _same(m.random, mem.random)
    _same_levels(m.ranef_dask(npartitions=4), m.ranef, 4)  # blocks across the two grouping factors


def test_statistics_refuse_another_schema():
    df = pd.read_csv(DATA / "pastes.csv")
    table = lmm._data.to_table(df)[0]
    s1 = lmm._lmm.make_schema(table, "strength ~ 1 + (1 | batch)", {}, [])
    s2 = lmm._lmm.make_schema(table, "strength ~ 1 + (1 | cask)", {}, [])
    st = lmm._lmm.Statistics(s1)
    st.accumulate(table)
    blob = st.serialize()
    assert blob[:7] == b"LMMSTAT"
    assert lmm._lmm.Statistics.deserialize(blob, s1).nobs == len(df)
    with pytest.raises(lmm.Error, match="another schema"):
        lmm._lmm.Statistics.deserialize(blob, s2)
