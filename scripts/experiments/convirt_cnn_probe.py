"""ConVIRT on ssl3d's synthetic CT pairs in plain PyTorch: can a 3-D CNN from scratch learn the findings?

docs/CONVIRT.md ("A 3-D CNN at the phantoms' own voxels") reports what this measured. Not part of
CI or the tests. Needs torch, transformers and nibabel.

    ssl-data synth --reports --out /tmp/cvc --pairs 384 --json-dir /tmp/cvc-json
    python scripts/experiments/convirt_cnn_probe.py root=/tmp/cvc epochs=12 norm=none pool=mean hbn=1

Image tower: 4 levels of two 3³ convolutions (width, 2·width, 4·width, 8·width channels; stride 2
on the first three levels), `norm` after each (none | bn | in | gn), LeakyReLU, global `pool`
(mean | max), `hbn=1` a BatchNorm1d on the pooled features; the volume at its own voxels, HU window
[-1000, 400] to [0, 1]. Text tower: the corpus's masked-LM BERT, frozen (`freeze=1`), mean token.
Heads and loss as ConVIRT's (temperature 0.1, alpha 0.75), Adam at `lr`, batch `bs`, a quarter of
the pairs held out. `sup=1` trains the image tower on the three finding labels (BCE) instead and
prints its held-out ROC AUC. `evalmode=0` scores with batch statistics. `count=1` only prints the ROC AUC
of a hand-made feature, each volume's voxel count in the ground-glass range (-700, -250) HU. `grow=k`
grows every ground-glass region k voxels into the surrounding lung (set to -500 HU) before training,
as a stand-in for more extensive involvement.
"""
import sys, csv, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F, nibabel as nib
from transformers import BertModel, BertTokenizer
torch.set_num_threads(1); torch.manual_seed(0); np.random.seed(0)
args = dict(a.split('=') for a in sys.argv[1:]); root = args.get('root', '/tmp/cvc')
freeze_text = args.get('freeze', '1') == '1'; epochs = int(args.get('epochs', 30)); lr = float(args.get('lr', 1e-3))
bs = int(args.get('bs', 32)); width = int(args.get('width', 16)); flip = float(args.get('flip', 0))
rows = list(csv.DictReader(open(f'{root}/pairs.csv')))
vols = []; counts = []
for r in rows:
    v = nib.load(f"{root}/{r['ct']}").get_fdata().astype(np.float32)
    counts.append(float(((v > -700) & (v < -250)).sum()))
    grow = int(args.get('grow', 0))
    if grow > 0:  # ground-glass grown into the surrounding lung by `grow` voxels
        g = torch.tensor(((v > -700) & (v < -250)).astype(np.float32))[None, None]
        g = F.max_pool3d(g, 2 * grow + 1, stride=1, padding=grow)[0, 0].numpy() > 0
        v = np.where(g & (v < -780), np.float32(-500), v)
    vols.append(np.clip((v + 1000) / 1400, 0, 1))
print('volume', vols[0].shape, flush=True)
if args.get('count', '0') == '1':
    def auc(y, p):
        y = np.asarray(y); o = np.argsort(np.argsort(p)) + 1.0; a = y.sum(); b = len(y) - a
        return float((o[y == 1].sum() - a * (a + 1) / 2) / (a * b))
    c = np.array(counts)
    print('ground-glass-range voxel count: AUC normal (fewer)', round(auc([int(r['normal']) for r in rows], -c), 3),
          'ground_glass', round(auc([int(r['ground_glass']) for r in rows], c), 3))
    sys.exit(0)
X = torch.tensor(np.stack(vols))[:, None]
texts = [open(f"{root}/{r['report']}").read().replace('\n', ' ') for r in rows]
tok = BertTokenizer(f'{root}/bert/vocab.txt', do_lower_case=True)
bert = BertModel.from_pretrained(f'{root}/bert'); bert.eval()
enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors='pt')
def text_feats():
    h = bert(**enc).last_hidden_state; m = enc['attention_mask'][..., None].float()
    return (h * m).sum(1) / m.sum(1)
