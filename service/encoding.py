"""Tokenization, outside the backends (as TEI keeps it in its router): a served model is a checkpoint, the
`models.PairEncoder` built from its tokenizer and card, and a backend that only ever sees token ids. A
request goes one way: encoder -> score cache -> micro-batcher -> backend.

Where encoding runs, measured with a real multilingual tokenizer (multilingual-e5-small, XLM-R's 250k
sentencepiece vocabulary; QC pairs in 8 languages, max length 128; 2 shared CPU cores; medians of 200):

    pairs   encode_batch on the loop   asyncio.to_thread hop alone   encode in a thread, hop included
       16          0.69 ms                    0.11 ms                        0.76 ms
       64          2.26 ms                    0.24 ms                        2.12 ms
      256         11.5  ms                    0.43 ms                       10.4  ms

A small request encodes on the event loop: it blocks the loop for well under a millisecond and a thread hop
would add ~15 % to it. From `ENCODE_IN_THREAD_PAIRS` pairs up the request encodes in a worker thread: a
256-pair request would otherwise stall every other request and the batcher for ~10 ms, and the hop is a
few per cent of its cost (the tokenizer's batch encode releases the GIL; encoders are read-only after
construction, so threads share one safely).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from models import Checkpoint, EncodedPair, PairEncoder, PairInput

ENCODE_IN_THREAD_PAIRS = 64


def load_encoder(checkpoint: Checkpoint) -> PairEncoder:
    """The checkpoint's pair encoder (per model kind; blocking: call in a thread)."""
    from models.loading import load_pair_encoder

    return load_pair_encoder(checkpoint)  # type: ignore[return-value]  # same interface for both kinds


async def encode(encoder: PairEncoder, pairs: Sequence[PairInput]) -> list[EncodedPair]:
    """Encode on the event loop, or in a worker thread for a large request (see the module docstring)."""
    if len(pairs) < ENCODE_IN_THREAD_PAIRS:
        return encoder.encode_batch(pairs)
    return await asyncio.to_thread(encoder.encode_batch, pairs)
