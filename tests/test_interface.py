"""Every learner and every peer method behaves alike at its face, as scikit-learn's
estimator checks hold every estimator to the same rules: the caller's model comes back
as it was given (training flags and parameter gradients), and each bad input is one
UserError line (a ValueError) before any work starts."""
from __future__ import annotations

import pytest
import torch

from fm_core import methods
from fm_core.errors import UserError
from fm_core.masks import DatasetMask, ImageMasks, LambdaPath
from fm_core.nets.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = dict(lr=0.05, max_steps=4, batch_size=4, window=2)
LEARNERS = {
    "DatasetMask": lambda **kw: DatasetMask(**{**QUICK, **kw}),
    "LambdaPath": lambda **kw: LambdaPath(**{"lams": (0.1, 1.0), **QUICK, **kw}),
    "ImageMasks": lambda **kw: ImageMasks(**{"lr": 0.05, "max_steps": 4, "patience": 2, "batch_size": 4, **kw}),
}
METHODS = {name: (lambda name=name, **kw: methods.get_method(
    name, **({**QUICK, "batch_size": 4, **kw} if name == "mask" else kw))) for name in methods.METHODS}
ALL = {**{f"learner {k}": v for k, v in LEARNERS.items()}, **{f"method {k}": v for k, v in METHODS.items()}}


def _model():
    torch.manual_seed(0)
    return build_model("resnet18", 2, 8, 0.5, 0.25, width=0.0625)


def _data(n=8):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=g), torch.arange(n) % 2


def _run(kind, make, model, x, y, **settings):
    face = make(**settings)
    if kind.startswith("method"):
        return face.attribute(model, x, y, progress=False)
    return face(model, x, y, progress=False)


@pytest.mark.parametrize("kind", ALL)
def test_the_model_comes_back_as_it_was_given(kind):
    model, (x, y) = _model(), _data()
    model.train()
    first = next(model.parameters())
    first.requires_grad_(False)  # a caller's mix of frozen and trainable parameters
    before = ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()])
    _run(kind, ALL[kind], model, x, y)
    assert ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]) == before


BAD = {
    "3-d images": (lambda x, y: (x[:, 0], y), {}, "shape (N, C, H, W)"),
    "pixels times 255": (lambda x, y: (x * 255, y), {}, "[0, 1]"),
    "labels of another length": (lambda x, y: (x, y[:-1]), {}, "labels must have shape"),
    "negative lambda": (lambda x, y: (x, y), {"lam": -1.0}, "lam must be finite and >= 0"),
    "batch size 0": (lambda x, y: (x, y), {"batch_size": 0}, "batch_size must be a whole number >= 1"),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("kind", ALL)
def test_each_bad_input_is_one_user_error_line(kind, bad):
    change, settings, message = BAD[bad]
    name = kind.split()[-1]
    if "lam" in settings and name in ("heatmap", "ablation", "gradient"):
        pytest.skip(f"{name} has no lambda")
    if "lam" in settings and name == "LambdaPath":  # its lambdas are a path
        settings, message = {"lams": (0.1, -1.0)}, "lams must be finite and >= 0"
    model, (x, y) = _model(), _data()
    x, y = change(x, y)
    with pytest.raises(UserError) as caught:  # at construction (settings) or at the call (inputs)
        _run(kind, ALL[kind], model, x, y, **settings)
    assert isinstance(caught.value, ValueError)
    text = str(caught.value)
    assert "\n" not in text and message in text, text


def test_each_dataset_mask_learner_offers_only_what_it_supports():
    """One base holds the shared settings; each class adds its own lambda field(s) and face."""
    import dataclasses
    fields = {cls: {f.name for f in dataclasses.fields(cls)} for cls in (DatasetMask, LambdaPath, methods.DatasetMaskMethod)}
    assert "lams" not in fields[DatasetMask] and "lam" not in fields[LambdaPath]
    assert not callable(methods.DatasetMaskMethod()) and callable(DatasetMask()) and callable(LambdaPath())
    for cls, own in fields.items():  # every field has its rule or is free (bool, seed, exp_cap)
        assert set(cls.constraints) <= own and set(cls.profile_settings) <= own


@pytest.mark.parametrize("setting, message", [("schedule", "schedule must be one of"),
                                              ("invariance", "invariance must be one of")])
def test_a_bad_choice_is_one_user_error_line(setting, message):
    model, (x, y) = _model(), _data()
    with pytest.raises(UserError, match=message):
        DatasetMask(**{**QUICK, setting: "other"})(model, x, y, progress=False)


@pytest.mark.parametrize("learner", [DatasetMask, LambdaPath, ImageMasks])
def test_from_profile_applies_what_is_given_none_included(learner):
    from fm_core.profiles import get_profile

    cfg = get_profile("quick")
    assert learner.from_profile(cfg).exp_cap is not None  # the capped default
    assert learner.from_profile(cfg, exp_cap=None).exp_cap is None  # the paper's uncapped exp, chosen
    with pytest.raises(UserError, match="has no setting"):
        learner.from_profile(cfg, lamda=0.3)


@pytest.mark.parametrize("learner, engine, call_args", [
    # DatasetMask's one lambda reaches the engine as a path of one (lams=(lam,))
    (DatasetMask, "fm_core.masks.dataset_masks.run_lambda_path",
     {"model", "x", "y", "start", "penalty_weights", "progress", "lam"}),
    (LambdaPath, "fm_core.masks.dataset_masks.run_lambda_path",
     {"model", "x", "y", "start", "penalty_weights", "progress", "lam"}),
    (ImageMasks, "fm_core.masks.image_masks.run_image_masks",
     {"model", "x", "targets", "checkpoint", "progress"}),
])
def test_the_learner_dataclass_is_the_one_place_settings_are_written(learner, engine, call_args):
    """The engine takes every setting and defaults none of them; the dataclass has every
    one, so a default can only be written (and changed) there."""
    import dataclasses
    import importlib
    import inspect
    module, name = engine.rsplit(".", 1)
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    settings = {p for p in parameters if p not in call_args}
    fields = {f.name for f in dataclasses.fields(learner)} - call_args
    assert settings - {"lams"} == fields - {"lams"}, settings ^ fields
    assert all(parameters[p].default is inspect.Parameter.empty for p in settings)


def test_the_one_call_functions_take_the_dataclass_defaults_and_name_a_wrong_setting():
    from fm_core.masks import learn_dataset_mask, learn_image_masks
    model, (x, y) = _model(), _data(4)
    with pytest.raises(UserError, match="DatasetMask has no setting"):
        learn_dataset_mask(model, x, y, epoch=3)
    with pytest.raises(UserError, match="ImageMasks has no setting"):
        learn_image_masks(model, x, steps=3)
    result = learn_dataset_mask(model, x, y, max_steps=2, progress=False)
    defaults = DatasetMask()
    assert result.settings["keep_ratio"] == defaults.keep_ratio and result.settings["invariance"] == defaults.invariance
