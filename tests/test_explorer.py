"""The explorer page's library (fm_core.book.explorer) on the smoke profile's store."""
from __future__ import annotations

import numpy as np
import pytest

from fm_core.book import explorer
from fm_core.store import pipeline
from fm_core.errors import UserError


def test_views_come_from_the_store_and_say_what_they_show(smoke):
    grid = explorer.static_grid(smoke)
    stored = pipeline.get_dataset_mask(smoke, "vanilla", progress=False).mask
    assert [v["condition"] for v in grid] == ["vanilla", "adversarial"]
    assert np.array_equal(grid[0]["mask"], np.asarray(stored))  # the mask the other pages use
    v = grid[0]
    assert v["x"].shape == v["filtered"].shape == stored.shape
    assert not np.allclose(v["x"], v["filtered"])
    assert "L-share" in explorer.caption(v) and "vanilla, dataset_mean, lambda 0.2" in explorer.caption(v)
    assert 0.0 <= v["shares"]["L-share"] <= 1.0
    fig = explorer.plot_views(grid)
    assert len(fig.axes) == 2 * 3 + 2  # three panels per row, a colour bar per mask


def test_a_new_lambda_is_learned_under_its_own_key(smoke):
    lam = max(explorer.lambdas(smoke))
    assert lam > smoke.dmask_lam and smoke.dmask_lam in explorer.lambdas(smoke)
    sparse = explorer.view(smoke, "adversarial", lam=lam, image=3, progress=False)
    default = explorer.view(smoke, "adversarial", image=3, progress=False)
    assert sparse["lambda"] == lam and sparse["image"] == 3
    assert sparse["mask"].mean() <= default["mask"].mean() + 1e-6
    assert np.array_equal(default["mask"], pipeline.get_dataset_mask(smoke, "adversarial", progress=False).mask)


def test_bad_choices_are_one_line(smoke):
    for kwargs, message in (({"condition": "nope"}, "unknown condition"), ({"image": 10_000}, "image must be"),
                            ({"objective": "l2"}, "must be one of")):
        with pytest.raises(UserError, match=message) as info:
            explorer.view(smoke, **kwargs, progress=False)
        assert "\n" not in str(info.value)
