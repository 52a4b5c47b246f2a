#!/usr/bin/env python3
"""Reference outputs of transformers' UMT5EncoderModel and diffusers' Wan prompt encoding, for
kino's umT5 parity test (crates/kino-models/tests/umt5_parity.rs).

Writes four files under tools/parity/fixtures/:

umt5.safetensors -- a tiny random `UMT5EncoderModel` (transformers) with the umT5-XXL structure
(gated tanh-GELU feed-forward, a relative attention bias in EVERY layer, d_kv * num_heads !=
d_model), every parameter perturbed with noise so nothing is exactly 0 or 1, run on CPU in f32:

  <transformers state_dict key>    every weight under its exact key; the tied embedding is
                                   stored once, as `shared.weight` (like Wan's text_encoder/)
  __input.input_ids                (2, 40) i64; row 0 is 40 real tokens, row 1 is 23 real
                                   tokens then pad id 0 (both longer than max_distance 16, so
                                   the log-spaced buckets saturate)
  __input.attention_mask           (2, 40) i64, 1 on real tokens, 0 on padding
  __expected.last_hidden_state     (2, 40, 24) f32, model(input_ids, attention_mask)
  __expected.unmasked              (2, 40, 24) f32, model(input_ids) with no mask
  __expected.buckets.n{N}_d{D}     i64 bucket of every relative position in
                                   [-BUCKET_SPAN, BUCKET_SPAN], from transformers'
                                   `UMT5Attention._relative_position_bucket` for the tiny
                                   config and for umT5-XXL's (32 buckets, max_distance 128)

umt5_relu.safetensors -- the same layout for a second tiny config that covers the other
branches: `feed_forward_proj` "relu" (un-gated `wi`/`wo`), the tied embedding stored as
`encoder.embed_tokens.weight` instead of `shared.weight`, d_kv * num_heads < d_model.

umt5_tokenizer.json -- a tiny Unigram tokenizer laid out like umT5's (`<pad>` 0, `</s>` 1,
`<unk>` 2; a SentencePiece Precompiled normaliser; WhitespaceSplit + Metaspace pre-tokenizer;
TemplateProcessing appending `</s>`). The pieces, scores and the precompiled charsmap come from
a SentencePiece unigram model trained here on a small corpus with a small NFKC-like rule table
(full-width Latin, the fi/fl ligatures, no-break and ideographic spaces, circled digits,
superscripts, e + combining acute), so the charsmap stays a few hundred bytes.

umt5_prompt.safetensors -- diffusers' `WanPipeline._get_t5_prompt_embeds` (the real method, on a
pipeline built from the tiny encoder and the tokenizer loaded with transformers'
`T5TokenizerFast(tokenizer_file=...)`) for PROMPTS with max_sequence_length MAX_LEN:

  __expected.input_ids             (3, 16) i64 token ids (padded, truncated, `</s>` kept)
  __expected.attention_mask        (3, 16) i64
  __expected.prompt_embeds         (3, 16, 24) f32: states past each prompt's length are zero

Metadata (all strings): "config" (the transformers config as JSON), "reference", "torch",
"transformers", "diffusers"; for umt5.safetensors also "bucket_span"; for umt5_prompt also
"prompts", "cleaned" (diffusers' `prompt_clean` of each prompt), "clean_cases" (pairs
[input, prompt_clean(input)] of CLEAN_CASES), "max_len", "weights" (the fixture that holds the
encoder weights).

  pip install torch transformers diffusers==0.42.1 safetensors sentencepiece
  python3 tools/parity/umt5.py
"""

import io
import json
import struct
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
import sentencepiece as spm
import tokenizers
import transformers
from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline
from diffusers.pipelines.wan.pipeline_wan import prompt_clean
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram
from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel
from transformers.models.umt5.modeling_umt5 import UMT5Attention

FIXTURES = Path(__file__).resolve().parents[2] / "tools" / "parity" / "fixtures"

CONFIG = dict(
    vocab_size=128,
    d_model=24,
    d_kv=8,
    num_heads=4,  # inner width 32 != d_model 24
    d_ff=48,
    num_layers=2,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
    feed_forward_proj="gated-gelu",
    layer_norm_epsilon=1e-6,
)
CONFIG_RELU = dict(
    vocab_size=64,
    d_model=16,
    d_kv=6,
    num_heads=2,  # inner width 12 < d_model 16
    d_ff=20,
    num_layers=2,
    relative_attention_num_buckets=10,
    relative_attention_max_distance=12,
    feed_forward_proj="relu",
    layer_norm_epsilon=1e-6,
)
SEQ_LEN = 40
SHORT_LEN = 23
BUCKET_SPAN = 600
# umT5-XXL's bucketing, as in Wan-AI/Wan2.1-T2V-1.3B-Diffusers text_encoder/config.json.
XXL_BUCKETS = (32, 128)

