"""Hostile inputs (issue #12): whatever a data file, folder, model file or argument holds,
`python -m fm_core` either works or says what is wrong in one line with exit code 2:
never a traceback, never a half-written file under the output folder or data/."""
from __future__ import annotations

import contextlib
import errno
import io
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fm_core import store, utils
from fm_core.cli import main
from fm_core.nets.models import build_model, save_model


def _run(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _refused(argv) -> str:
    code, _, err = _run(argv)
    assert code == 2, (argv, code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _no_debris(*folders) -> None:
    for folder in folders:
        left = [p for p in Path(folder).rglob("*") if p.name.endswith(".tmp") or ".partial." in p.name]
        assert not left, left


# ------------------------------------------------------------- property: any .npz contents
_DTYPES = ["uint8", "float32", "float64", "float16", "int16", "int64", "bool", "complex64", "object", "U3"]
_SHAPES = st.one_of(st.just(()), st.tuples(st.integers(0, 12)),
                    st.tuples(st.integers(0, 6), st.integers(0, 12), st.integers(0, 12)),
                    st.tuples(st.integers(0, 4), st.sampled_from([1, 3]), st.integers(7, 9), st.integers(7, 9)),
                    st.tuples(st.integers(1, 4), st.just(8), st.just(8)),
                    st.tuples(st.integers(1, 4), st.just(8), st.just(8), st.sampled_from([1, 3])))
_VALUES = st.sampled_from(["unit", "nan", "inf", "big", "negative", "labels", "onelabel", "floatlabels"])


def _array(dtype: str, shape: tuple, values: str, rng) -> np.ndarray:
    n = int(np.prod(shape)) if shape else 1
    base = {"unit": rng.random(n), "nan": np.full(n, np.nan), "inf": np.full(n, np.inf),
            "big": rng.random(n) * 1e12, "negative": -rng.random(n) * 5, "labels": rng.integers(0, 3, n),
            "onelabel": np.zeros(n), "floatlabels": rng.integers(0, 3, n) + 0.5}[values]
    if dtype == "object":
        return np.array([object()] * n, dtype=object).reshape(shape)
    with np.errstate(all="ignore"):
        return np.asarray(base).astype(dtype).reshape(shape)


@st.composite
def _npz_contents(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arrays = {}
    for key in ("x_train", "y_train", "x_val", "y_val"):
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing array
        arrays[key] = _array(draw(st.sampled_from(_DTYPES)), draw(_SHAPES), draw(_VALUES), rng)
    if draw(st.booleans()):
        arrays["class_names"] = _array(draw(st.sampled_from(_DTYPES)), draw(_SHAPES), "labels", rng)
    return arrays, draw(st.sampled_from(["plain", "huge_header", "truncated"]))


def _declare_huge(path: Path) -> None:
    """Rewrite the first array's .npy header to declare 10^12 images: nothing must be allocated."""
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    name = next(iter(members))
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 32, 32), np.float32))
    header["shape"] = (10**12, 32, 32)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    members[name] = buf.getvalue() + members[name][-4096:]
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(_npz_contents())
def test_any_npz_either_loads_or_is_refused_in_one_line(contents):
    arrays, how = contents
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        np.savez(path, **arrays)
        if how == "huge_header" and arrays:
            _declare_huge(path)
        elif how == "truncated":
            path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])
        code, _, err = _run(["data", "--data", path])
        assert code in (0, 2), err
        assert "Traceback" not in err
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), err
        else:
            assert err == "", err


# ------------------------------------------------------------------ hand-made hostile files
def _npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.random((20, 32, 32), dtype=np.float32), y_train=np.arange(20) % 2,
                  x_val=rng.random((6, 32, 32), dtype=np.float32), y_val=np.arange(6) % 2)
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def _png_folder(root: Path, mode="L", sizes=((40, 32),), per_class=3) -> Path:
    for split in ("train", "val"):
        for c in ("a", "b"):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(per_class):
                w, h = sizes[i % len(sizes)]
                if mode == "I;16":
                    img = Image.fromarray(np.full((h, w), 40000, np.uint16))
                else:
                    img = Image.fromarray(np.full((h, w), 30 * i, np.uint8))
                img.save(d / f"{i}.png")
    return root


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/fm_pwned",))


