"""Service settings: every field is an environment variable `RELEVANCE_<NAME>` and a CLI flag `--<name>`.

Which checkpoint serves which task is `task_models` (`RELEVANCE_TASK_MODELS='{"qc": "name"}'` or
`qc=name,qi=name`); each registered task also accepts its own `<task>_model` setting
(`RELEVANCE_QC_MODEL`, `--qc-model`, `Settings(qc_model=...)`), the names used before `task_models`.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from models import Task, registered_tasks
from models.inference import BATCH_COST_TOKENS

ENV_PREFIX = "RELEVANCE_"
MAX_BATCH_PAIRS = 4096  # the most `batch_max_pairs` may be
# What a reload does once `auto` is resolved (`Settings.resolved_reload_strategy`).
ReloadStrategy = Literal["side_by_side", "replace"]
# What runs a bi-encoder's transformer on the torch backend (`Settings.encoder_runtime`).
EncoderRuntime = Literal["torch", "onnxruntime"]


def task_model_key(task: Task) -> str:
    """The per-task setting of `task` ("qc_model"): an env variable, a CLI flag and a keyword."""
    return f"{task}_model"


def parse_task_models(value: Any) -> dict[str, str]:
    """`{"qc": "name"}` as a mapping, its JSON, or `qc=name,qi=name`; empty names are dropped."""
    if value is None:
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            value = json.loads(text)
        else:
            value = {}
            for item in filter(None, (part.strip() for part in text.split(","))):
                task, sep, name = item.partition("=")
                if not sep:
                    raise ValueError(f"task_models entry {item!r} is not task=model")
                value[task.strip()] = name.strip()
    if not isinstance(value, Mapping):
        raise ValueError("task_models must be a mapping of task to model")
    return {str(task): str(name) for task, name in value.items() if name}


def fold_task_models(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with every `<task>_model` key folded into `task_models` (the per-task key wins)."""
    per_task = {
        task: data.pop(task_model_key(task)) for task in registered_tasks() if task_model_key(task) in data
    }
    if "task_models" in data or per_task:
        try:
            merged = parse_task_models(data.get("task_models"))
        except ValueError:
            return data  # invalid: left as given, for the field's validator to report
        merged.update({task: str(name) for task, name in per_task.items() if name})
        data["task_models"] = merged
    return data


def cuda_visible() -> bool:
    """Whether torch sees a CUDA device (imported only when asked: the torch backend never asks)."""
    import torch

    return torch.cuda.is_available()


