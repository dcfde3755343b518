"""ConVIRT's two encoders and its tokenizer on formula weights and inputs, for tests/it/convirt_models.rs.

Made with torch 2.6.0 (CPU), torchvision 0.21.0, transformers 4.46.3 and tokenizers 0.20.3 by
    pip install torch==2.6.0 torchvision==0.21.0 transformers==4.46.3 numpy
    python3 scripts/reference/gen_convirt_models.py tests/fixtures/convirt_models.json

The networks are those of the ConVIRT reference implementation (edreisMD/ConVIRT-pytorch,
models/model.py `ModelCLR`): torchvision's ResNet without its `fc` (the `res_features` children),
then `res_l1` (features -> features), ReLU, `res_l2` (-> out_dim); Hugging Face's `BertModel`, the
attention-masked mean of its last hidden state, then `bert_l1` (hidden -> hidden), ReLU, `bert_l2`
(-> out_dim). No weights are downloaded: every tensor is a formula of its state-dict key (below,
the rule of monai_formula.py with the scales of batch and layer norms, and running variances, at
1 + 0.1 sin) of its key in the network's own state dict: torchvision's names for the ResNet, HF's
for BERT, `res_l1.weight` … for the heads. So the Rust test rebuilds them from the key names
recorded here. `convirt` lists the two pairs tested as whole ConVIRT models (a tiny one, and
ResNet-50 with Bio_ClinicalBERT's BERT) with the reference's `ModelCLR` state-dict keys.

Recorded per ResNet (`resnet18` at 64², `resnet50` at 64²: the full networks, a small image, batch
2): the state-dict keys and shapes, the parameter count, the input formula; summaries of the pooled
features and of the projection in eval mode (running statistics), of the stem and first stage in
training mode (batch statistics), and of the running mean and variance of two batch norms after
that training forward (PyTorch's unbiased variance, momentum 0.1). `batch_norm`: one
`BatchNorm2d(4)` training step on 2 x 4 x 2 x 2 values, where the unbiased variance (x 8/7)
shows. Per BERT (a tiny one and Bio_ClinicalBERT's configuration, BERT-base with 28 996 tokens): the `config.json` keys, the state-dict keys and shapes, the parameter
count, token ids, token types and an attention mask with padding, and summaries of the last hidden
state, the pooler output and the projection of the masked mean. Each summary has `f32_noise`: the
largest |float32 - float64| of the same computation in float64.

The tokenizer: a vocabulary made here (`vocab`, written to vocab.txt by the test) and texts with
capitals, accents, punctuation, Chinese characters, control characters, unknown words and a report
longer than 512 tokens; for `do_lower_case` false and true, the ids of transformers' Python
`BertTokenizer` and of its Rust-backed `BertTokenizerFast` (asserted equal) with truncation to 512,
and one padded batch (ids, attention mask, token types) as the reference's training loop makes it.
"""
import json
import os
import sys
import tempfile

import numpy as np
import tokenizers
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import transformers
from transformers import BertConfig, BertModel, BertTokenizer, BertTokenizerFast

torch.set_num_threads(2)
torch.set_grad_enabled(False)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from monai_formula import formula_input, h, summary  # noqa: E402


def is_scale(key):
    parts = key.split(".")
    if parts[-1] == "running_var":
        return True
    if parts[-1] != "weight" or len(parts) < 2:
        return False
    module = parts[-2]
    return module.startswith("bn") or module == "LayerNorm" or (
        len(parts) > 2 and parts[-3] == "downsample" and module == "1")


def formula(key, shape):
    n = int(np.prod(shape))
    s = np.sin(0.1 * (np.arange(n, dtype=np.float64) + 1) + h(key))
    val = (1.0 + 0.1 * s) if is_scale(key) else 0.05 * s
    return torch.tensor(val.reshape(shape))