def _cases(tmp: Path):
    """(name, argv, expected fragment of the message) for every hand-made case."""
    model = tmp / "model.pt"
    save_model(build_model("vgg11_bn", 2, 32, 0.5, 0.2, width=0.125, pooled_head=True), model)
    good = _npz(tmp / "good.npz")
    rng = np.random.default_rng(1)
    text = tmp / "text.npz"
    text.write_text("x_train,y_train\n1,2\n")
    pickled = tmp / "pickle.pt"
    pickled.write_bytes(pickle.dumps(_Evil()))
    truncated = tmp / "truncated.pt"
    truncated.write_bytes(model.read_bytes()[:5000])
    empty = tmp / "empty"
    empty.mkdir()
    loop = _png_folder(tmp / "loop")
    os.symlink(loop / "train", loop / "train" / "a" / "again")
    data = lambda name, **kw: _npz(tmp / f"{name}.npz", **kw)
    out = tmp / "out"
    out.mkdir()
    huge = _npz(tmp / "huge.npz")
    _declare_huge(huge)
    return [
        ("huge declared size", ["data", "--data", huge], "declares shape"),
        ("object arrays (pickle)", ["data", "--data", data("obj", y_train=np.array([object()] * 20))], "pickle"),
        ("NaN pixels", ["data", "--data", data("nan", x_val=np.full((6, 32, 32), np.nan, np.float32))], "NaN"),
        ("labels out of range", ["data", "--data", data("range", y_val=np.array([0, 1, 2, 7, 0, 1]))], "out of range"),
        ("negative labels", ["data", "--data", data("neg", y_train=np.arange(20) % 2 - 1)], "negative"),
        ("float labels", ["data", "--data", data("flt", y_train=(np.arange(20) % 2) + 0.5)], "integer labels"),
        ("huge label", ["data", "--data", data("hugelabel", y_train=np.r_[np.zeros(19, int), 10**12])], "out of range"),
        ("one class", ["data", "--data", data("one", y_train=np.zeros(20, int))], "at least two"),
        ("3-channel images", ["data", "--data", data("rgb", x_train=rng.random((20, 32, 32, 3)))], "colour"),
        ("non-square npz images", ["data", "--data", data("rect", x_train=rng.random((20, 32, 40)))], "square"),
        ("tiny images", ["data", "--data", data("tiny", x_train=rng.random((20, 2, 2)))], "sizes from"),
        ("mismatched lengths", ["data", "--data", data("len", y_train=np.arange(19) % 2)], "one integer label"),
        ("complex pixels", ["data", "--data", data("cplx", x_train=rng.random((20, 32, 32)) + 0j)], "complex"),
        ("missing array", ["data", "--data", data("missing", y_val=None)], "missing"),
        (".npz that is a text file", ["data", "--data", text], "not an .npz"),
        ("16-bit PNGs", ["data", "--data", _png_folder(tmp / "png16", mode="I;16")], "16"),
        ("empty folder", ["data", "--data", empty], "train/"),
        ("symlink loop", ["data", "--data", loop], "loop"),
        ("model: pickle with code", ["mask", "--model", pickled, "--data", good, "--out", out / "m.npz"],
         "not a plain tensor file"),
        ("model: truncated", ["mask", "--model", truncated, "--data", good, "--out", out / "m.npz"], "refusing"),
        ("model: not found", ["mask", "--model", tmp / "none.pt", "--data", good, "--out", out / "m.npz"],
         "not found"),
        ("--epochs 0", ["train", "--data", good, "--epochs", "0", "--out", out / "t.pt"], "positive"),
        ("--epochs -3", ["train", "--data", good, "--epochs", "-3", "--out", out / "t.pt"], "positive"),
        ("--epochs 10^12", ["train", "--data", good, "--epochs", str(10**12), "--out", out / "t.pt"], "<="),
        ("--width nan", ["train", "--data", good, "--width", "nan", "--out", out / "t.pt"], "finite"),
        ("--width inf", ["train", "--data", good, "--width", "inf", "--out", out / "t.pt"], "finite"),
        ("--width 1e9", ["train", "--data", good, "--width", "1e9", "--out", out / "t.pt"], "<="),
        ("--size 10^9", ["train", "--data", good, "--size", str(10**9), "--out", out / "t.pt"], "<="),
        ("--seed -1", ["train", "--data", good, "--seed", "-1", "--out", out / "t.pt"], ">= 0"),
        ("--seed 10^30", ["train", "--data", good, "--seed", str(10**30), "--out", out / "t.pt"], "<="),
        ("--batch-size x", ["train", "--data", good, "--batch-size", "x", "--out", out / "t.pt"], "integer"),
        ("--limit 0", ["image-masks", "--model", model, "--data", good, "--limit", "0", "--out", out / "i.npz"],
         "positive"),
        ("--lr -1e-3", ["mask", "--model", model, "--data", good, "--lr=-1e-3", "--out", out / "m.npz"],
         "positive"),
        ("--class 99", ["mask", "--model", model, "--data", good, "--class", "99", "--out", out / "m.npz"],
         "--class"),
        ("output folder missing", ["mask", "--model", model, "--data", good, "--out", tmp / "no" / "m.npz"],
         "does not exist"),
    ]


