"""Linear probes (LogisticRegression on |FFT| half-plane features) on l_only / h_only."""
import sys, time, json, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
import cueworld as cw

def feats(x):
    f = np.abs(np.fft.fft2(x.astype(np.float64) / 255.0))
    s = x.shape[-1]
    return f[:, :, : s // 2 + 1].reshape(len(x), -1)

def run(size=32, n_tr=2000, n_te=1000, **kw):
    tr = cw.probe_sets(n_tr, size, 101, **kw)
    te = cw.probe_sets(n_te, size, 202, **kw)
    res = {}
    for name, lab in (("l_only", 1), ("h_only", 2)):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
        clf.fit(feats(tr[name][0]), tr[name][lab])
        res[name] = float((clf.predict(feats(te[name][0])) == te[name][lab]).mean())
        # pixel probe
        clf2 = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=500))
        xtr = tr[name][0].reshape(n_tr, -1) / 255.0; xte = te[name][0].reshape(n_te, -1) / 255.0
        clf2.fit(xtr, tr[name][lab]); res[name + "_pix"] = float((clf2.predict(xte) == te[name][lab]).mean())
    return res

if __name__ == "__main__":
    kw = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    t = time.time(); r = run(**kw); print(kw, r, f"{time.time()-t:.1f}s")


def curve(size=32, ns=(15, 25, 50, 100, 2000), **kw):
    """Probe accuracy vs number of probe-training images (off the ceiling)."""
    te = cw.probe_sets(1000, size, 202, **kw)
    tr_all = cw.probe_sets(max(ns), size, 101, **kw)
    out = {}
    for n in ns:
        for name, lab in (("l_only", 1), ("h_only", 2)):
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
            clf.fit(feats(tr_all[name][0][:n]), tr_all[name][lab][:n])
            out[f"{name}@{n}"] = float((clf.predict(feats(te[name][0])) == te[name][lab]).mean())
    return out
