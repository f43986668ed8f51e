import numpy as np
import pytest

from socialml.components.text.vectors import Standardiser


def test_standardiser_scales_each_dimension_by_the_fitted_rows_and_keeps_rows_about_unit_norm():
    rng = np.random.default_rng(0)
    fitted = rng.normal(loc=[5.0, 0.0, -1.0, 2.0], scale=[0.01, 1.0, 10.0, 3.0], size=(2000, 4))
    standardiser = Standardiser.fit(fitted)
    x = standardiser.transform(fitted)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 0.5, rtol=1e-3)  # 1 / √4 dimensions each
    assert abs(np.linalg.norm(x, axis=1).mean() - 1.0) < 0.1
    # new rows are read with the fitted centre and spread, not their own
    np.testing.assert_allclose(standardiser.transform(np.array([[5.0, 0.0, -1.0, 2.0]])), 0.0, atol=0.02)
    np.testing.assert_allclose(standardiser.transform(fitted[:1]), x[:1])


def test_standardiser_leaves_a_dimension_without_spread_at_zero_and_refuses_other_widths():
    fitted = np.array([[1.0, 0.5], [3.0, 0.5], [2.0, 0.5]])
    standardiser = Standardiser.fit(fitted)
    x = standardiser.transform(np.array([[2.0, 0.5], [2.0, 9.0]]))
    assert np.isfinite(x).all() and x[0, 1] == 0.0
    with pytest.raises(ValueError, match=r"vectors of \(3,\) dimensions given to a standardiser fitted on \(2,\)"):
        standardiser.transform(np.ones((1, 3)))


def test_one_broken_vector_among_many_stops_the_fit_naming_its_row():
    vectors = np.random.default_rng(0).normal(size=(1000, 8))
    vectors[617, 3] = np.nan
    with pytest.raises(ValueError, match=r"1 of 1000 vectors hold a NaN or an infinite value \(the first at row 617\)"):
        Standardiser.fit(vectors)
    vectors[617, 3] = np.inf
    with pytest.raises(ValueError, match="1 of 1000"):
        Standardiser.fit(vectors)
