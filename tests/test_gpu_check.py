"""scripts/gpu_check.sh (fm_core.cli.gpu_check) runs end to end with toy sizes on a CPU, so the
GPU check cannot rot; and --device fails in one line where the device is missing."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fm_core.cli import gpu_check
from fm_core.cli import main
from fm_core.errors import UserError
from fm_core.utils import resolve_device

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # the script trains and learns masks in processes
def test_gpu_check_script_tiny_writes_rates_and_a_projection(tmp_path):
    out = tmp_path / "gpu_check.json"
    run = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--tiny", "--device", "cpu", "--out", str(out)],
                         capture_output=True, text=True, timeout=120, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "whole paper profile" in run.stdout
    r = json.loads(out.read_text())
    assert r["tiny"] is True and r["device"] == "cpu" and r["network"]["channels"] == 1
    for precision in ("fp32", "bf16"):
        rates = r["mask_step"][precision]
        assert list(rates) == ["1", "2", "4"]
        for rate in rates.values():
            assert rate["image_steps_per_s"] > 0
            assert rate["image_steps_per_s"] == pytest.approx(int(next(k for k, v in rates.items() if v is rate))
                                                              / rate["seconds_per_step"])
    assert set(r["training"]["epoch_seconds"]) == set(gpu_check.TIMED_REGIMES)
    p = r["projection"]
    assert p["hours"]["low"] <= p["hours"]["assumed"] <= p["hours"]["high"]
    assert "how" in p and "epochs" in p["how"]
    inputs, secs = p["inputs"], p["seconds"]
    # the projection is the stated formula of the measured numbers
    expected_masks = (inputs["steps_per_image_mask"]["high"] * inputs["selected_images_per_set"] * 3
                      / inputs["image_steps_per_s_at_pool"])
    assert secs["image_masks"]["high"] == pytest.approx(expected_masks)
    epochs = r["training"]["epoch_seconds"]
    assert secs["training"] == pytest.approx(inputs["epochs"] * (epochs["vanilla"] + epochs["adversarial"]
                                                                 + 3 * epochs["rotate"]))
    total = secs["training"] + secs["dataset_and_class_masks"] + secs["image_masks"]["assumed"]
    assert p["hours"]["assumed"] == pytest.approx(total / 3600)


def test_image_mask_sets_are_the_pipelines():
    from fm_core.store.pipeline import IMAGE_MASK_SETS

    assert tuple(IMAGE_MASK_SETS) == gpu_check.IMAGE_MASK_SETS


def test_resolve_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") == resolve_device("CPU")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(UserError, match="no CUDA device"):
            resolve_device(name)
    with pytest.raises(UserError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.parametrize("command", [["train", "--out", "{tmp}/n.pt"], ["mask", "--model", "m.pt", "--out", "{tmp}/m.npz"],
                                     ["image-masks", "--model", "m.pt", "--out", "{tmp}/i.npz"],
                                     ["bench", "--out", "{tmp}/b.json"]])
def test_device_cuda_without_cuda_is_one_line_exit_2(command, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in command] + ["--device", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no CUDA device" in err
