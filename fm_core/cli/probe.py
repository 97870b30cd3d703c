"""The sub-commands that question a trained network: ``cues`` (its behaviour on the cue
world's probes) and ``attribute`` (one peer method's frequency map)."""
from __future__ import annotations

import dataclasses

from fm_core.errors import UserError
from fm_core.profiles import get_profile

from .arguments import _load_for_model, _out_path


def cmd_cues(args) -> None:
    from fm_core.data import synthetic
    from fm_core.science.cue_analysis import behaviour
    from fm_core.nets.models import freeze, load_model
    from fm_core.utils import default_device, save_json_atomic

    out = _out_path(args.out, ".json")
    model = freeze(load_model(args.model, device=default_device()))
    config = model.meta.get("config", {})
    data = args.data or config.get("data", "synthetic")
    if data != "synthetic":
        raise UserError(f"{data}: only the synthetic cue world has cue probes (--data synthetic)")
    defaults = synthetic.CueWorld()
    world = synthetic.CueWorld(h_ratio=config.get("cue_h_ratio", defaults.h_ratio),
                               rho_l=config.get("cue_rho_l", defaults.rho_l),
                               rho_h=config.get("cue_rho_h", defaults.rho_h),
                               h_carrier=config.get("cue_h_carrier", defaults.h_carrier))
    seed = int(config.get("data_seed", 0))
    probes = synthetic.load_probes(model.size, seed, world)
    result = {"model": str(args.model), "world": dataclasses.asdict(world), "probe_seed":
              seed + synthetic.PROBE_SEED_OFFSET, "probe_images": len(probes["conflict"]["y_low"]),
              **behaviour(model, probes)}
    save_json_atomic(out, result)
    for key, value in result.items():
        if key not in ("model", "world"):
            print(f"  {key:<34} {value}")
    print(f"L-bias {result['L-bias']:.3f} -> {out}")


def cmd_attribute(args) -> None:
    from fm_core.methods.peers import get_method
    from fm_core.utils import default_device

    from .learn import load_network

    out = _out_path(args.out, ".npz")
    model, normalization = load_network(args, default_device())
    if args.eps is not None and args.method != "heatmap" or args.top_k is not None and args.method != "ablation":
        raise UserError("--eps belongs to --method heatmap and --top-k to --method ablation")
    settings = {"heatmap": dict(eps=args.eps), "ablation": dict(top_k=args.top_k)}.get(args.method, {})
    if args.method == "mask":  # the profile's dataset-mask settings, as `fm mask` uses them
        from fm_core.masks import DatasetMask
        settings = dataclasses.asdict(DatasetMask.from_profile(get_profile(args.profile)))
    method = get_method(args.method, **settings)  # checks the settings before any data is loaded
    if normalization is not None:
        method.set_normalization_used(*normalization)
    _, x, y = _load_for_model(model, args.data, args.split)
    n = len(y) if args.limit is None else min(args.limit, len(y))
    result = method.attribute(model, x[:n], y[:n])
    result.save(out)
    c = result.cost
    print(f"{args.method} map of {n} images: {c['forward_passes']} forward and {c['backward_passes']} backward "
          f"passes, {c['seconds']:.1f} s -> {out}")
    if "row_converged" in result.settings:  # the mask's lambda path: did every row settle?
        rows = result.settings["row_converged"]
        print(f"lambda path {', '.join(f'{v:g}' for v in result.settings['lams'])}: {sum(rows)} of {len(rows)} "
              f"rows converged, steps {result.settings['row_steps']}")