MAX_LEN = 16
PROMPTS = [
    "the cat and the dog",
    "  Ａ ﬁsh &amp;amp;\n\t&#39;①&#39;  Ω ",
    "A red fox runs through the snowy forest at dawn, cinematic, slow motion, highly detailed",
]

# Extra inputs for diffusers' `prompt_clean` alone (html.unescape twice, whitespace collapsed):
# numeric references and their replacements of invalid code points, legacy names without `;`,
# longest-prefix matches, Unicode whitespace. kino decodes named references with the full HTML5 table (htmlize::ENTITIES, equal to html.entities.html5).
CLEAN_CASES = [
    "&amp;lt;b&amp;gt; &#38;#65; &amp;amp;amp;",
    "&#65;&#x42;&#X43 &#0;|&#13;|&#128;&#150;&#159;|&#1;&#11;&#127;|&#xD800;&#1114112;|&#65534;",
    "&#9999999999999999999999; &#x110000 &#; &#x; &; & && &#",
    "&ampfoo &amp &AMP; &apos &apos; &copy2024 &nbsp;x &QUOTx &ltgt; &lt&gt",
    "&hellip;&mdash;&rsquo;&ldquo;&rdquo;&lsquo;&ndash;&hellipx &laquo;&raquo &reg",
    "a\u00a0b\u3000c\x1cd\u2028e\u0085f\u200bg\x1fh\x0bi\x0cj",
    "   lots   of\n\n spaces\t\r\n",
    # diffusers' `\s` is the `regex` module's (Unicode White_Space); `str.strip` also strips
    # U+001C..U+001F.
    "\x1c\u3000 a \x1c b\x1f \x1e",
    "&unknownentity; &" + "a" * 40 + ";",
]

CORPUS = [
    "a cat walks on the grass",
    "the dog runs in the rain",
    "a fish swims in the river",
    "a red fox runs through the snowy forest at dawn",
    "cinematic slow motion highly detailed",
    "the cat and the dog play on the grass",
    "une voiture rouge roule dans la forêt",
    "café crème à côté de l'école",
    "der Hund läuft über die Straße",
    "in the morning the sun rises over the sea",
    "birds fly over the mountains at sunset",
    "fish 1 2 3 4 5 6 7 8 9 0 fi fl",
    "A cat. A dog. A fish. The End.",
]

# NFKC-like rules for the SentencePiece normaliser: "source code points<TAB>target code points".
RULES = (
    [(f"{0xFF21 + i:X}", f"{0x41 + i:X}") for i in range(26)]  # Ａ-Ｚ
    + [(f"{0xFF41 + i:X}", f"{0x61 + i:X}") for i in range(26)]  # ａ-ｚ
    + [(f"{0x2460 + i:X}", f"{0x31 + i:X}") for i in range(9)]  # ①-⑨
    + [
        ("FB01", "66 69"),  # ﬁ
        ("FB02", "66 6C"),  # ﬂ
        ("A0", "20"),  # no-break space
        ("3000", "20"),  # ideographic space
        ("B2", "32"),  # ²
        ("B3", "33"),  # ³
        ("65 301", "E9"),  # e + combining acute -> é
    ]
)


def perturbed_model(config: dict) -> UMT5EncoderModel:
    torch.manual_seed(0)
    model = UMT5EncoderModel(UMT5Config(**config)).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # Every parameter gets noise, so the unit norm weights are not exactly one and a missing
    # term cannot hide. (parameters() yields the tied embedding once.)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def bucket_table(num_buckets: int, max_distance: int) -> torch.Tensor:
    cfg = UMT5Config(
        d_model=8,
        d_kv=2,
        num_heads=4,
        relative_attention_num_buckets=num_buckets,
        relative_attention_max_distance=max_distance,
    )
    attn = UMT5Attention(cfg, has_relative_attention_bias=True)
    assert not attn.is_decoder
    rel = torch.arange(-BUCKET_SPAN, BUCKET_SPAN + 1, dtype=torch.long)
    return attn._relative_position_bucket(rel).to(torch.int64).contiguous()


def metadata(model: UMT5EncoderModel, extra: dict) -> dict:
    return {
        "config": model.config.to_json_string(use_diff=False),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "diffusers": diffusers.__version__,
        "reference": f"transformers {transformers.__version__} UMT5EncoderModel "
        f"({model.config._attn_implementation} attention), torch {torch.__version__}, "
        "CPU f32, torch.manual_seed(0)",
        **extra,
    }