def load_formula(module, prefix=""):
    """Formula values for the keys (starting with `prefix`) of `module`'s own state dict."""
    state = module.state_dict()
    for k, v in state.items():
        if v.dtype.is_floating_point and k.startswith(prefix):
            state[k] = formula(k, list(v.shape)).to(v.dtype)
    module.load_state_dict(state)


def keys_of(module):
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def described(t, t64):
    s = summary(t)
    s["shape"] = list(t.shape)
    s["f32_noise"] = (t.double() - t64.double()).abs().max().item()
    return s


class ImageEncoder(nn.Module):
    """ModelCLR.image_encoder: `res_features`, then the two-layer projection."""

    def __init__(self, arch, out_dim):
        super().__init__()
        resnet = getattr(torchvision.models, arch)(weights=None)
        n = resnet.fc.in_features
        self.res_features = nn.Sequential(*list(resnet.children())[:-1])
        self.res_l1 = nn.Linear(n, n)
        self.res_l2 = nn.Linear(n, out_dim)
        # The same modules under torchvision's own names (not registered: no second keys).
        self.__dict__["tv"] = resnet

    def forward(self, x):
        h = self.res_features(x).flatten(1)
        return h, self.res_l2(F.relu(self.res_l1(h)))


def resnet_entry(arch, out_dim, side):
    torch.manual_seed(0)
    tv = getattr(torchvision.models, arch)(weights=None)
    del tv.fc
    keys = keys_of(tv)
    enc = ImageEncoder(arch, out_dim)
    load_formula(enc.tv)
    load_formula(enc, "res_l")
    x = formula_input((2, 3, side, side), 0.3, 0.013).double()
    runs = {}
    for dtype in (torch.float64, torch.float32):
        m = ImageEncoder(arch, out_dim)
        m.load_state_dict(enc.state_dict())
        m = m.to(dtype).eval()
        feats, z = m(x.to(dtype))
        # Training mode through the stem and the first stage only: deeper, batch statistics over
        # the formula's few, smooth values divide by near-zero variances (float32 noise ~ 1).
        stem = m.res_features[:5].train()
        stage1 = stem(x.to(dtype))
        bn1, block = m.res_features[1], m.res_features[4][0]
        running = [(bn1.running_mean.clone(), bn1.running_var.clone()),
                   (block.bn1.running_mean.clone(), block.bn1.running_var.clone())]
        runs[dtype] = (feats, z, stage1, running)
    f32, f64 = runs[torch.float32], runs[torch.float64]
    return {
        "arch": arch,
        "out_dim": out_dim,
        "keys": keys,
        "num_params": sum(p.numel() for p in tv.parameters()),
        "projection_keys": {k: list(v.shape) for k, v in enc.state_dict().items() if k.startswith("res_l")},
        "input": {"shape": [2, 3, side, side], "phase": 0.3, "freq": 0.013},
        "features_eval": described(f32[0], f64[0]),
        "projection_eval": described(f32[1], f64[1]),
        "layer1_train": described(f32[2], f64[2]),
        "running_after_train": {
            name: {"mean": described(f32[3][i][0], f64[3][i][0]), "var": described(f32[3][i][1], f64[3][i][1])}
            for i, name in enumerate(("bn1", "layer1.0.bn1"))
        },
    }


def batch_norm_entry():
    """One `BatchNorm2d` training step on a batch small enough (2 x 2 x 2 values per channel) that
    PyTorch's unbiased running variance (x 8/7) stands out from the biased one."""
    runs = {}
    x = formula_input((2, 4, 2, 2), 0.7, 0.9).double()
    for dtype in (torch.float64, torch.float32):
        bn = nn.BatchNorm2d(4)
        for k, v in bn.state_dict().items():
            if v.dtype.is_floating_point:
                getattr(bn, k.split(".")[-1]).data = formula(f"bn1.{k}", list(v.shape))
        bn = bn.to(dtype).train()
        y = bn(x.to(dtype))
        runs[dtype] = (y, bn.running_mean.clone(), bn.running_var.clone())
    f32, f64 = runs[torch.float32], runs[torch.float64]
    return {"input": {"shape": [2, 4, 2, 2], "phase": 0.7, "freq": 0.9}, "key_prefix": "bn1.",
            "out": described(f32[0], f64[0]), "running_mean": described(f32[1], f64[1]),
            "running_var": described(f32[2], f64[2])}