n = len(rows); perm = np.random.RandomState(0).permutation(n); nte = n // 4
te, tr = perm[:nte], perm[nte:]
class Cnn(nn.Module):
    def __init__(s, w):
        super().__init__()
        L = []; c = 1
        for i, o in enumerate([w, 2*w, 4*w, 8*w]):
            L += [nn.Conv3d(c, o, 3, stride=2 if i < 3 else 1, padding=1), NORM(o), nn.LeakyReLU(0.01),
                  nn.Conv3d(o, o, 3, padding=1), NORM(o), nn.LeakyReLU(0.01)]; c = o
        s.f = nn.Sequential(*L); s.dim = c
    def forward(s, x):
        y = s.f(x)
        return y.amax((2, 3, 4)) if POOL == 'max' else y.mean((2, 3, 4))
NORM = {'none': lambda o: nn.Identity(), 'bn': nn.BatchNorm3d, 'in': lambda o: nn.InstanceNorm3d(o, affine=True), 'gn': lambda o: nn.GroupNorm(8, o)}[args.get('norm', 'bn')]
POOL = args.get('pool', 'mean')
img = Cnn(width); ih = nn.Sequential(*([nn.BatchNorm1d(img.dim)] if args.get('hbn','0')=='1' else []), nn.Linear(img.dim, img.dim), nn.ReLU(), nn.Linear(img.dim, 64))
th = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
SUP = args.get('sup', '0') == '1'
Y = torch.tensor([[float(r['normal']), float(r['ground_glass']), float(r['consolidation'])] for r in rows])
sh = nn.Sequential(*([nn.BatchNorm1d(img.dim)] if args.get('hbn','0')=='1' else []), nn.Linear(img.dim, 3))
params = list(sh.parameters()) + list(img.parameters()) + list(ih.parameters()) + list(th.parameters())
if not freeze_text: params += list(bert.parameters())
opt = torch.optim.Adam(params, lr=lr, weight_decay=1e-6)
with torch.no_grad(): T0 = text_feats()
def loss_fn(zi, zt, tau=0.1, a=0.75):
    zi = F.normalize(zi, dim=1); zt = F.normalize(zt, dim=1); s = zi @ zt.t() / tau; y = torch.arange(len(s))
    return a * F.cross_entropy(s, y) + (1 - a) * F.cross_entropy(s.t(), y)
def roc_auc_score(y, p):
    y = np.asarray(y); o = np.argsort(np.argsort(p)) + 1.0; npos = y.sum(); nneg = len(y) - npos
    return float((o[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))
def recall(idx):
    (img.eval(), ih.eval()) if args.get('evalmode','1')=='1' else None
    with torch.no_grad():
        zi = F.normalize(ih(img(X[idx])), dim=1); zt = F.normalize(th(text_feats()[idx] if not freeze_text else T0[idx]), dim=1)
    s = (zi @ zt.t()).numpy(); img.train(); ih.train(); out = []
    for sm in (s, s.T):
        rank = (sm > np.diag(sm)[:, None]).sum(1) + (sm == np.diag(sm)[:, None]).sum(1) - 1
        out.append([float((rank < k).mean()) for k in (1, 5, 10)])
    return out
t0 = time.time()
for ep in range(epochs):
    rng = np.random.permutation(tr); tot = 0; nb = 0
    for b in range(0, len(rng) - bs + 1, bs):
        idx = rng[b:b+bs]; x = X[idx]
        if flip > 0:
            m = torch.rand(len(idx)) < flip; x = x.clone(); x[m] = x[m].flip(2)
        tf = text_feats()[idx] if not freeze_text else T0[idx]
        l = loss_fn(ih(img(x)), th(tf)) if not SUP else F.binary_cross_entropy_with_logits(sh(img(x)), Y[idx]); opt.zero_grad(); l.backward(); opt.step(); tot += l.item(); nb += 1
    if ep % 2 == 1 or ep == epochs - 1:
        r = recall(te); rt = recall(tr[:96])
        if SUP:
            img.eval(); sh.eval()
            with torch.no_grad(): p = sh(img(X[te])).numpy()
            img.train(); sh.train(); print('AUC', [round(roc_auc_score(Y[te][:, k].numpy(), p[:, k]), 3) for k in range(3)], flush=True)
        print(f'ep {ep+1} loss {tot/nb:.3f} (ln{bs}={np.log(bs):.2f}) test i2t R@1/5/10 {r[0]} t2i {r[1]} chance R@10 {10/nte:.3f} | train i2t {rt[0]} t2i {rt[1]} ({time.time()-t0:.0f}s)', flush=True)