def weights(model: UMT5EncoderModel, embedding_key: str) -> dict:
    tensors = {}
    for key, value in model.state_dict().items():
        assert not key.startswith("__"), key
        if key in ("shared.weight", "encoder.embed_tokens.weight") and key != embedding_key:
            continue  # tied: stored once
        tensors[key] = value.detach().to(torch.float32).contiguous()
    return tensors


def encoder_case(config: dict, embedding_key: str, out: Path, buckets: bool) -> UMT5EncoderModel:
    model = perturbed_model(config)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(3, config["vocab_size"], (2, SEQ_LEN), generator=gen)
    ids[0, -1] = 1  # </s>
    ids[1, SHORT_LEN - 1] = 1
    ids[1, SHORT_LEN:] = 0  # <pad>
    mask = torch.zeros(2, SEQ_LEN, dtype=torch.int64)
    mask[0, :] = 1
    mask[1, :SHORT_LEN] = 1

    with torch.no_grad():
        masked = model(input_ids=ids, attention_mask=mask).last_hidden_state
        unmasked = model(input_ids=ids).last_hidden_state
        # The eager implementation (additive finfo.min mask) agrees with the default one.
        eager = perturbed_model(config)
        eager.set_attn_implementation("eager")
        assert eager.encoder.config._attn_implementation == "eager"
        eager_out = eager(input_ids=ids, attention_mask=mask).last_hidden_state
        diff = (eager_out - masked).abs().max() / masked.abs().max()
        assert diff < 1e-5, diff
        # The mask matters for the padded row only.
        assert torch.equal(masked[0], unmasked[0])
        assert (masked[1] - unmasked[1]).abs().max() > 1e-2
        # The real tokens of the padded row equal the row run alone, unpadded.
        alone = model(input_ids=ids[1:, :SHORT_LEN]).last_hidden_state
        assert (alone[0] - masked[1, :SHORT_LEN]).abs().max() < 1e-5

    tensors = weights(model, embedding_key)
    tensors["__input.input_ids"] = ids.to(torch.int64).contiguous()
    tensors["__input.attention_mask"] = mask.contiguous()
    tensors["__expected.last_hidden_state"] = masked.contiguous()
    tensors["__expected.unmasked"] = unmasked.contiguous()
    extra = {}
    if buckets:
        for n, d in [
            (config["relative_attention_num_buckets"], config["relative_attention_max_distance"]),
            XXL_BUCKETS,
        ]:
            tensors[f"__expected.buckets.n{n}_d{d}"] = bucket_table(n, d)
        extra["bucket_span"] = str(BUCKET_SPAN)
    save_file(tensors, str(out), metadata=metadata(model, extra))
    out.chmod(0o644)
    print(
        f"wrote {out.name}: {len(tensors)} tensors, max |out| {masked.abs().max():.3f}, "
        f"{out.stat().st_size} bytes"
    )
    return model


def read_proto_fields(buf: bytes):
    """Yields (field number, wire type, value) of a protobuf message (no protobuf package)."""
    pos = 0

    def varint():
        nonlocal pos
        shift = value = 0
        while True:
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            yield field, wire, varint()
        elif wire == 1:
            yield field, wire, buf[pos : pos + 8]
            pos += 8
        elif wire == 2:
            n = varint()
            yield field, wire, buf[pos : pos + n]
            pos += n
        elif wire == 5:
            yield field, wire, buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"wire type {wire}")


def spm_pieces_and_charsmap(proto: bytes):
    """sentencepiece ModelProto: pieces = 1 (piece 1, score 2, type 3), normalizer_spec = 3
    (precompiled_charsmap 2)."""
    pieces, charsmap = [], None
    for field, _, value in read_proto_fields(proto):
        if field == 1:
            piece, score, kind = None, 0.0, 1
            for f, _, v in read_proto_fields(value):
                if f == 1:
                    piece = v.decode("utf-8")
                elif f == 2:
                    score = struct.unpack("<f", v)[0]
                elif f == 3:
                    kind = v
            pieces.append((piece, score, kind))
        elif field == 3:
            for f, _, v in read_proto_fields(value):
                if f == 2:
                    charsmap = bytes(v)
    return pieces, charsmap