class TextEncoder(nn.Module):
    """ModelCLR.text_encoder: BERT, the attention-masked mean of the last hidden state, projection."""

    def __init__(self, config, out_dim):
        super().__init__()
        self.bert_model = BertModel(config, add_pooling_layer=True)
        hid = config.hidden_size
        self.bert_l1 = nn.Linear(hid, hid)
        self.bert_l2 = nn.Linear(hid, out_dim)

    def forward(self, ids, types, mask):
        out = self.bert_model(input_ids=ids, token_type_ids=types, attention_mask=mask)
        tokens = out[0]
        m = mask.unsqueeze(-1).expand(tokens.size()).to(tokens.dtype)
        mean = (tokens * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
        return out.last_hidden_state, out.pooler_output, self.bert_l2(F.relu(self.bert_l1(mean)))


CONFIG_KEYS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
               "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id", "model_type",
               "architectures"]


def bert_entry(cfg, out_dim, seq):
    config = BertConfig(**cfg, attn_implementation="eager")
    enc = TextEncoder(config, out_dim)
    load_formula(enc.bert_model)
    load_formula(enc, "bert_l")
    v = cfg["vocab_size"]
    ids = torch.tensor([[(7 * i * i + 3 * i + 1 + 13 * b) % v for i in range(seq)] for b in range(2)])
    ids[:, 0] = 2 % v
    mask = torch.ones(2, seq, dtype=torch.long)
    mask[1, seq - 4:] = 0
    ids[1, seq - 4:] = 0
    types = torch.zeros(2, seq, dtype=torch.long)
    types[1, 3:seq - 4] = 1
    outs = {}
    for dtype in (torch.float64, torch.float32):
        m = TextEncoder(config, out_dim)
        m.load_state_dict(enc.state_dict())
        m = m.to(dtype).eval()
        outs[dtype] = m(ids, types, mask)
    f32, f64 = outs[torch.float32], outs[torch.float64]
    full = config.to_dict()
    full["architectures"] = ["BertModel"]
    return {
        "config": {k: full[k] for k in CONFIG_KEYS if k in full},
        "out_dim": out_dim,
        "keys": keys_of(enc.bert_model),
        "num_params": sum(p.numel() for p in enc.bert_model.parameters()),
        "projection_keys": {k: list(t.shape) for k, t in enc.state_dict().items() if k.startswith("bert_l")},
        "input_ids": ids.tolist(),
        "token_type_ids": types.tolist(),
        "attention_mask": mask.tolist(),
        "last_hidden_state": described(f32[0], f64[0]),
        "pooler_output": described(f32[1], f64[1]),
        "projection": described(f32[2], f64[2]),
    }


def modelclr_entry(arch, bert_name, cfg, out_dim):
    """The reference's `ModelCLR` state-dict keys for that pair (its model.pth layout)."""
    image, text = ImageEncoder(arch, out_dim), TextEncoder(BertConfig(**cfg), out_dim)
    keys = {**keys_of(image), **keys_of(text)}
    return {"resnet": arch, "bert": bert_name, "out_dim": out_dim, "modelclr_keys": keys}


