"""Loaded models as API objects."""

from __future__ import annotations

from service.deployment import ModelManager
from service.schemas import ModelInfo


def model_infos(manager: ModelManager) -> list[ModelInfo]:
    return [
        ModelInfo(
            name=m["card"].name,
            tasks=m["tasks"],
            backend=m["backend"],
            thresholds=m["card"].thresholds,
            max_length=m["card"].input.max_length,
            card=m["card"].model_dump(mode="json"),
        )
        for m in manager.describe()
    ]
