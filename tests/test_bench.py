"""fm bench: every case runs and its ratios are the quotients of the times measured in the
same run (never a speed threshold); the speed options keep masks within their stated
tolerances; and the single-image learner's host syncs are few and change no result. The
sharded case (2 torchrun ranks vs one process) runs with tiny sizes."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from fm_core.cli import bench
from fm_core.nets import distributed
from fm_core.masks import image_masks
from fm_core.cli import main
from fm_core.errors import UserError
from fm_core.masks.objective import BF16_MASK_TOLERANCE, CHANNELS_LAST_MASK_TOLERANCE
from fm_core.masks.result import MaskResult
from fm_core.masks import ImageMasks, learn_image_masks
from fm_core.nets.models import MaskedClassifier
from fm_core.profiles import get_profile

SIZE = 12


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def tiny_model(seed: int = 0) -> MaskedClassifier:
    torch.manual_seed(seed)
    core = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 3))
    return MaskedClassifier(core, 0.5, 0.25, {"size": SIZE, "num_classes": 3}).eval()


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def test_every_case_runs_and_ratios_are_the_measured_quotients(tmp_path):
    out = tmp_path / "bench.json"
    in_process = [name for name in bench.CASES if name not in ("sharded", "side_by_side", "malloc")]  # own tests below
    result = bench.run_bench(tiny_model(), images(4), steps=2, batch_size=4, out=out, cases=in_process)
    saved = json.loads(out.read_text())
    assert set(saved["cases"]) == set(in_process) >= {"batched", "mask_step", "precision", "channels_last",
                                                      "training_step"}
    assert {"sharded", "side_by_side", "malloc"} <= set(bench.CASES)  # registered from bench_processes
    cases = result["cases"]
    s = cases["batched"]["seconds"]
    assert result["ratios"]["one_at_a_time/batched"] == pytest.approx(s["one_at_a_time"] / s["batched"])
    assert result["ratios"]["batched/floor"] == pytest.approx(s["batched"] / s["floor"])
    s = cases["precision"]["seconds"]
    assert result["ratios"]["mask_step fp32/bf16"] == pytest.approx(s["fp32"] / s["bf16"])
    s = cases["channels_last"]["seconds"]
    assert result["ratios"]["mask_step contiguous/channels_last"] == pytest.approx(s["contiguous"] / s["channels_last"])
    s = cases["training_step"]["seconds"]
    assert result["ratios"]["training_step contiguous/channels_last"] == pytest.approx(s["fp32"] / s["fp32_channels_last"])
    assert result["ratios"]["training_step fp32/bf16 (channels_last)"] == pytest.approx(
        s["fp32_channels_last"] / s["bf16_channels_last"])
    per_batch = cases["mask_step"]["per_batch_size"]
    assert list(per_batch) == ["1", "2", "4"]
    assert result["ratios"]["mask_step image rate: batch 4/batch 1"] == pytest.approx(
        per_batch["4"]["image_steps_per_s"] / per_batch["1"]["image_steps_per_s"])
    for case in ("precision", "channels_last"):
        assert set(cases[case]["agreement"]) >= {"mean_abs_mask_difference", "tolerance", "within_tolerance"}
    assert saved["ratios"] == pytest.approx(result["ratios"])


def test_a_registered_case_joins_the_json(monkeypatch):
    monkeypatch.setattr(bench, "CASES", dict(bench.CASES))

    @bench.register_case("sharded")
    def sharded(setup):
        return {"seconds": {"one": 2.0, "two": 1.0}, "ratios": {"sharded one/two": 2.0}}

    result = bench.run_bench(tiny_model(), images(2), steps=1, batch_size=2, cases=["sharded"])
    assert result["ratios"] == {"sharded one/two": 2.0}
    with pytest.raises(Exception, match="unknown bench case"):
        bench.run_bench(tiny_model(), images(2), steps=1, batch_size=2, cases=["nope"])


def test_speed_options_stay_within_their_tolerances():
    model, x = tiny_model(), images(6, seed=1)
    kw = dict(max_steps=60, patience=0, batch_size=6, progress=False)
    fp32 = learn_image_masks(model, x, **kw)
    bf16 = learn_image_masks(model, x, precision="bf16", **kw)
    last = learn_image_masks(bench.copy.deepcopy(model), x, channels_last=True, **kw)
    assert fp32.masks.mean() < 0.99  # the masks moved
    assert np.abs(bf16.masks - fp32.masks).mean() <= BF16_MASK_TOLERANCE
    assert np.abs(last.masks - fp32.masks).mean() <= CHANNELS_LAST_MASK_TOLERANCE
    assert bf16.settings["precision"] == "bf16" and "precision" not in fp32.settings


def test_host_syncs_are_few_and_change_nothing(monkeypatch):
    """The learner reads the pool on the host only when a row can have finished; forcing a
    read after every step (the old behaviour) gives bit-identical results."""
    model, x = tiny_model().double(), images(7, seed=2).double()
    kw = dict(lam=0.01, lr=0.05, max_steps=120, patience=8, inv_tol=1e-4, sparsity_tol=1e-4, batch_size=3,
              progress=False)
    calls = []
    real_collect = image_masks._ImageMaskRun.collect_finished

    def counting_collect(self):
        calls.append(self.iteration)
        return real_collect(self)

    monkeypatch.setattr(image_masks._ImageMaskRun, "collect_finished", counting_collect)
    deferred = learn_image_masks(model, x, **kw)
    iterations, syncs = calls[-1], len(calls)
    calls.clear()
    real_bound = image_masks._ImageMaskRun.steps_until_a_row_can_finish
    monkeypatch.setattr(image_masks._ImageMaskRun, "steps_until_a_row_can_finish", lambda self, *a: 1)
    every_step = learn_image_masks(model, x, **kw)
    assert len(calls) == calls[-1] + 1 == iterations + 1  # a read after every step
    assert syncs < iterations / 2, (syncs, iterations)
    assert len(set(deferred.steps.tolist())) >= 3  # images stopped at different steps
    for key in ("masks", "steps", "final_predictions", "kept"):
        np.testing.assert_array_equal(getattr(deferred, key), getattr(every_step, key))

    monkeypatch.setattr(image_masks._ImageMaskRun, "steps_until_a_row_can_finish", real_bound)
    calls.clear()  # patience 0: read when the pool is filled and when it has finished
    learn_image_masks(model, x[:3], max_steps=40, patience=0, batch_size=3, progress=False)
    assert len(calls) == 2


def test_cli_bench_writes_the_chosen_cases(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "--profile", "smoke", "--batch-size", "2", "--steps", "1", "--cases",
                 "batched,mask_step", "--device", "cpu", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert set(saved["cases"]) == {"batched", "mask_step"}
    assert "one_at_a_time/batched" in capsys.readouterr().out


@pytest.mark.slow  # three processes: one, then two torchrun ranks
def test_sharded_case_times_two_ranks_against_one_process(tmp_path):
    """Two `fm image-masks` commands (one process; torchrun, 2 ranks) on 4 tiny images:
    seconds of both, their quotient, and merged masks equal to the one-process ones."""
    model = bench.make_bench_model("smoke")
    result = bench.run_bench(model, bench.make_bench_images(model.size, n=4), steps=2, batch_size=4,
                             cases=["sharded"], out=tmp_path / "b.json")
    case = json.loads((tmp_path / "b.json").read_text())["cases"]["sharded"]
    s = case["seconds"]
    assert set(s) == {"one_process", "sharded_2_ranks"} and min(s.values()) > 0
    assert result["ratios"] == {"sharded: one process/2 ranks": pytest.approx(s["one_process"] / s["sharded_2_ranks"])}
    assert case["max_abs_diff"] <= 1e-6 and case["same_steps"]
    assert case["ranks"] == 2 and case["threads"]["per_rank"] == max(1, case["cores"] // 2)
    assert "parallel efficiency" in case["note"]
    with pytest.raises(UserError, match="build_model"):  # it saves the model: needs a rebuildable one
        bench.run_bench(tiny_model(), images(2), steps=1, batch_size=2, cases=["sharded"])


@pytest.mark.slow  # an `fm mask` process
def test_side_by_side_case_times_two_commands_both_ways(tmp_path, monkeypatch):
    """Two commands one after the other (all cores) and side by side (half the cores
    each): both seconds and their quotient, as the book's ``jobs`` choice rests on. The
    case's own two `fm mask` commands are checked by running one of them once; the timed
    ones here only start Python (four `fm mask` processes cost the test loop 20 s of CPU
    and test nothing more)."""
    from fm_core.cli import bench_processes
    real_commands, ran = bench_processes._two_mask_commands, []

    def one_real_then_cheap(s, folder):
        commands = real_commands(s, folder)
        proc = subprocess.run(commands[0], env=bench_processes._command_env(1), capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        ran.append(MaskResult.load(folder / "m0.npz").masks.shape)  # its --out, a mask of the bench images
        return [[sys.executable, "-c", "pass"]] * 2

    monkeypatch.setattr(bench_processes, "_two_mask_commands", one_real_then_cheap)
    model = bench.make_bench_model("smoke")
    result = bench.run_bench(model, bench.make_bench_images(model.size, n=4), steps=2, batch_size=4,
                             cases=["side_by_side"], out=tmp_path / "b.json")
    case = json.loads((tmp_path / "b.json").read_text())["cases"]["side_by_side"]
    s = case["seconds"]
    assert set(s) == {"one_after_the_other", "side_by_side"} and min(s.values()) > 0
    assert result["ratios"] == {"two commands: one after the other/side by side":
                                pytest.approx(s["one_after_the_other"] / s["side_by_side"])}
    assert case["threads"]["side_by_side"] == max(1, case["cores"] // 2)
    assert ran == [(1, model.size, model.size)]
    with pytest.raises(UserError, match="build_model"):
        bench.run_bench(tiny_model(), images(2), steps=1, batch_size=2, cases=["side_by_side"])


def test_malloc_case_times_the_same_commands_with_and_without_the_books_tunables(tmp_path, monkeypatch):
    """Runs each way (glibc's default malloc, the book's GLIBC_TUNABLES); the faster of
    each and their quotient. One round here, two by default; the two commands only write
    down the GLIBC_TUNABLES they were given (the `fm mask` commands themselves run in the
    side-by-side case's test, above)."""
    from fm_core.book.execute import MALLOC_TUNABLES
    from fm_core.cli import bench_processes
    assert bench_processes.MALLOC_ROUNDS == 2
    monkeypatch.setattr(bench_processes, "MALLOC_ROUNDS", 1)
    seen = tmp_path / "tunables.txt"
    write = f"import os; open({str(seen)!r}, 'a').write(os.environ.get('GLIBC_TUNABLES', 'default') + '\\n')"
    monkeypatch.setattr(bench_processes, "_two_mask_commands",
                        lambda s, folder: [[sys.executable, "-c", write]] * 2)
    model = bench.make_bench_model("smoke")
    result = bench.run_bench(model, bench.make_bench_images(model.size, n=4), steps=2, batch_size=4,
                             cases=["malloc"], out=tmp_path / "b.json")
    case = json.loads((tmp_path / "b.json").read_text())["cases"]["malloc"]
    s, every = case["seconds"], case["all_seconds"]
    assert set(s) == set(every) == {"glibc_default", "book_tunables"} and min(s.values()) > 0
    assert all(len(v) == 1 and s[k] == min(v) for k, v in every.items())
    assert result["ratios"] == {"malloc: glibc default/book tunables":
                                pytest.approx(s["glibc_default"] / s["book_tunables"])}
    assert case["tunables"] == MALLOC_TUNABLES
    assert sorted(seen.read_text().split()) == sorted(["default"] * 2 + [MALLOC_TUNABLES] * 2)


def test_each_rank_gets_its_share_of_the_cores(monkeypatch):
    assert distributed.local_world_size({}) == 1
    assert distributed.local_world_size({"LOCAL_WORLD_SIZE": "4"}) == 4
    assert distributed.local_world_size({"SLURM_NTASKS_PER_NODE": "2"}) == 2
    assert distributed.local_world_size({"SLURM_NTASKS_PER_NODE": "2(x3)"}) == 1  # not one number
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert distributed.share_cores() == torch.get_num_threads() == max(1, distributed.available_cores() // 2)


def test_cli_image_masks_speed_options(tmp_path, monkeypatch):
    """`fm image-masks --precision bf16` (and --channels-last) on the tiny model: the options
    reach the learner, and bf16's masks are within BF16_MASK_TOLERANCE of fp32's."""
    cfg = get_profile("quick")
    assert ImageMasks.from_profile(cfg).precision == "fp32" and not ImageMasks.from_profile(cfg).channels_last
    assert ImageMasks.from_profile(cfg, precision="bf16").precision == "bf16"
    from fm_core.nets import models
    monkeypatch.setattr(models, "load_model", lambda path, device="cpu": tiny_model())
    x, y = images(6, seed=1)[:, 0].numpy(), np.arange(6) % 3
    np.savez(tmp_path / "data.npz", x_train=x, y_train=y, x_val=x, y_val=y)
    args = ["image-masks", "--model", "tiny", "--data", str(tmp_path / "data.npz"), "--max-steps", "60",
            "--patience", "0", "--batch-size", "6", "--lam", "0.07", "--lr", "0.2", "--device", "cpu"]
    results = {}
    for name, extra in {"fp32": [], "bf16": ["--precision", "bf16"], "last": ["--channels-last"]}.items():
        assert main(args + extra + ["--out", str(tmp_path / f"{name}.npz")]) == 0
        results[name] = MaskResult.load(tmp_path / f"{name}.npz")
    assert "precision" not in results["fp32"].settings and results["bf16"].settings["precision"] == "bf16"
    assert results["last"].settings["channels_last"]
    assert results["fp32"].masks.mean() < 0.99  # the masks moved
    assert np.abs(results["bf16"].masks - results["fp32"].masks).mean() <= BF16_MASK_TOLERANCE
    assert np.abs(results["last"].masks - results["fp32"].masks).mean() <= CHANNELS_LAST_MASK_TOLERANCE
    assert main(args + ["--precision", "bf16", "--dtype", "float64", "--out", str(tmp_path / "x.npz")]) == 2
    assert main(args + ["--precision", "fp16", "--out", str(tmp_path / "x.npz")]) == 2
