"""ConVIRT's radiograph views as the reference implementation makes them (torchvision on PIL images),
for tests/it/convirt_views.rs.

Made with Pillow 13.0.0, torchvision 0.21.0 and torch 2.6.0 (CPU) by
    pip install torch==2.6.0 torchvision==0.21.0 pillow numpy
    python3 scripts/reference/gen_convirt_views.py tests/fixtures/convirt_views.json

The reference's pipeline (edreisMD/ConVIRT-pytorch, dataloader/dataset_wrapper.py):
`Resize((h, w))` (its `transforms.Scale`), `RandomResizedCrop(h, scale=(0.8, 1.0))`,
`RandomHorizontalFlip()`, `RandomGrayscale(p=0.2)`, `ToTensor()`, `Normalize(ImageNet)`. Recorded
on a small RGB image (its bytes, hex): PIL's bilinear `resize` to shrinking, enlarging and one-axis
sizes and on its `L` conversion; `convert("L")`; and the whole view for fixed random choices (crop
box, flip, grayscale) through torchvision's functional ops: the image before `ToTensor` (bytes)
and a summary of the normalised tensor. Also two files and what PIL
decodes from them (RGB and `convert("L")`): a PNG (lossless) and a JPEG (decoders may differ by a
little); and `RandomResizedCrop.get_params`'s central fallback for a few image shapes.
"""
import io
import json
import sys

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms.functional as F
from PIL import Image
from torchvision import transforms

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from monai_formula import summary  # noqa: E402


def image():
    h, w = 41, 53
    y, x = np.mgrid[0:h, 0:w]
    chans = [127.5 + 127.4 * np.sin(0.11 * x + 0.07 * y + 1.3 * c + 0.004 * x * y) for c in range(3)]
    arr = np.stack(chans, -1)
    arr[10:20, 30:40, :] = 255  # a bright block: edges the filter must blur as PIL does
    return Image.fromarray(np.floor(arr).astype(np.uint8), "RGB")


def hexed(img):
    return img.tobytes().hex()


def view(img, size, box, flip, gray):
    h, w = size
    out = F.resize(img, [h, w], interpolation=transforms.InterpolationMode.BILINEAR)
    out = F.resized_crop(out, *box, [h, h], interpolation=transforms.InterpolationMode.BILINEAR)
    if flip:
        out = F.hflip(out)
    if gray:
        out = F.rgb_to_grayscale(out, num_output_channels=3)
    t = F.to_tensor(out)
    t = F.normalize(t, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return out, t


def main(path):
    img = image()
    grey = img.convert("L")
    sizes = [(32, 32), (80, 64), (53, 20), (20, 41), (17, 97), (53, 41)]
    res = {"pillow": PIL.__version__, "torchvision": torchvision.__version__, "torch": torch.__version__,
           "image": {"width": img.width, "height": img.height, "rgb": hexed(img)},
           "grey": hexed(grey),
           "resize": [{"width": w, "height": h, "rgb": hexed(img.resize((w, h), Image.BILINEAR)),
                       "grey": hexed(grey.resize((w, h), Image.BILINEAR))} for w, h in sizes],
           "views": []}
    for size, box, flip, gray in [((48, 48), (3, 5, 40, 42), False, False),
                                  ((48, 40), (0, 0, 48, 40), True, False),
                                  ((36, 44), (7, 2, 29, 35), True, True)]:
        out, t = view(img, size, box, flip, gray)
        s = summary(t)
        s["shape"] = list(t.shape)
        res["views"].append({"size": list(size), "box": list(box), "flip": flip, "grayscale": gray,
                             "rgb": hexed(out), "tensor": s})
    files = {}
    for fmt, kw in (("png", {}), ("jpeg", {"quality": 90})):
        buf = io.BytesIO()
        img.save(buf, format=fmt.upper(), **kw)
        data = buf.getvalue()
        decoded = Image.open(io.BytesIO(data)).convert("RGB")
        files[fmt] = {"bytes": data.hex(), "rgb": hexed(decoded), "grey": hexed(decoded.convert("L"))}
    res["files"] = files
    # RandomResizedCrop's fallback, forced by areas larger than the image (every try fails).
    fallback = []
    for h, w in [(40, 100), (100, 40), (50, 60), (224, 224)]:
        blank = Image.new("RGB", (w, h))
        i, j, hh, ww = transforms.RandomResizedCrop.get_params(blank, scale=[2.0, 3.0], ratio=[3 / 4, 4 / 3])
        fallback.append({"height": h, "width": w, "box": [i, j, hh, ww]})
    res["central_fallback"] = fallback
    with open(path, "w") as f:
        json.dump(res, f, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1])
