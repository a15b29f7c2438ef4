"""Helpers shared by the vLLM tests: one long-lived event loop, mixed multilingual pairs, checkpoints."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import tiny

from models import Checkpoint, EncodedPair, PairInput, Task

T = TypeVar("T")

# Keeps two engines (backend + offline, or backend + HTTP) inside 24 GiB on the CPU build.
KVCACHE_BYTES = 256 << 20


class LoopThread:
    """An event loop in a daemon thread that outlives single tests.

    An AsyncLLM binds its output reader to the loop of its first request; per-test loops (pytest-asyncio,
    anyio) would strand a module-scoped engine on a closed loop, so every call goes through this one.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="vllm-test-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def decoder_checkpoint(
    path: Path, *, arch: str, tasks: tuple[Task, ...], num_labels: int, max_length: int = 48, name: str
) -> Path:
    """A carded random tiny decoder classifier."""
    return tiny.card_checkpoint(
        path, arch=arch, tasks=tasks, name=name, max_length=max_length, num_labels=num_labels
    )


LONG_PATH = ["home & garden", "kitchen", "cookware", "pots pans knives storage"] * 8
LONG_TITLE = "Damen Handtasche Laufschuhe Handyhülle Kopfhörer borsa donna scarpe da corsa " * 6


def mixed_pairs(tasks: tuple[Task, ...]) -> list[PairInput]:
    """Many languages and scripts, with and without translations, some cut to max_length on either side."""
    qc = [
        PairInput(Task.QC, "ドラクエ バッグ", "luggage & bags,women's handbags,waist packs"),
        PairInput(Task.QC, "bolso de mujer", ["luggage & bags", "women's handbags"], query_en="women's bag"),
        PairInput(Task.QC, "sac à main femme", "luggage & bags,backpacks"),
        PairInput(Task.QC, "여성 가방", "beauty health,skincare,face cream"),
        PairInput(Task.QC, "حقيبة نسائية", "luggage & bags,women's handbags"),
        PairInput(Task.QC, "damska torebka", LONG_PATH),  # target cut from the left
        PairInput(Task.QC, "zapatillas running " * 30, "sports outdoors,running shoes"),  # query cut too
        PairInput(Task.QC, "กระเป๋าผู้หญิง", "luggage & bags"),
    ]
    qi = [
        PairInput(Task.QI, "Laufschuhe", "Damen Laufschuhe atmungsaktiv", query_en="running shoes"),
        PairInput(Task.QI, "capinha celular", "mobile phones accessories cases covers"),
        PairInput(Task.QI, "borsa donna", LONG_TITLE),  # title cut from the right
        PairInput(Task.QI, "イヤホン", "wireless headphones earbuds"),
    ]
    return [p for p in qc + qi if p.task in tasks]


def offline_and_torch_scores(
    checkpoint: Checkpoint, encoded: list[EncodedPair], *, vllm_batch_size: int, torch_batch_size: int = 64
) -> tuple[Any, Any]:
    """The same pairs scored by vLLM's offline `LLM.classify` (`score_with_vllm`) and by the torch
    forward pass (`score_encoded`), as (vllm, torch) arrays."""
    from models.inference import score_encoded
    from models.loading import load_model
    from training.predict_vllm import score_with_vllm

    got = score_with_vllm(
        checkpoint,
        encoded,
        batch_size=vllm_batch_size,
        progress=False,
        engine_options={"kv_cache_memory_bytes": KVCACHE_BYTES},
    )
    model = load_model(checkpoint)
    want = score_encoded(model, encoded, pad_id=model.config.pad_token_id, batch_size=torch_batch_size)
    return got, want