def is_loopback(host: str | None) -> bool:
    """Whether `host` (an address, or "localhost") is on the loopback interface: 127.0.0.0/8, ::1, or
    127.x written as an IPv4-mapped IPv6 address. Anything else, a name or nothing included, is not."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def security_warnings(settings: Settings) -> list[str]:
    """What start-up warns about: a service reachable beyond this machine with no API keys. Names the
    settings, never their values."""
    if is_loopback(settings.host) or settings.api_keys:
        return []
    admin = (
        "admin routes need RELEVANCE_ADMIN_KEYS"
        if settings.admin_keys
        else "admin routes still answer loopback clients only (no RELEVANCE_ADMIN_KEYS set)"
    )
    return [
        f"listening on {settings.host or 'every interface'}:{settings.port}, beyond loopback, with no "
        "RELEVANCE_API_KEYS: anyone who can reach this port can score pairs and read the model cards; "
        f"set RELEVANCE_API_KEYS to require a key ({admin})"
    ]


class _TaskModelsSource:
    """Wraps a settings source so that its task models arrive as one `task_models` mapping; sources then
    merge per task (a flag for one task keeps the environment's model for another). The environment
    source also reads the per-task variables (`RELEVANCE_QC_MODEL`), which are not fields."""

    def __init__(self, inner: PydanticBaseSettingsSource, *, read_env: bool = False) -> None:
        self.inner = inner
        self.read_env = read_env
        self.__name__ = type(inner).__name__

    def __call__(self) -> dict[str, Any]:
        data = dict(self.inner())
        if self.read_env:
            env = {key.upper(): value for key, value in os.environ.items()}
            for task in registered_tasks():
                value = env.get(f"{ENV_PREFIX}{task_model_key(task)}".upper())
                if value:
                    data.setdefault(task_model_key(task), value)
        return fold_task_models(data)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", protected_namespaces=())

    # --- models ---
    backend: Literal["torch", "vllm"] = Field("torch", description="scoring runtime")
    models_dir: Path = Field(Path("models"), description="model store root (checkpoints are looked up here)")
    model: str | None = Field(
        None, description="one joint checkpoint serving every task it lists (name or path)"
    )
    task_models: Annotated[dict[Task, str], NoDecode] = Field(
        default_factory=dict,
        description='checkpoint per task (name in the store or path): JSON {"qc": "name"} or '
        "qc=name,qi=name; each task also has its own --<task>-model flag",
    )
    device: str = Field("cpu", description="torch device, e.g. cpu or cuda:0")
    dtype: str | None = Field(
        None, description="weights dtype (float32, bfloat16, float16); default: the card's"
    )
    num_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads (default: torch's choice)"
    )
    torch_compile: bool = Field(
        True,
        description="torch backend: run the model under torch.compile (frozen weights, ~2x on CPU; "
        "compiles ~30 s while warming up, needs a C++ compiler on CPU; falls back to eager if it fails)",
    )
    encoder_runtime: EncoderRuntime = Field(
        "torch",
        description="torch backend, bi-encoders on the CPU: what runs the sentence encoder's transformer. "
        "onnxruntime exports it to ONNX at load (a temporary folder, removed when the model closes) and "
        "checks it against torch (max |Δ| <= 1e-4 on embeddings); a failed export or check logs a warning "
        "and serves with torch. Needs the serving-onnx extra; cross-encoders and vLLM ignore it",
    )
    backend_options: dict[str, Any] = Field(
        default_factory=dict, description="backend-specific options as JSON (e.g. vLLM engine arguments)"
    )

    warm_targets: dict[Task, Path] = Field(
        default_factory=dict,
        description="bi-encoder models: a text file per task, one target (category path, item title) a line, "
        'embedded at load before the model serves, e.g. {"qc": "categories.txt"} (service.targets)',
    )

    # --- hot reload ---
    reload_strategy: Literal["auto", "side_by_side", "replace"] = Field(
        "auto",
        description="how a reload (POST /admin/reload, SIGHUP) swaps models: side_by_side loads the new "
        "model beside the old one (no downtime, both in memory meanwhile); replace drains the requests in "
        "flight, frees the old model, then loads the new one (readiness and scoring answer 503 with "
        "Retry-After meanwhile; a failed load loads the old model again); auto: replace for vLLM on a GPU, "
        "where a second engine rarely fits beside the first, side_by_side otherwise",
    )
    reload_drain_s: float = Field(
        30.0,
        ge=0,
        description="replace reloads: longest wait for requests in flight on the old model before it is "
        "closed anyway (those still running then fail with a retryable 503)",
    )

    # --- micro-batching ---
    batch_max_pairs: int | None = Field(
        None,
        ge=1,
        le=MAX_BATCH_PAIRS,
        description="most pairs in one model batch; default by model kind: cross-encoder 64, bi-encoder 256 "
        "(a bi-encoder's batch costs its distinct queries, so more pairs put more queries in one pass)",
    )
    batch_max_tokens: int = Field(8192, ge=16, description="most padded tokens in one model batch")
    batch_cost_tokens: int = Field(
        BATCH_COST_TOKENS,
        ge=0,
        description="torch backend: cut a batch rather than pad it by more than this many tokens "
        "(a batch's fixed cost; 28 fits MiniLM on CPU, raise it on GPU where big batches are cheap)",
    )
    batch_max_wait_ms: float | None = Field(
        None,
        ge=0,
        le=1000,
        description="longest a pair waits for a batch to fill; default by backend: torch 0 (a batch forms "
        "as soon as the model is free; waiting for company only delays a CPU, whose cost is linear in the "
        "pairs), vllm 1",
    )
    batch_concurrency: int | None = Field(
        None,
        ge=1,
        le=64,
        description="batches handed to the backend at once; default by backend: torch 1 (the next batch "
        "forms when the model frees up, from all that arrived meanwhile), vllm 8 (vLLM batches on its own)",
    )
    max_queue_pairs: int = Field(4096, ge=1, description="pairs waiting for a batch before requests get 429")
    cache_size: int = Field(100_000, ge=0, description="score cache entries (0 disables the cache)")

    # --- query translation (service.translation) ---
    translate_queries: bool = Field(
        True,
        description="fill a pair's missing query_en with the engine its model was trained with (the card's "
        "input.translation; apertium only), routed by the pair's language; off: scored untranslated",
    )
    apertium_binary: str = Field("apertium", description="the apertium command (a name on PATH or a path)")
    translation_timeout_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="longest a request waits for its query translations; pairs not translated by then are "
        "scored untranslated (counted)",
    )
    translation_cache_size: int = Field(
        100_000, ge=0, description="query translations kept, keyed by (language, query) (0 disables)"
    )

    # --- request limits ---
    max_pairs_per_request: int = Field(256, ge=1, description="most pairs in one request")
    max_chars_per_field: int = Field(2000, ge=1, description="longest query / category path / title / id")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body")
    request_timeout_s: float = Field(10.0, gt=0, description="a request not answered by then gets 504")
    retry_after_s: int = Field(1, ge=1, description="Retry-After seconds sent with 429 and 503")

    # --- security and process ---
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="comma-separated keys for the scoring and model routes, sent as Authorization: Bearer "
        "(empty = open)",
    )
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="comma-separated keys for the admin routes (POST /admin/reload), sent as Authorization: "
        "Bearer; empty = admin routes answer loopback clients (127.0.0.1, ::1) only",
    )
    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(8000, ge=0, le=65535, description="bind port")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    graceful_shutdown_s: float = Field(
        30.0, ge=0, description="longest shutdown waits for in-flight requests"
    )

    @classmethod
    def env_names(cls) -> set[str]:
        """Every environment variable the settings read: one per field, and each registered task's
        `RELEVANCE_<TASK>_MODEL`."""
        fields = {f"{ENV_PREFIX}{name.upper()}" for name in cls.model_fields}
        return fields | {f"{ENV_PREFIX}{task_model_key(task).upper()}" for task in registered_tasks()}

    @property
    def batch_wait_s(self) -> float:
        """`batch_max_wait_ms` in seconds, or the backend's default (measured on the torch backend, 0 vs
        5 ms: one pair per request, one client 89 -> 209 pairs/s, 32 clients 344 -> 404; 16 pairs per
        request, one client 417 -> 485, 32 clients the same)."""
        if self.batch_max_wait_ms is not None:
            return self.batch_max_wait_ms / 1000
        return 0.001 if self.backend == "vllm" else 0.0

    def max_batch_pairs(self, kind: str) -> int:
        """`batch_max_pairs`, or the default for a model `kind` (the card's). A cross-encoder's batch costs
        the sum of its pairs; a bi-encoder's costs the distinct queries in it (targets come from its
        cache): with 64 pairs a batch held 4 queries of K = 16 and the EmbeddingGemma service reached 0.75x
        its in-process ceiling (docs/benchmarks.md)."""
        if self.batch_max_pairs is not None:
            return self.batch_max_pairs
        return 256 if kind == "bi-encoder" else 64

    @property
    def batches_in_flight(self) -> int:
        """`batch_concurrency`, or the backend's default (measured: torch at 1 vs 2 in flight, +14 %
        pairs/s with one pair per request and the same at 16; vLLM needs several to fill its engine)."""
        if self.batch_concurrency is not None:
            return self.batch_concurrency
        return 8 if self.backend == "vllm" else 1

    @property
    def resolved_reload_strategy(self) -> ReloadStrategy:
        """`reload_strategy`, with `auto` resolved: the one place that rule lives. vLLM on a GPU takes a
        fixed share of the GPU's memory per engine (`gpu_memory_utilization`, 0.9 by default), so a second
        engine beside the first rarely fits; on a CPU, or with the torch backend, both models usually fit
        and a side-by-side swap has no downtime."""
        if self.reload_strategy != "auto":
            return self.reload_strategy
        # `device` is the torch backend's; vLLM picks its device itself: CUDA whenever torch sees one.
        on_gpu = self.backend == "vllm" and (self.device.startswith("cuda") or cuda_visible())
        return "replace" if on_gpu else "side_by_side"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[Any, ...]:
        return (
            _TaskModelsSource(init_settings),
            _TaskModelsSource(env_settings, read_env=True),
            _TaskModelsSource(dotenv_settings),
            file_secret_settings,
        )

    @model_validator(mode="before")
    @classmethod
    def _fold_task_models(cls, data: Any) -> Any:
        return fold_task_models(dict(data)) if isinstance(data, Mapping) else data

    @field_validator("task_models", mode="before")
    @classmethod
    def _parse_task_models(cls, value: Any) -> Any:
        return parse_task_models(value)

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.model and self.task_models:
            raise ValueError("set either model (one joint checkpoint) or per-task models, not both")
        if self.max_pairs_per_request > self.max_queue_pairs:
            raise ValueError(
                f"max_pairs_per_request ({self.max_pairs_per_request}) exceeds max_queue_pairs "
                f"({self.max_queue_pairs}): such a request could never be queued"
            )
        return self
