"""The paper's augmentations, drawn independently for every image of a batch.

The transforms are torchvision's (transforms v2). Applied image by image they cost about
a third of a training epoch of the small profiles' networks on CPU, nearly all of it in
building one sampling grid per image. :func:`augment_batch` draws each image's parameters
exactly as the transform does (its own ``make_params``, in the same order from the same
generator), builds every image's grid in one batched product and samples the batch in
one call: the same pixels, bit for bit, as the transform applied image by image
(``tests/test_foundation.py`` holds the two against each other), at about a fifth of
the cost. The grid arithmetic follows torchvision 0.29's ``affine``/``rotate`` kernels
for tensors (nearest interpolation, fill 0, no expansion, rotation about the centre).
"""
from __future__ import annotations

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF
from torchvision.transforms.v2.functional import _geometry

# The paper's augmentations (FACTS.md): scale in [0.5, 1.5], translation up to 0.4 of the
# width/height, rotation by up to 180 degrees.
AUGMENTATIONS = {
    "scale": v2.RandomAffine(degrees=0, scale=(0.5, 1.5)),
    "translate": v2.RandomAffine(degrees=0, translate=(0.4, 0.4)),
    "rotate": v2.RandomRotation(degrees=180),
}
# rotations that torchvision does exactly (a copy or torch.rot90), without a grid
_EXACT_ANGLES = (0.0, 90.0, 180.0, 270.0)


def augment_batch(x: torch.Tensor, regime: str) -> torch.Tensor:
    """Draw the regime's random transform independently for every image of the batch
    (N, C, H, W); regimes without one come back unchanged."""
    transform = AUGMENTATIONS.get(regime)
    if transform is None:
        return x
    h, w = x.shape[-2:]
    mode = _geometry._check_interpolation(transform.interpolation)
    matrices, exact = [], {}
    for i, image in enumerate(x):
        params = transform.make_params([image])
        if isinstance(transform, v2.RandomRotation):
            angle = params["angle"] % 360
            if angle in _EXACT_ANGLES:  # never drawn in practice; done as torchvision does it
                exact[i] = TF.rotate(image, params["angle"], interpolation=transform.interpolation)
                angle = 0.0
            # torchvision's rotate turns by -angle in its affine convention
            matrices.append(_geometry._get_inverse_affine_matrix([0.0, 0.0], -angle, [0.0, 0.0], 1.0, [0.0, 0.0]))
        else:
            angle, translate, shear, _ = _geometry._affine_parse_args(
                params["angle"], params["translate"], params["scale"], params["shear"], mode, None)
            matrices.append(_geometry._get_inverse_affine_matrix(
                [0.0, 0.0], angle, [float(t) for t in translate], params["scale"], shear))
    theta = torch.tensor(matrices, dtype=x.dtype if x.is_floating_point() else torch.float32,
                         device=x.device).reshape(-1, 2, 3)
    out = _geometry._apply_grid_transform(x, _affine_grids(theta, w, h), mode.value, fill=0.0)
    for i, image in exact.items():
        out[i] = image
    return out


def _affine_grids(theta: torch.Tensor, w: int, h: int) -> torch.Tensor:
    """torchvision's sampling grid (its ``_affine_grid``, output size = input size) for
    every row of ``theta`` (N, 2, 3) at once: (N, h, w, 2)."""
    base = torch.empty(1, h, w, 3, dtype=theta.dtype, device=theta.device)
    base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=theta.device))
    base[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=theta.device).unsqueeze_(-1))
    base[..., 2].fill_(1)
    scaled = theta.transpose(1, 2).div(torch.tensor([0.5 * w, 0.5 * h], dtype=theta.dtype, device=theta.device))
    return base.view(1, h * w, 3).expand(len(theta), -1, -1).bmm(scaled).view(-1, h, w, 2)
