"""The task registry: everything that differs between relevance tasks lives in one `TaskSpec`.

A task is a kind of pair the project scores: QC (query -> category path) and QI (query -> item title)
are registered here. Formatting, data files, CV folds, fine-tuning, the model card, the HTTP routes and
schemas, settings, metrics and the client all read the registry, so a new task is one
`register_task(TaskSpec(...))` call; code never branches on a task's name. An unregistered name fails
loudly wherever it enters (a card, a data row, a config, a URL).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

# Levels of a category path are joined by "," with no space, while some level names contain ", "
# ("cakes, biscuits").
_LEVEL_SEP = re.compile(r",(?! )")
_SPACES = re.compile(r"\s+")


def category_levels(path: str) -> list[str]:
    """The levels of a category path: split on a comma that is not followed by a space."""
    return [level.strip() for level in _LEVEL_SEP.split(path)]


def normalise_query(query: str) -> str:
    return _SPACES.sub(" ", query.casefold()).strip()


class UnknownTaskError(ValueError):
    """A task name that is not in the registry."""


class Task(str):
    """The name of a registered task ("qc", "qi", ...): a `str`, so it is a dict key, a JSON value and a
    metrics label as it is. `Task(name)` refuses an unregistered name; one instance exists per name."""

    __slots__ = ()
    _instances: ClassVar[dict[str, Task]] = {}
    QC: ClassVar[Task]
    QI: ClassVar[Task]

    def __new__(cls, name: object) -> Task:
        if isinstance(name, Task):
            return name
        found = cls._instances.get(name) if isinstance(name, str) else None
        if found is None or str(found) not in _REGISTRY:
            known = ", ".join(sorted(_REGISTRY)) or "none"
            raise UnknownTaskError(f"unknown task {name!r}; registered tasks: {known}")
        return found

    @classmethod
    def _make(cls, name: str) -> Task:
        task = cls._instances.get(name)
        if task is None:
            task = cls._instances[name] = str.__new__(cls, name)
        return task

    @property
    def value(self) -> str:
        return str(self)

    @property
    def spec(self) -> TaskSpec:
        return _REGISTRY[str(self)]

    def __repr__(self) -> str:
        return f"Task({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return Task, (str(self),)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        # Documents (OpenAPI) list the tasks registered when they are generated.
        return {"type": "string", "enum": [str(task) for task in registered_tasks()]}


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """What the project needs to know about one task."""

    name: str  # URL segment, metrics label, card and config key: lowercase letters, digits, _
    target_field: str  # column in data files and field in API requests: "category_path"
    target_label: str  # in messages and docs: "category path"
    summary: str  # one line for the API docs: "Score query-category pairs"
    target_description: str = ""  # the API field's description
    # The target may arrive as a list of levels (top level first) and is then joined with ",".
    target_levels: bool = False
    # Which end of the target a too-long pair loses: category paths keep their deepest levels ("left"
    # cuts from the start); titles keep their leading brand and product words ("right").
    truncate_from: Literal["left", "right"] = "right"
    task_prefix: str = ""  # a joint model's marker in front of the query
    warmup: tuple[str, str] = ("running shoes", "running shoes")  # (query, target) scored before serving
    # A few (query, target) pairs in several languages: what `merge` compares adapter and merged model on
    # when no check data is given.
    check_pairs: tuple[tuple[str, str], ...] = ()
    # Cross-validation: pairs with one group key share a fold; strata balance the folds.
    group_key: Callable[[str, str], str] = lambda query, target: normalise_query(query)
    group_meaning: str = "normalised query"
    strata_key: Callable[[str, str, int | None], str] = lambda language, target, label: f"{language}|{label}"
    partner: str | None = None  # the task cross-task pre-training trains on first

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", self.name):
            raise ValueError(f"task name {self.name!r} must be lowercase letters, digits or _ (<= 32)")
        if not self.target_field.isidentifier():
            raise ValueError(f"target_field {self.target_field!r} must be an identifier")

    def clean_target(self, target: str | Sequence[str]) -> str:
        """The target in its training-data form: whitespace collapsed, a list of levels joined by ","."""
        if isinstance(target, str):
            return " ".join(target.split())
        if not self.target_levels:
            raise TypeError(f"{self.name}: {self.target_field} must be a string")
        return ",".join(" ".join(level.split()) for level in target)


_REGISTRY: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec, *, replace: bool = False) -> Task:
    """Add a task to the registry (what a new task needs, and all it needs); returns its `Task`."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"task {spec.name!r} is already registered")
    if spec.partner is not None and spec.partner == spec.name:
        raise ValueError(f"task {spec.name!r} cannot be its own cross-task partner")
    _REGISTRY[spec.name] = spec
    return Task._make(spec.name)


def unregister_task(name: str) -> None:
    """Remove a task (tests that register a toy task clean up with this)."""
    _REGISTRY.pop(name, None)


def task_spec(task: str) -> TaskSpec:
    return Task(task).spec


def registered_tasks() -> list[Task]:
    """Every registered task, in name order (the order joint data, folds and reports use)."""
    return [Task._make(name) for name in sorted(_REGISTRY)]


def iter_specs() -> Iterator[TaskSpec]:
    return (_REGISTRY[name] for name in sorted(_REGISTRY))


def partner_of(task: Task) -> Task:
    partner = task.spec.partner
    if partner is None:
        raise ValueError(f"task {task} has no cross-task partner to pre-train on")
    return Task(partner)


def _qc_group(query: str, target: str) -> str:
    return ",".join(category_levels(target.casefold())[:3])


def _qc_strata(language: str, target: str, label: int | None) -> str:
    return f"{language}|{category_levels(target.casefold())[0]}|{label}"


Task.QC = register_task(
    TaskSpec(
        name="qc",
        target_field="category_path",
        target_label="category path",
        summary="Score query-category pairs",
        target_description='category path, "a,b,c" or ["a", "b", "c"] (top level first)',
        target_levels=True,
        truncate_from="left",
        task_prefix="query-category: ",
        warmup=("running shoes", "sports,shoes,running shoes"),
        check_pairs=(
            ("ドラクエ バッグ", "luggage & bags,women's handbags,waist packs"),
            ("funda movil", "phones & telecommunications,mobile phone accessories,cases"),
            ("chaussures de sport", "sports & entertainment,sneakers,running shoes"),
            ("여성 가방", "home & garden,kitchen,cookware"),
            ("yoga mat", "beauty & health,skin care,face cream"),
            ("capinha celular", "toys & hobbies,puzzles"),
        ),
        group_key=_qc_group,
        group_meaning="first 3 category levels",
        strata_key=_qc_strata,
        partner="qi",
    )
)
Task.QI = register_task(
    TaskSpec(
        name="qi",
        target_field="item_title",
        target_label="item title",
        summary="Score query-item pairs",
        target_description="the item title",
        truncate_from="right",
        task_prefix="query-item: ",
        warmup=("running shoes", "men's trail running shoe"),
        check_pairs=(
            ("ドラクエ バッグ", "women's leather crossbody handbag"),
            ("funda movil", "silicone case for phone 13"),
            ("chaussures de sport", "men's running shoes breathable"),
            ("여성 가방", "stainless steel frying pan 28cm"),
            ("yoga mat", "non slip yoga mat 6mm"),
            ("capinha celular", "transparent phone case shockproof"),
        ),
        partner="qc",
    )
)
