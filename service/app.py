"""`create_app(settings)`: the FastAPI application. Nothing happens at import time: the routes of every
task registered by then are generated when the app is created, and all state is built in `lifespan` and
kept on `app.state`, so several apps can live in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from fastapi import FastAPI

from models import ModelStore, Task, registered_tasks
from service.backends import BackendFactory, load_backend
from service.batcher import MicroBatcher
from service.cache import ScoreCache
from service.deployment import ModelManager
from service.deps import Services, install_openapi_security
from service.errors import ApiError
from service.http import RequestContextMiddleware, install_error_handlers
from service.metrics import Metrics
from service.plan import ModelRefs
from service.relevance import api_router as relevance
from service.relevance.serving import ScoringService
from service.rerank import api_router as rerank
from service.routers import admin, health, metrics, models
from service.routers.health import check_ready
from service.settings import MAX_BATCH_PAIRS, Settings
from service.translation import QueryTranslations

log = logging.getLogger(__name__)


def build_services(settings: Settings, factory: BackendFactory) -> Services:
    metrics = Metrics()
    cache = ScoreCache(settings.cache_size)
    batcher = MicroBatcher(
        # The backend's limit is the pair budget (`Settings.max_batch_pairs`: by model kind, so per model).
        max_batch_pairs=settings.batch_max_pairs or MAX_BATCH_PAIRS,
        max_batch_tokens=settings.batch_max_tokens,
        max_wait_s=settings.batch_wait_s,
        max_queue_pairs=settings.max_queue_pairs,
        concurrency=settings.batches_in_flight,
        retry_after_s=settings.retry_after_s,
        metrics=metrics,
    )
    manager = ModelManager(
        refs=ModelRefs.of(settings),
        store=ModelStore(settings.models_dir),
        factory=factory,
        settings=settings,
        metrics=metrics,
    )
    scoring = ScoringService(
        settings=settings,
        manager=manager,
        batcher=batcher,
        cache=cache,
        metrics=metrics,
        translations=QueryTranslations(settings, metrics),
    )
    return Services(
        settings=settings, metrics=metrics, cache=cache, batcher=batcher, manager=manager, scoring=scoring
    )


def create_app(settings: Settings | None = None, *, backend_factory: BackendFactory | None = None) -> FastAPI:
    """The service app; `backend_factory(checkpoint, settings) -> Backend` defaults to settings.backend's."""
    settings = settings if settings is not None else Settings()
    factory = backend_factory or load_backend

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, factory)
        app.state.services = services
        app.state.metrics = services.metrics
        services.batcher.start()
        # Loading runs in the background: /health/live answers at once, /health/ready once warmed.
        loader = asyncio.create_task(_initial_load(services), name="initial-model-load")
        sighup = _install_sighup(services)
        try:
            yield
        finally:
            if sighup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loader
            services.metrics.ready.set(0)
            await services.batcher.stop(timeout=settings.graceful_shutdown_s)
            await services.scoring.translations.close()
            await services.manager.close()
            log.info("shut down cleanly")

    tasks = registered_tasks()
    app = FastAPI(
        title="Relevance scoring service",
        summary=f"Multilingual e-commerce {_kinds(tasks)} relevance scores",
        version="1",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_openapi_security(app, settings)  # declares a key only where one is configured
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes, tasks=tasks)
    routers = (relevance.build_router(tasks), models.router, health.router, admin.build_router(tasks))
    for router in (*routers, metrics.router):
        app.include_router(router)
    app.include_router(rerank.build_router(tasks))
    return app


def _kinds(tasks: list[Task]) -> str:
    """The tasks as the API's summary names them: "query-category (QC) and query-item (QI)"."""
    kinds = [
        f"{t.spec.summary.removeprefix('Score ').removesuffix(' pairs')} ({t.value.upper()})" for t in tasks
    ]
    return " and ".join(filter(None, [", ".join(kinds[:-1]), kinds[-1]])) if kinds else "no"


async def _initial_load(services: Services) -> None:
    await services.manager.load_initial()
    with contextlib.suppress(ApiError):
        await check_ready(services)


def _install_sighup(services: Services) -> bool:
    """SIGHUP reloads the configured checkpoints (only possible when serving from the main thread)."""

    def on_sighup() -> None:
        log.info("SIGHUP: reloading models")
        services.manager.reload_in_background()

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_sighup)
    except (ValueError, RuntimeError, NotImplementedError):
        return False
    return True