def vocabulary():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?()-/'%") + ["é", "肺"]
    words = ["the", "The", "heart", "Heart", "size", "is", "normal", "lung", "lungs", "Lungs", "clear", "no",
             "No", "pleural", "effusion", "pneumo", "pneumothorax", "consolidation", "Consolidation", "in",
             "right", "left", "Right", "Left", "upper", "lower", "lobe", "ground", "glass", "opacity",
             "opacities", "mild", "small", "large", "cm", "of", "and", "with", "there", "There", "are",
             "unchanged", "compared", "prior", "study", "findings", "impression", "IMPRESSION", "FINDINGS"]
    pieces = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + \
             ["##s", "##es", "##ed", "##ing", "##ation", "##ity", "##ies", "##thorax", "##nia", "##ral",
              "##ated", "##al", "##e", "##ic"]
    seen, out = set(), []
    for t in specials + chars + words + pieces:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


TEXTS = [
    "The heart size is normal. The lungs are clear.",
    "No pleural effusion or pneumothorax.",
    "Consolidation in the RIGHT lower lobe, 3.5 cm; unchanged compared with prior study.",
    "  Mild   ground-glass opacities\tin the left upper lobe.\n",
    "Pleural effusión café naïve résumé",
    "肺 opacity 肺部 finding",
    "Pneumonia vs atelectasis (likely) - 10% larger!",
    "zzzzqqqq xylophone Ωmega \u0000control\u200bzero-width",
    "IMPRESSION: No acute cardiopulmonary process. FINDINGS: There are small bilateral effusions.",
    "",
    " ".join(["The lungs are clear and the heart size is normal."] * 60),
]


def tokenizer_entry(vocab_path, lower):
    slow = BertTokenizer(vocab_path, do_lower_case=lower, model_max_length=512)
    fast = BertTokenizerFast(vocab_path, do_lower_case=lower, model_max_length=512)
    cases = []
    for t in TEXTS:
        a = slow(t, truncation=True, max_length=512)["input_ids"]
        b = fast(t, truncation=True, max_length=512)["input_ids"]
        assert a == b, (t, a, b)
        cases.append({"text": t, "ids": a, "tokens": slow.convert_ids_to_tokens(a)})
    batch_texts = TEXTS[:3]
    enc = fast(batch_texts, return_tensors="pt", padding=True, truncation=True)
    slow_enc = slow(batch_texts, return_tensors="pt", padding=True, truncation=True)
    for k in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(enc[k], slow_enc[k]), k
    return {"do_lower_case": lower, "cases": cases,
            "batch": {"texts": batch_texts, **{k: enc[k].tolist() for k in ("input_ids", "attention_mask",
                                                                          "token_type_ids")}}}


def main(path):
    res = {"torch": torch.__version__, "torchvision": torchvision.__version__,
           "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
           "numpy": np.__version__, "resnets": {}, "berts": {}}
    res["batch_norm"] = batch_norm_entry()
    res["resnets"]["resnet18"] = resnet_entry("resnet18", 16, 64)
    res["resnets"]["resnet50"] = resnet_entry("resnet50", 512, 64)
    tiny = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                max_position_embeddings=64, type_vocab_size=2, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0)
    # Bio_ClinicalBERT's config.json (BERT-base, cased vocabulary of 28 996 tokens).
    clinical = dict(vocab_size=28996, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu",
                    hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, layer_norm_eps=1e-12)
    res["berts"]["tiny"] = bert_entry(tiny, 16, 12)
    res["berts"]["bio_clinical_bert"] = bert_entry(clinical, 512, 16)
    res["convirt"] = {"tiny": modelclr_entry("resnet18", "tiny", tiny, 16),
                      "full": modelclr_entry("resnet50", "bio_clinical_bert", clinical, 512)}
    vocab = vocabulary()
    with tempfile.TemporaryDirectory() as d:
        vp = os.path.join(d, "vocab.txt")
        with open(vp, "w") as f:
            f.write("\n".join(vocab) + "\n")
        res["tokenizer"] = {"vocab": vocab, "max_length": 512,
                            "runs": [tokenizer_entry(vp, False), tokenizer_entry(vp, True)]}
    with open(path, "w") as f:
        json.dump(res, f, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1])
