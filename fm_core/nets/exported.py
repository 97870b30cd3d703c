"""A network exported by its owner with ``torch.export`` (a ``.pt2`` file), for the
command line: it needs none of the owner's code, and it is loaded without unpickling.

A ``.pt2`` holds the graph as JSON and the weights as raw bytes, but ``torch.export.load``
falls back to an unpickling load with ``weights_only=False`` (code on loading) for entries the file
marks as pickled, for custom objects, and for sample inputs that a safe load refuses.
:func:`load_exported` therefore opens the archive first and refuses any such entry,
with one line, before torch reads it. Three lines make such a file (README)::

    net.eval()
    program = torch.export.export(net, (torch.rand(2, 3, 224, 224),), dynamic_shapes=({0: torch.export.Dim("n")},))
    torch.export.save(program, "net.pt2")
"""
from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from fm_core.errors import UserError

EXPORTED_SUFFIX = ".pt2"


class ExportedNetwork(nn.Module):
    """An exported program as a network; ``channels`` and ``size`` are those of the input
    it was exported for (None where the export left them free). Its graph runs as it was
    traced (the mode it was exported in), so ``train()`` and ``eval()`` only set the flag:
    torch refuses them on an exported graph."""

    def __init__(self, program):
        super().__init__()
        self.graph_module = program.module()
        shape = _input_shape(program)
        self.channels, self.size = shape[1], (shape[2] if shape[2] == shape[3] else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph_module(x)

    def train(self, mode: bool = True) -> "ExportedNetwork":
        self.training = mode
        return self


def _input_shape(program) -> tuple:
    """(N, C, H, W) of the program's one image input, each None where it is symbolic."""
    inputs = program.graph_signature.user_inputs
    if len(inputs) != 1:
        raise UserError(f"the exported network takes {len(inputs)} inputs; it must take one batch of images")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == inputs[0])
    shape = tuple(node.meta["val"].shape)
    if len(shape) != 4:
        raise UserError(f"the exported network takes inputs of shape {shape}; it must take images (N, C, H, W)")
    return tuple(d if isinstance(d, int) else None for d in shape)


def _refuse_pickles(path: Path) -> None:
    """One line if the archive holds anything ``torch.export.load`` would unpickle."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"refusing {path}: not a torch.export archive ({exc})") from None
    with archive:
        for name in archive.namelist():
            folder, _, file = name.rpartition("/")
            if name.endswith("_config.json") and folder.endswith(("/weights", "/constants")):
                entries = json.loads(archive.read(name)).get("config", {})
                if any(e.get("use_pickle") or not e.get("path_name", "").startswith(("weight_", "tensor_"))
                       for e in entries.values()):
                    raise UserError(f"refusing {path}: it holds pickled weights or objects ({file}), "
                                    "which are never loaded; export plain tensors")
            elif file.endswith(".pt"):  # sample inputs, or weights in the legacy pickled form
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        torch.load(io.BytesIO(archive.read(name)), map_location="cpu", weights_only=True)
                except Exception:  # torch would retry this entry with weights_only=False
                    raise UserError(f"refusing {path}: {name} holds pickled objects, which are never loaded") from None


def load_exported(path, device="cpu") -> ExportedNetwork:
    """A ``.pt2`` written by ``torch.export.save``, checked (:func:`_refuse_pickles`),
    loaded and put on ``device``; any problem is one :class:`UserError` line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    _refuse_pickles(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(path)
        if torch.device(device).type != "cpu":
            from torch.export.passes import move_to_device_pass
            program = move_to_device_pass(program, torch.device(device))
    except Exception as exc:  # a damaged archive, a graph of ops this torch lacks
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"refusing {path}: not a loadable torch.export archive ({first[:160]})") from None
    in_training = sorted(_ops_in_training_mode(program))
    if in_training:  # batch statistics of the masked images, random dropout: no mask means anything then
        raise UserError(f"refusing {path}: it was exported in training mode ({', '.join(in_training)}); "
                        "call net.eval() before torch.export.export")
    return ExportedNetwork(program)


def _ops_in_training_mode(program) -> set[str]:
    """The graph's ops that run as in training (batch norm, dropout: any op whose
    ``training`` or ``train`` argument is True); the traced graph keeps the mode it was
    exported in, and torch refuses ``eval()`` on it."""
    found = set()
    for node in program.graph.nodes:
        schema = getattr(node.target, "_schema", None) if node.op == "call_function" else None
        for i, arg in enumerate(schema.arguments if schema else ()):
            if arg.name in ("training", "train"):
                value = node.args[i] if i < len(node.args) else node.kwargs.get(arg.name, arg.default_value)
                if value is True:
                    found.add(schema.name.removeprefix("aten::"))
    return found
