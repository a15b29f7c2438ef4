"""The configuration of training: one fine-tuning (`TrainConfig`) and a whole run (`RunConfig`, a YAML file).

Every stage reads these; none of them imports a stage, so `finetune`, `merge` and `pipeline` depend on
this module and not on each other. Defaults are the paper's recipe (arXiv 2510.25428). Unknown keys are
errors everywhere, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from models import InputSpec, Task, TranslationSpec
from models.tasks import partner_of
from models.translation import APERTIUM_ROUTES, normalize_language

DEFAULT_MAX_LENGTH = 2048
MIN_MAX_LENGTH = 16
# The `InputSpec` fields a run config writes flat in its `train:` section (`max_length: 64`); they live
# in `TrainConfig.input`, and `TrainConfig` serialises them flat again, so configs, `finetune.json`,
# run records and model cards keep one shape.
INPUT_FIELDS = tuple(InputSpec.model_fields)


class LoraSettings(BaseModel):
    """The paper's adapter: r=16, alpha=32, dropout 0.01 on every linear projection; head trained fully."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.01, ge=0.0, lt=1.0)
    # "all-linear" = q,k,v,o,gate,up,down (decoders) / every encoder linear (BERT); the classification
    # head is excluded here and trained in full through peft's SEQ_CLS `modules_to_save`.
    target_modules: str | list[str] = "all-linear"


