"""HTTP plumbing shared by every route: the one error body, request ids, limits on the body, per-request
metrics and access logs (pure ASGI, so streaming and disconnects pass through untouched), and the one place
a request whose client went away is cancelled (`cancel_on_disconnect`, counted as 499 here)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Collection
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import STATUS, ApiError, ErrorBody, ErrorType
from service.logs import request_id
from service.metrics import Metrics

log = logging.getLogger("service.access")
T = TypeVar("T")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
_HTTP_ERRORS = {
    404: ErrorType.NOT_FOUND,
    405: ErrorType.METHOD_NOT_ALLOWED,
    413: ErrorType.BODY_TOO_LARGE,
    401: ErrorType.UNAUTHORIZED,
    422: ErrorType.VALIDATION_ERROR,
}


class BodyTooLarge(StarletteHTTPException):
    """An HTTPException so FastAPI's body reader lets it through instead of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


class ClientDisconnected(Exception):
    """The client went away before its answer was ready; the work for it was cancelled."""


async def _disconnected(request: Request) -> None:
    """Resolves when the client closes the connection (the body has been read by then)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """`await work`, unless the client disconnects first: then `work` is cancelled (and with it whatever
    it queued) and `ClientDisconnected` raised, which the middleware logs and counts as 499."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():  # the client left, or this request itself was cancelled
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        watcher.cancel()
    if task.cancelled():
        raise ClientDisconnected
    return task.result()


def error_response(err: ApiError, metrics: Metrics | None) -> JSONResponse:
    """The only way an error leaves the service: one body shape, one status map, always counted."""
    if metrics is not None:
        metrics.rejected.labels(reason=err.type.value).inc()
    return JSONResponse(ErrorBody.of(err), status_code=STATUS[err.type], headers=err.headers)


def _metrics_of(request: Request) -> Metrics | None:
    return getattr(request.app.state, "metrics", None)


def _param(loc: tuple[Any, ...]) -> str:
    out = ""
    if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:]  # where the value came from, not part of its name
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc, _metrics_of(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        param = _param(tuple(first.get("loc", ()))) or None
        details = "; ".join(
            f"{_param(tuple(e.get('loc', ()))) or 'body'}: {e.get('msg')}" for e in errors[:5]
        )
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        return error_response(
            ApiError(ErrorType.VALIDATION_ERROR, details + more, param=param), _metrics_of(request)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _HTTP_ERRORS.get(exc.status_code, ErrorType.INVALID_REQUEST)
        message = exc.detail if isinstance(exc.detail, str) else kind.value
        if kind is ErrorType.NOT_FOUND:
            message = f"no route {request.method} {request.url.path}; see /docs"
        return error_response(ApiError(kind, message, headers=dict(exc.headers or {})), _metrics_of(request))


def task_label(path: str, tasks: Collection[str]) -> str | None:
    """Metrics label of an API path: the task for scoring routes of `tasks` (the app's routed tasks),
    "unknown" for other scoring paths, "none" for other API routes, None for probes and metrics."""
    if path.startswith("/v1/relevance/"):
        task = path.removeprefix("/v1/relevance/").strip("/")
        return task if task in tasks else "unknown"
    if path in ("/v1/rerank", "/v2/rerank"):
        return "rerank"  # service.rerank: the task is in the body (its pairs are counted under it)
    if path.startswith(("/v1/", "/admin/")):
        return "none"
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, tasks: Collection[str]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.tasks = frozenset(tasks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics: Metrics | None = getattr(scope["app"].state, "metrics", None)
        headers = dict(scope["headers"])
        given = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        rid = given if _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        path: str = scope["path"]
        task = task_label(path, self.tasks)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())],
                }
            await send(message)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        scoring = task in self.tasks or task == "rerank"
        if scoring and metrics is not None:
            metrics.inflight.inc()
        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                err = ApiError(
                    ErrorType.BODY_TOO_LARGE,
                    f"request body of {int(declared)} bytes exceeds the limit of {self.max_body_bytes} bytes",
                    param="body",
                )
                await error_response(err, metrics)(scope, receive, send_with_id)
            else:
                await self.app(scope, limited_receive, send_with_id)
        except ClientDisconnected:
            status = STATUS[ErrorType.CLIENT_CLOSED]
            if metrics is not None:
                metrics.rejected.labels(reason=ErrorType.CLIENT_CLOSED.value).inc()
        except Exception:
            log.exception("unhandled error", extra={"path": path})
            if not response_started:
                err = ApiError(
                    ErrorType.INTERNAL_ERROR, f"internal error; quote request id {rid} when reporting it"
                )
                await error_response(err, metrics)(scope, receive, send_with_id)
            status = 500
        finally:
            elapsed = time.perf_counter() - started
            if scoring and metrics is not None:
                metrics.inflight.dec()
            if task is not None and metrics is not None:
                metrics.requests.labels(task=task, status=str(status)).inc()
                metrics.request_duration.labels(task=task).observe(elapsed)
            level = logging.INFO if task is not None or status >= 400 else logging.DEBUG
            log.log(
                level,
                "request",
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id.reset(token)
