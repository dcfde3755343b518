"""Does restoration pretraining give a 3-D CNN encoder whose pooled features show the findings?

docs/CONVIRT.md ("A 3-D CNN at the phantoms' own voxels") reports what this measured. Not part of
CI or the tests. Needs torch and nibabel. A 3-level encoder (batch norm, ReLU; width, 2·width,
4·width channels) and a transposed-convolution decoder restore each synthetic chest CT (own voxels,
HU window [-1000, 400] to [0, 1]) from a copy with five noise-filled boxes (in-painting), L1, Adam
1e-3; after every epoch a logistic-regression probe on the mean- and max-pooled encoder features
(4-fold) gives ROC AUC for the three finding labels.

    python scripts/experiments/restoration_probe.py root=/tmp/cvc epochs=6
"""
import sys, csv, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F, nibabel as nib
torch.set_num_threads(1); torch.manual_seed(0); np.random.seed(0)
args = dict(a.split('=') for a in sys.argv[1:]); root = args.get('root', '/tmp/cvc')
epochs = int(args.get('epochs', 10)); bs = int(args.get('bs', 8)); w = int(args.get('width', 16))
rows = list(csv.DictReader(open(f'{root}/pairs.csv')))
X = torch.tensor(np.stack([np.clip((nib.load(f"{root}/{r['ct']}").get_fdata().astype(np.float32) + 1000) / 1400, 0, 1) for r in rows]))[:, None]
Y = np.array([[int(r['normal']), int(r['ground_glass']), int(r['consolidation'])] for r in rows])
def auc(y, p):
    o = np.argsort(np.argsort(p)) + 1.0; a = y.sum(); b = len(y) - a
    return float((o[y == 1].sum() - a * (a + 1) / 2) / (a * b))
def block(c, o, s): return [nn.Conv3d(c, o, 3, stride=s, padding=1), nn.BatchNorm3d(o), nn.ReLU()]
enc = nn.Sequential(*block(1, w, 2), *block(w, w, 1), *block(w, 2*w, 2), *block(2*w, 2*w, 1), *block(2*w, 4*w, 2), *block(4*w, 4*w, 1))
dec = nn.Sequential(nn.ConvTranspose3d(4*w, 2*w, 2, 2), nn.ReLU(), nn.ConvTranspose3d(2*w, w, 2, 2), nn.ReLU(), nn.ConvTranspose3d(w, w, 2, 2), nn.ReLU(), nn.Conv3d(w, 1, 1))
opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)
def corrupt(x):
    x = x.clone(); g = torch.Generator().manual_seed(int(np.random.randint(1 << 30)))
    for i in range(len(x)):
        for _ in range(5):  # in-painting: random boxes filled with noise
            s = [int(np.random.randint(4, d // 3)) for d in x.shape[2:]]; p = [int(np.random.randint(0, d - k)) for d, k in zip(x.shape[2:], s)]
            x[i, :, p[0]:p[0]+s[0], p[1]:p[1]+s[1], p[2]:p[2]+s[2]] = torch.rand(1, *s, generator=g)
    return x
def probe():
    enc.eval()
    with torch.no_grad(): f = torch.cat([enc(X[i:i+32]) for i in range(0, len(X), 32)])
    enc.train(); f = torch.cat([f.mean((2, 3, 4)), f.amax((2, 3, 4))], 1).numpy()
    f = (f - f.mean(0)) / (f.std(0) + 1e-6); out = []
    for k in range(3):  # 4-fold logistic regression, AUC on the held-out folds
        p = np.zeros(len(f)); idx = np.random.RandomState(1).permutation(len(f)); folds = np.array_split(idx, 4)
        for te in folds:
            tr = np.setdiff1d(idx, te); Wt = torch.zeros(f.shape[1], requires_grad=True); b = torch.zeros(1, requires_grad=True)
            o = torch.optim.Adam([Wt, b], lr=1e-2); ft = torch.tensor(f[tr]); yt = torch.tensor(Y[tr, k], dtype=torch.float32)
            for _ in range(300):
                l = F.binary_cross_entropy_with_logits(ft @ Wt + b, yt) + 1e-3 * (Wt ** 2).sum(); o.zero_grad(); l.backward(); o.step()
            p[te] = (torch.tensor(f[te]) @ Wt + b).detach().numpy()
        out.append(round(auc(Y[:, k], p), 3))
    return out
print('random encoder probe AUC (normal, gg, cons)', probe(), flush=True); t0 = time.time()
for ep in range(epochs):
    perm = np.random.permutation(len(X)); tot = 0
    for b in range(0, len(perm) - bs + 1, bs):
        x = X[perm[b:b+bs]]; l = F.l1_loss(dec(enc(corrupt(x))), x); opt.zero_grad(); l.backward(); opt.step(); tot += l.item()
    print(f'ep {ep+1} L1 {tot / (len(perm) // bs):.4f} probe AUC {probe()} ({time.time() - t0:.0f}s)', flush=True)
