"""Known truth in colour (issue 38): on the RGB cue world with its cue in the red channel,
the shared mask map finds the planted frequencies and the per-channel map the planted
channel and frequencies, on held-out images (AUROC >= 0.9, the issue's bar)."""
from __future__ import annotations

import numpy as np
import pytest

from fm_core.data.colour_cues import colour_truth, generate_colour
from fm_core.errors import UserError
from fm_core.methods.colour_truth import colour_recovery

pytestmark = pytest.mark.usefixtures("one_thread")

AUROC_BAR = 0.9  # issue 38's "done when"


def test_the_colour_world_puts_its_cue_in_the_carrier_channel_only():
    x, y = generate_colour(200, seed=3, carrier="green")
    truth = colour_truth(32, "green")
    power = np.abs(np.fft.fft2(x - x.mean((2, 3), keepdims=True))) ** 2
    at_cue = [power[:, c][:, truth[1]].mean() for c in range(3)]
    assert x.shape == (200, 3, 32, 32) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert at_cue[1] > 5 * max(at_cue[0], at_cue[2]) and truth[1].any() and not truth[[0, 2]].any()
    assert np.bincount(y).tolist() == [40] * 5
    with pytest.raises(UserError, match="carrier must be one of"):
        generate_colour(10, carrier="purple")


def test_shared_and_per_channel_masks_find_the_planted_channel_and_frequencies():
    # 60 mask steps, not the function's 100: the same verdicts here (AUROC 0.995 shared, 0.998
    # per channel, red's mean 0.24 against 0.19 and 0.19) at half the test's CPU
    result = colour_recovery("red", max_steps=60)
    assert result["held_out_accuracy"] >= 0.9, result
    assert result["shared"]["auroc"] >= AUROC_BAR and result["per-channel"]["auroc"] >= AUROC_BAR, result
    assert int(np.argmax(result["per-channel mean"])) == 0, result  # the red channel keeps the most