def nest_input_fields(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the flat `InputSpec` keys (`max_length`, `query_format`, `query_format_translated`,
    `task_prefix`, `uses_translation`) moved under `input`; a key given both ways is refused."""
    flat = {k: values[k] for k in INPUT_FIELDS if k in values}
    nested = values.get("input", {})
    if isinstance(nested, InputSpec):
        nested = nested.model_dump(exclude_unset=True)
    if not isinstance(nested, dict):
        return values  # not a mapping: pydantic reports it
    twice = sorted(set(flat) & set(nested))
    if twice:
        raise ValueError(f"{twice} given both at the top of train and under train.input; give each once")
    rest = {k: v for k, v in values.items() if k not in INPUT_FIELDS}
    return {**rest, "input": {"max_length": DEFAULT_MAX_LENGTH, **nested, **flat}}


class TrainConfig(BaseModel):
    """Hyper-parameters of one fine-tuning run. Defaults are the paper's recipe (arXiv 2510.25428)."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(description="a Hugging Face model directory or a base name (`bases list`)")
    tasks: list[Task] = Field(default_factory=lambda: [Task.QC], min_length=1)
    # How pairs become model input, exactly as the published card will say (max_length defaults to
    # 2048 here). Joint (multi-task) models mark the task in front of the query: `input.task_prefix`
    # defaults to each task's registered prefix.
    input: InputSpec = Field(default_factory=lambda: InputSpec(max_length=DEFAULT_MAX_LENGTH))
    lora: LoraSettings = Field(default_factory=LoraSettings)
    full_finetune: bool = False
    # Full fine-tuning only: keep the token embeddings fixed. A multilingual vocabulary is most of a small
    # model (e5-small: 96M of 118M weights); a few thousand pairs barely move it, and its gradient and
    # Adam state dominate the step time and memory on CPU.
    freeze_embeddings: bool = False
    num_labels: Literal[1, 2] = 2  # 2 = softmax + cross-entropy, as the paper
    learning_rate: float = Field(default=1e-5, gt=0)
    lr_scheduler: str = "constant"
    warmup_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    epochs: float = Field(default=2.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    # Examples per optimizer step = batch_size x grad_accum on any number of processes (`per_device_batch`),
    # so results do not depend on the GPU count; batch_size is also the most one device runs at once.
    batch_size: int = Field(default=16, ge=1)
    eval_batch_size: int = Field(default=64, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    # How often the eval set is scored (its F1 a learning curve) and a checkpoint saved; never a step
    # picked: every model trains the whole schedule and keeps its last step.
    eval_steps: int = Field(default=200, ge=1)
    logging_steps: int = Field(default=10, ge=1)
    save_total_limit: int = Field(default=2, ge=1)
    seed: int = 42
    # None = bf16 mixed precision when the GPU supports it (the paper trained in bf16), else fp32.
    bf16: bool | None = None
    model_dtype: Literal["float32", "bfloat16"] = "float32"  # weights as loaded for training
    save_dtype: Literal["float32", "bfloat16"] = "float32"  # weights of the published checkpoint
    gradient_checkpointing: bool = False
    group_by_length: bool = True
    dataloader_workers: int = Field(default=0, ge=0)
    deepspeed: str | None = Field(
        default=None, description="DeepSpeed JSON config (ZeRO-2: configs/ds_zero2.json)"
    )

    @model_validator(mode="before")
    @classmethod
    def _nest_input(cls, values: Any) -> Any:
        return nest_input_fields(values) if isinstance(values, dict) else values

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError("tasks must not repeat")
        if self.input.max_length < MIN_MAX_LENGTH:
            raise ValueError(f"max_length must be at least {MIN_MAX_LENGTH}, got {self.input.max_length}")
        if self.joint:
            for task in self.tasks:
                self.input.task_prefix.setdefault(task, task.spec.task_prefix)
        unknown = [t.value for t in self.input.task_prefix if t not in self.tasks]
        if unknown:
            raise ValueError(f"task_prefix given for tasks the model does not train: {unknown}")
        if self.freeze_embeddings and not self.full_finetune:
            raise ValueError("freeze_embeddings is for full_finetune: true (LoRA keeps the embeddings fixed)")
        return self

    @model_serializer(mode="wrap")
    def _flat_input(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The input fields in place of `input`, in the order a config file lists them.
        out: dict[str, Any] = {}
        for key, value in handler(self).items():
            if key == "input" and isinstance(value, dict):
                out.update(value)
            else:
                out[key] = value
        return out

    @property
    def joint(self) -> bool:
        return len(self.tasks) > 1

    @property
    def effective_batch_size(self) -> int:
        """Examples per optimizer step, on any number of processes."""
        return self.batch_size * self.grad_accum

    def per_device_batch(self, processes: int) -> tuple[int, int]:
        """(per-device batch, accumulation steps) giving `effective_batch_size` examples per optimizer step
        over `processes`, at most `batch_size` per device at once, in the fewest accumulation steps."""
        share, rest = divmod(self.effective_batch_size, processes)
        if rest or not share:
            raise ValueError(
                f"the effective batch (batch_size {self.batch_size} x grad_accum {self.grad_accum} = "
                f"{self.effective_batch_size}) does not split evenly over {processes} processes; "
                "make it a multiple of the process count"
            )
        accum = -(-share // self.batch_size)
        while share % accum:
            accum += 1
        return share // accum, accum


class ModelTranslation(BaseModel):
    """A local seq2seq MT model (MADLAD-400 / NLLB / Marian): the paper's engine, for GPU users."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["seq2seq"] = "seq2seq"
    model: Path = Field(description="local seq2seq MT model directory (MADLAD-400 / NLLB / Marian)")
    cache: Path = Field(description="append-only JSONL translation cache, reused across runs")
    batch_size: int = Field(default=16, ge=1)
    device: str = "cpu"


class ApertiumTranslation(BaseModel):
    """Rule-based Apertium (`models.translation`): CPU-cheap, and the service runs it for requests that
    come without `query_en`."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["apertium"]
    languages: list[str] | None = Field(
        default=None, description="source languages to translate (default: every route, es fr it pt)"
    )
    cache: Path | None = Field(default=None, description="append-only JSONL translation cache (optional)")

    @field_validator("languages")
    @classmethod
    def _routed(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        value = sorted({normalize_language(lang) for lang in value})
        unknown = [lang for lang in value if lang not in APERTIUM_ROUTES]
        if unknown or not value:
            raise ValueError(f"apertium translates {sorted(APERTIUM_ROUTES)} to English; got {value}")
        return value


# How a run fills `query_en`: not at all, from the data's column, or with an MT engine.
Translation = Literal["none", "column"] | ModelTranslation | ApertiumTranslation


def translation_spec(translation: Translation) -> TranslationSpec | None:
    """What the model card records of a run's `translation` (the service builds its translator from it)."""
    if translation == "none":
        return None
    if translation == "column":
        return TranslationSpec(engine="column")
    if isinstance(translation, ModelTranslation):
        return TranslationSpec(engine="seq2seq", model=translation.model.name)
    return TranslationSpec(engine="apertium", languages=translation.languages or sorted(APERTIUM_ROUTES))


def translation_name(translation: Translation) -> str:
    """The run's translation in one word, for reports and run records."""
    if isinstance(translation, str):
        return translation
    return "apertium" if isinstance(translation, ApertiumTranslation) else str(translation.model)


class CVConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    folds: int = Field(default=5, ge=2)
    seed: int = 42
    # A budgeted comparison: train and score only these folds (the folds themselves are unchanged, so
    # the numbers are comparable across runs); thresholds and metrics then come from their held-out
    # examples only, and the report says so.
    only_folds: list[int] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _check_only_folds(self) -> CVConfig:
        if self.only_folds is not None:
            bad = [k for k in self.only_folds if not 0 <= k < self.folds]
            if bad or len(set(self.only_folds)) != len(self.only_folds):
                raise ValueError(
                    f"cv.only_folds {self.only_folds} must be distinct fold numbers in 0..{self.folds - 1}"
                )
        return self

    @property
    def trained_folds(self) -> list[int]:
        return sorted(self.only_folds) if self.only_folds is not None else list(range(self.folds))


class RunConfig(BaseModel):
    """A run config file (YAML). Unknown keys are errors, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="published checkpoint name")
    tasks: list[Task] = Field(
        min_length=1, description="registered tasks: one, or several for a joint model ([qc, qi])"
    )
    data: dict[Task, Path] = Field(description="labelled training file per task (JSONL or CSV)")
    # Cross-task pre-training ("TAPT" in the paper): fine-tune on the partner task's data first.
    pretrain_data: Path | None = None
    pretrain_overrides: dict[str, Any] = Field(
        default_factory=dict, description="train fields for pre-training"
    )
    translation: Translation = "none"
    cv: CVConfig = Field(default_factory=CVConfig)
    # Declared after `tasks` and `translation`: its validator reads them.
    train: TrainConfig
    final: Literal["retrain", "fold_average"] = "retrain"
    data_on_error: Literal["fail", "drop"] = "fail"
    # Trainer checkpoints (weights + optimizer state) exist to resume an interrupted run; once the run
    # has published, they are deleted unless kept. Fold/final models, scores and reports always stay.
    keep_checkpoints: bool = False
    models_dir: Path = Path("models")
    work_dir: Path | None = None  # default runs/<name>
    report_dir: Path | None = None  # default <work_dir>/report

    @field_validator("train", mode="before")
    @classmethod
    def _train_follows_the_run(cls, train: Any, info: ValidationInfo) -> Any:
        """`train.tasks` is the run's `tasks`, `train.uses_translation` whether the run translates and
        `train.translation` what the card records of it: all set from the top level, and a train section
        that says otherwise is refused."""
        if isinstance(train, TrainConfig):
            train = train.model_dump(exclude_unset=True)  # what was given, not the defaults
        if not isinstance(train, dict) or "tasks" not in info.data:
            return train  # pydantic reports the malformed section (or the bad run tasks) itself
        tasks = [t.value for t in info.data["tasks"]]
        translates = info.data.get("translation", "none") != "none"
        record = translation_spec(info.data.get("translation", "none"))
        train = nest_input_fields(train)
        given_input = train.get("input")
        if not isinstance(given_input, dict):
            return train
        if "tasks" in train and train["tasks"] != tasks:
            _contradiction("tasks", train["tasks"], tasks)
        if "uses_translation" in given_input and given_input["uses_translation"] != translates:
            _contradiction("uses_translation", given_input["uses_translation"], translates)
        given = given_input.get("translation")
        if given is not None and TranslationSpec.model_validate(given) != record:
            _contradiction("translation", given, record)
        return {
            **train,
            "tasks": tasks,
            "input": {**given_input, "uses_translation": translates, "translation": record},
        }

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        missing = [t.value for t in self.tasks if t not in self.data]
        if missing:
            raise ValueError(f"data: no file for task(s) {missing}")
        extra = [t.value for t in self.data if t not in self.tasks]
        if extra:
            raise ValueError(f"data: file given for task(s) {extra} that the run does not train")
        if self.pretrain_data is not None and len(self.tasks) > 1:
            raise ValueError("pretrain_data is for single-task runs (a joint model already trains on both)")
        if self.pretrain_data is not None:
            partner_of(self.tasks[0])  # a task without a cross-task partner cannot pre-train
        if self.final == "fold_average" and not self.cv.enabled:
            raise ValueError("final: fold_average needs cv.enabled: true (the fold models are the ensemble)")
        if self.work_dir is None:
            self.work_dir = Path("runs") / self.name
        if self.report_dir is None:
            self.report_dir = self.work_dir / "report"
        return self

    def pretrain_config(self) -> TrainConfig:
        """The fine-tuning on the partner task's data (cross-task pre-training)."""
        partner = partner_of(self.tasks[0])
        fields = {**self.train.model_dump(), "tasks": [partner], "task_prefix": {}, **self.pretrain_overrides}
        return TrainConfig.model_validate(fields)


def _contradiction(key: str, given: Any, run: Any) -> None:
    raise ValueError(
        f"train.{key} ({given!r}) contradicts the run's setting ({run!r}); "
        f"drop train.{key}, it is set from the top level"
    )


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown key (typo? see `python -m training run --help` for the keys)")
        else:
            lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def load_run_config(path: str | Path) -> RunConfig:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"run config {path} not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"run config {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"run config {path} must be a mapping of keys (name, tasks, data, train, ...)")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"invalid run config {path}:\n{_format_errors(exc)}") from None


CONFIG_HELP = """\
run config keys (YAML; unknown keys are errors):
  name                 checkpoint name published into models_dir
  tasks                [qc] | [qi] | [qc, qi] (one joint model with a task prefix)
  data                 {qc: FILE, qi: FILE}: labelled JSONL/CSV per task
  pretrain_data        FILE of the partner task: cross-task pre-training first (single-task runs; per fold,
                       without the rows of the held-out fold's queries)
  pretrain_overrides   train fields for the pre-training (e.g. {epochs: 1})
  translation          none | column (data's query_en) | {engine: apertium, languages: [es, fr, it, pt],
                       cache: FILE} (rule-based, CPU; the service translates the same way) |
                       {model: MT_DIR, cache: FILE, batch_size, device} (a seq2seq MT model)
  cv                   {enabled: true, folds: 5, seed: 42, only_folds: null}: group k-fold, OOF thresholds
                       and metrics; only_folds [0] trains and scores fold 0 alone (a budgeted comparison)
  train                fine-tuning fields (training.config.TrainConfig): base_model, max_length, lora {r,
                       alpha, dropout, target_modules}, full_finetune, learning_rate, lr_scheduler, epochs,
                       max_steps, batch_size, grad_accum, eval_steps, seed, bf16, num_labels, ...; every
                       model trains the whole schedule and keeps its last step (eval_steps only log
                       held-out F1)
  final                retrain (all data, the fold models' schedule) | fold_average (publish <name>-fold<k>)
  data_on_error        fail | drop: invalid data rows stop the run or are dropped and counted
  keep_checkpoints     keep Trainer checkpoints after a successful run (default false: deleted)
  models_dir           model store (default models); work_dir (default runs/<name>, resumable);
  report_dir           (default <work_dir>/report)
"""
