"""What the paper's augmentations do to each cue: fraction of each class's cue-bin energy
(|FFT|^2 at the true class's bins minus the mean at other classes' bins) kept after the
transform, and which class's bins hold the most energy afterwards (nearest-cue accuracy)."""
import os; os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np, torch
from torchvision.transforms import v2
import cueworld as cw
torch.set_num_threads(1); torch.manual_seed(0)
T = {"none": None,
     "translate": v2.RandomAffine(degrees=0, translate=(0.4, 0.4)),
     "rotate": v2.RandomRotation(degrees=180),
     "scale": v2.RandomAffine(degrees=0, scale=(0.5, 1.5))}
p = cw.probe_sets(400, 32, 77)
t = cw.truth(32)
for cue, name, lab in (("low", "l_only", 1), ("high", "h_only", 2)):
    x, y = torch.from_numpy(p[name][0].astype(np.float32) / 255)[:, None], p[name][lab]
    for tn, tf in T.items():
        xa = x if tf is None else torch.stack([tf(i) for i in x])
        a = xa[:, 0].numpy(); a = a - a.mean((1, 2), keepdims=True)
        P = np.abs(np.fft.fft2(a)) ** 2
        e = np.stack([P[:, t[cue][c]].mean(1) for c in range(5)], 1)  # (n, 5)
        own = e[np.arange(len(y)), y]
        acc = (e.argmax(1) == y).mean()
        print(f"{cue:4s} {tn:9s} own-bin power {own.mean():8.1f}  nearest-cue acc {acc:.2f}")

# translation with mean-grey fill and circular shift
T2 = {"translate_fill0.5": v2.RandomAffine(degrees=0, translate=(0.4, 0.4), fill=0.5),
      "circular_shift": lambda im: torch.roll(im, (int(torch.randint(-13, 14, ())), int(torch.randint(-13, 14, ()))), (1, 2)),
      "rotate90": lambda im: torch.rot90(im, int(torch.randint(1, 4, ())), (1, 2)),
      "rotate_le9deg": v2.RandomRotation(degrees=9, fill=0.5)}
for cue, name, lab in (("low", "l_only", 1), ("high", "h_only", 2)):
    x, y = torch.from_numpy(p[name][0].astype(np.float32) / 255)[:, None], p[name][lab]
    for tn, tf in T2.items():
        xa = torch.stack([tf(i) for i in x])
        a = xa[:, 0].numpy(); a = a - a.mean((1, 2), keepdims=True)
        P = np.abs(np.fft.fft2(a)) ** 2
        e = np.stack([P[:, t[cue][c]].mean(1) for c in range(5)], 1)
        print(f"{cue:4s} {tn:18s} own-bin power {e[np.arange(len(y)), y].mean():8.1f}  nearest-cue acc {(e.argmax(1) == y).mean():.2f}")