def build_tokenizer(out: Path) -> None:
    rules = FIXTURES / "_umt5_rules.tsv"
    rules.write_text("".join(f"{s}\t{t}\n" for s, t in RULES))
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(CORPUS * 4),
            model_writer=model,
            model_type="unigram",
            vocab_size=120,
            hard_vocab_limit=False,
            character_coverage=1.0,
            normalization_rule_tsv=str(rules),
            pad_id=0,
            eos_id=1,
            unk_id=2,
            bos_id=-1,
            minloglevel=2,
        )
    finally:
        rules.unlink()
    pieces, charsmap = spm_pieces_and_charsmap(model.getvalue())
    assert [p for p, _, _ in pieces[:3]] == ["<pad>", "</s>", "<unk>"], pieces[:3]
    assert charsmap and len(charsmap) < 4096, len(charsmap or b"")
    assert len(pieces) <= CONFIG["vocab_size"], len(pieces)

    tok = Tokenizer(Unigram([(p, s) for p, s, _ in pieces], unk_id=2, byte_fallback=False))
    tok.normalizer = normalizers.Precompiled(charsmap)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        ]
    )
    tok.post_processor = processors.TemplateProcessing(
        single=["$A", "</s>"], pair=["$A", "</s>", "$B", "</s>"], special_tokens=[("</s>", 1)]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.add_special_tokens(["<pad>", "</s>", "<unk>"])
    tok.save(str(out))
    out.chmod(0o644)
    print(f"wrote {out.name}: {tok.get_vocab_size()} pieces, charsmap {len(charsmap)} bytes, "
          f"{out.stat().st_size} bytes")


def prompt_case(model: UMT5EncoderModel, tokenizer_file: Path, out: Path) -> None:
    tokenizer = T5TokenizerFast(tokenizer_file=str(tokenizer_file), extra_ids=0)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    pipe = WanPipeline(
        tokenizer=tokenizer,
        text_encoder=model,
        transformer=None,
        vae=None,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )
    cleaned = [prompt_clean(p) for p in PROMPTS]
    text = tokenizer(
        cleaned,
        padding="max_length",
        max_length=MAX_LEN,
        truncation=True,
        add_special_tokens=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    ids, mask = text.input_ids, text.attention_mask
    # The raw tokenizer.json (what the Rust `tokenizers` crate reads) gives the same ids.
    raw = Tokenizer.from_file(str(tokenizer_file))
    raw.enable_truncation(MAX_LEN)
    raw.enable_padding(length=MAX_LEN, pad_id=0, pad_token="<pad>")
    assert [e.ids for e in raw.encode_batch(cleaned)] == ids.tolist()
    lens = mask.sum(1).tolist()
    assert lens[2] == MAX_LEN and ids[2, -1] == 1, "the long prompt is truncated, </s> kept"
    assert lens[0] < MAX_LEN and lens[1] < MAX_LEN
    assert 2 in ids[1].tolist(), "the unknown character maps to <unk>"
    with torch.no_grad():
        embeds = pipe._get_t5_prompt_embeds(
            prompt=PROMPTS, max_sequence_length=MAX_LEN, device=torch.device("cpu"),
            dtype=torch.float32,
        )
    assert embeds.shape == (len(PROMPTS), MAX_LEN, CONFIG["d_model"]), embeds.shape
    for row, n in enumerate(lens):
        assert torch.all(embeds[row, n:] == 0)
    for p, c, row in zip(PROMPTS, cleaned, ids.tolist()):
        print(f"  {p!r} -> {c!r} -> {row}")

    tensors = {
        "__expected.input_ids": ids.to(torch.int64).contiguous(),
        "__expected.attention_mask": mask.to(torch.int64).contiguous(),
        "__expected.prompt_embeds": embeds.to(torch.float32).contiguous(),
    }
    extra = {
        "prompts": json.dumps(PROMPTS),
        "cleaned": json.dumps(cleaned),
        "clean_cases": json.dumps([[c, prompt_clean(c)] for c in CLEAN_CASES]),
        "max_len": str(MAX_LEN),
        "weights": "umt5.safetensors",
        "tokenizer": tokenizer_file.name,
        "tokenizers": tokenizers.__version__,
        "pipeline": f"diffusers {diffusers.__version__} WanPipeline._get_t5_prompt_embeds",
    }
    save_file(tensors, str(out), metadata=metadata(model, extra))
    out.chmod(0o644)
    print(f"wrote {out.name}: {out.stat().st_size} bytes")


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    model = encoder_case(CONFIG, "shared.weight", FIXTURES / "umt5.safetensors", True)
    encoder_case(CONFIG_RELU, "encoder.embed_tokens.weight", FIXTURES / "umt5_relu.safetensors",
                 False)
    tokenizer_file = FIXTURES / "umt5_tokenizer.json"
    build_tokenizer(tokenizer_file)
    prompt_case(model, tokenizer_file, FIXTURES / "umt5_prompt.safetensors")


if __name__ == "__main__":
    main()
