"""Real PyTorch and Hugging Face files of ConVIRT's encoders, for tests/it/convirt_weights.rs.

Made with torch 2.6.0, torchvision 0.21.0 and transformers 4.46.3 (CPU) by
    pip install torch==2.6.0 torchvision==0.21.0 transformers==4.46.3 numpy
    python3 scripts/reference/gen_convirt_checkpoints.py "$SSL3D_REFERENCE_DIR/monai/checkpoints"

Weights are not committed: this writes them beside a reference set, and the test skips (with a
notice) where they are absent. The networks and weights are tests/fixtures/convirt_models.json's
(gen_convirt_models.py's formula, keyed by each network's own names), so the test checks what it
reads against that fixture's outputs:
  convirt_bert_tiny/           `BertModel.save_pretrained` (config.json + model.safetensors) and vocab.txt
  convirt_bert_tiny_bin/       the same with `safe_serialization=False` (pytorch_model.bin)
  convirt_bert_tiny_pretraining/  `BertForPreTraining.save_pretrained(safe_serialization=False)`:
                               `bert.`-prefixed keys beside the masked-LM and next-sentence heads
  convirt_resnet18.pth         `torch.save(torchvision resnet18 state_dict)`, `fc` included
  convirt_modelclr_tiny.pth    `torch.save(ModelCLR state_dict)`: resnet18 + the tiny BERT + heads
and convirt_checkpoints.json naming them with the fixture entries they hold.
"""
import json
import os
import sys

import torch
import torchvision
import transformers
from transformers import BertConfig, BertForPreTraining

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_convirt_models import ImageEncoder, TextEncoder, load_formula, vocabulary  # noqa: E402

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64, type_vocab_size=2, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0)


def main(out):
    os.makedirs(out, exist_ok=True)
    text = TextEncoder(BertConfig(**TINY), 16)
    load_formula(text.bert_model)
    load_formula(text, "bert_l")
    vocab = "\n".join(vocabulary()) + "\n"
    for name, safe in (("convirt_bert_tiny", True), ("convirt_bert_tiny_bin", False)):
        d = os.path.join(out, name)
        text.bert_model.save_pretrained(d, safe_serialization=safe)
        with open(os.path.join(d, "vocab.txt"), "w") as f:
            f.write(vocab)
    pre = BertForPreTraining(BertConfig(**TINY))
    pre.bert.load_state_dict(text.bert_model.state_dict())
    d = os.path.join(out, "convirt_bert_tiny_pretraining")
    pre.save_pretrained(d, safe_serialization=False)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write(vocab)
    image = ImageEncoder("resnet18", 16)
    load_formula(image.tv)
    load_formula(image, "res_l")
    torch.save(image.tv.state_dict(), os.path.join(out, "convirt_resnet18.pth"))
    modelclr = {**image.state_dict(), **text.state_dict()}
    torch.save(modelclr, os.path.join(out, "convirt_modelclr_tiny.pth"))
    with open(os.path.join(out, "convirt_checkpoints.json"), "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__,
                   "transformers": transformers.__version__,
                   "bert_folders": ["convirt_bert_tiny", "convirt_bert_tiny_bin", "convirt_bert_tiny_pretraining"],
                   "bert": "tiny", "resnet_pth": "convirt_resnet18.pth", "resnet": "resnet18",
                   "modelclr_pth": "convirt_modelclr_tiny.pth", "convirt": "tiny"}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