def test_hostile_files_and_arguments_get_one_line_and_exit_2(tmp_path, capsys):
    report = []
    for name, argv, fragment in _cases(tmp_path):
        line = _refused(argv)
        assert fragment in line, (name, line)
        report.append(f"{name}: {line}")
    _no_debris(tmp_path, os.environ["FM_DATA_DIR"])
    assert not Path("/tmp/fm_pwned").exists()
    with capsys.disabled():  # the table, for the record (pytest -s shows it)
        if os.environ.get("FM_SHOW_HOSTILE"):
            print("\n" + "\n".join(report))


def test_non_square_images_in_a_folder_are_centre_cropped(tmp_path):
    code, out, err = _run(["data", "--data", _png_folder(tmp_path / "rect", sizes=((40, 32), (32, 48)))])
    assert code == 0 and err == "" and "2 classes" in out


def test_a_damaged_model_file_is_refused(tmp_path):
    model = tmp_path / "m.pt"
    save_model(build_model("vgg11_bn", 2, 32, 0.5, 0.2, width=0.125, pooled_head=True), model)
    good = _npz(tmp_path / "good.npz")
    payload = torch.load(model, weights_only=True)
    payload["state_dict"]["classifier.bias"] += 1.0  # a changed weight, a valid file
    torch.save(payload, tmp_path / "edited.pt")
    payload["meta_json"] = payload["meta_json"].replace('"width": 0.125', '"width": 1000000.0')
    torch.save(payload, tmp_path / "wide.pt")
    for name, fragment in (("edited.pt", "checksum"), ("wide.pt", "implausible")):
        line = _refused(["mask", "--model", tmp_path / name, "--data", good, "--out", tmp_path / "m.npz"])
        assert fragment in line
    _no_debris(tmp_path)


# ------------------------------------------------------------------ read-only or full runs/
def test_a_full_disk_is_one_line(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(utils.tempfile, "mkstemp", full)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    path = store.runs_dir("smoke") / "masks" / "a.npz"
    with pytest.raises(utils.WriteError, match="full disk") as info:
        store.fetch(path, lambda: {"v": np.ones(2)}, lambda a, p: utils.save_npz_atomic(p, **a),
                    lambda p: dict(np.load(p)))
    assert "\n" not in str(info.value)
    line = _refused(["train", "--data", _npz(tmp_path / "d.npz"), "--epochs", "1", "--width", "0.125",
                     "--profile", "smoke", "--out", tmp_path / "m.pt"])
    assert "full disk" in line
    _no_debris(tmp_path)


def test_a_full_disk_while_writing_leaves_no_temporary_file(tmp_path, monkeypatch):
    real_open = open

    def failing_write(obj, path):
        with utils.atomic_path(path) as tmp:
            with real_open(tmp, "wb") as fh:
                fh.write(b"half")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(utils.WriteError, match="full disk"):
        store.fetch(tmp_path / "a.npz", lambda: 1, failing_write, lambda p: 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz.lock"]


def test_a_read_only_store_is_one_line(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("FM_RUNS_DIR", str(runs))
    if os.geteuid() == 0:  # root writes through chmod: simulate the file system instead
        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        monkeypatch.setattr(utils.tempfile, "mkstemp", read_only)
        monkeypatch.setattr(store.Path, "mkdir", read_only)
    else:
        runs.chmod(0o555)
    try:
        with pytest.raises(utils.WriteError, match="read-only") as info:
            store.fetch(store.runs_dir("smoke") / "masks" / "a.npz", lambda: {"v": np.ones(2)},
                        lambda a, p: utils.save_npz_atomic(p, **a), lambda p: dict(np.load(p)))
        assert "\n" not in str(info.value)
    finally:
        runs.chmod(0o755)
