"""`python -m service`: run the scoring service under uvicorn. Every flag mirrors a `RELEVANCE_*` setting;
each registered task also has its own `--<task>-model` flag (`RELEVANCE_<TASK>_MODEL`)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Any, get_args

from pydantic import ValidationError


def build_parser() -> argparse.ArgumentParser:
    from models import registered_tasks
    from service.settings import ENV_PREFIX, Settings, task_model_key

    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Relevance scoring service. Flags override RELEVANCE_* variables.",
    )
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        choices = get_args(field.annotation) if "Literal" in str(field.annotation) else None
        default = field.default if field.default_factory is None else field.default_factory()
        help_text = f"{field.description} [env {ENV_PREFIX}{name.upper()}; default {default!s}]"
        if name == "backend_options":
            parser.add_argument(flag, type=json.loads, default=None, help=help_text)
        else:
            parser.add_argument(flag, choices=choices or None, default=None, help=help_text)
        if name == "task_models":
            for task in registered_tasks():
                key = task_model_key(task)
                parser.add_argument(
                    "--" + key.replace("_", "-"),
                    dest=key,
                    default=None,
                    help=f"checkpoint serving {task.value.upper()} (name in the store or path) "
                    f"[env {ENV_PREFIX}{key.upper()}]",
                )
    return parser


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from models import CheckpointError, ModelStore
    from service.app import create_app
    from service.logs import configure_logging
    from service.plan import ModelRefs, plan_checkpoints
    from service.settings import Settings, security_warnings

    args = build_parser().parse_args(argv)
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        print(f"error: invalid settings: {problems}", file=sys.stderr)
        return 2
    try:  # fail fast on a missing or broken checkpoint instead of serving 503 forever
        plan_checkpoints(ModelRefs.of(settings), ModelStore(settings.models_dir), verify_weights=False)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    for warning in security_warnings(settings):  # names settings, never key values
        logging.getLogger("service").warning(warning)
    # uvicorn handles SIGTERM/SIGINT itself (stop accepting, finish in-flight requests, lifespan shutdown)
    # and then re-raises the signal with the handlers it found installed; no-op handlers make that
    # final re-raise a clean exit 0 instead of death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
