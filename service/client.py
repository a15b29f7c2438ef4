"""Python client for the scoring service (httpx), sync and async.

Retries 429 (overloaded) and 503 (not ready / backend unavailable) and connection failures with
exponential back-off and jitter, honouring the server's `Retry-After`; every other error is raised at
once as `RelevanceAPIError` carrying the service's error body. Which statuses are retried is the
service's own list (`service.errors.RETRYABLE`); the decision is one sans-I/O `RetryPolicy` that the
sync and async request loops share.

    with RelevanceClient("http://127.0.0.1:8000", api_key="...") as client:
        pairs = [{"query": "ドラクエ バッグ", "category_path": "luggage & bags,women's handbags"}]
        result = client.score_qc(pairs)  # = client.score("qc", pairs): any served task
        [r["score"] for r in result["results"]]

`admin_key` (one of the server's RELEVANCE_ADMIN_KEYS) is what `reload` sends; the scoring key does not
open the admin routes. Without it, `reload` works only from the server's own host while the server has no
admin keys set.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from service.errors import RETRYABLE_STATUSES

RETRY_STATUSES = RETRYABLE_STATUSES  # 429 and 503: the statuses the service sends with Retry-After


class RelevanceAPIError(RuntimeError):
    def __init__(self, status: int, type: str, message: str, param: str | None = None) -> None:
        super().__init__(f"{status} {type}: {message}")
        self.status = status
        self.type = type
        self.message = message
        self.param = param

    @classmethod
    def from_response(cls, response: httpx.Response) -> RelevanceAPIError:
        try:
            error = response.json()["error"]
            return cls(response.status_code, error["type"], error["message"], error.get("param"))
        except (ValueError, KeyError, TypeError):
            return cls(response.status_code, "http_error", response.text[:200] or response.reason_phrase)


class RetryPolicy:
    """The retry decision, without I/O: both clients' request loops ask it what to do after each try."""

    def __init__(self, *, max_retries: int, backoff_s: float, max_backoff_s: float) -> None:
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before retry `attempt` (0-based): Retry-After if given, else jittered back-off."""
        if response is not None:
            retry_after = response.headers.get("retry-after", "")
            if retry_after.replace(".", "", 1).isdigit():
                return min(float(retry_after), self.max_backoff_s)
        return min(self.backoff_s * 2**attempt, self.max_backoff_s) * random.uniform(0.5, 1.0)

    def after(self, attempt: int, outcome: httpx.Response | httpx.TransportError) -> float | None:
        """Seconds to wait before trying again, or None when `outcome` is final (then `result` it).
        A connection failure on the last attempt is raised."""
        last = attempt >= self.max_retries
        if isinstance(outcome, httpx.TransportError):
            if last:
                raise outcome
            return self.delay(attempt, None)
        if outcome.status_code in RETRY_STATUSES and not last:
            return self.delay(attempt, outcome)
        return None

    @staticmethod
    def result(response: httpx.Response) -> dict[str, Any]:
        if response.is_error:
            raise RelevanceAPIError.from_response(response)
        return response.json()


def _score_call(
    task: str, pairs: Sequence[Mapping[str, Any]], threshold: float | None
) -> tuple[str, str, dict[str, Any]]:
    body: dict[str, Any] = {"pairs": [dict(p) for p in pairs]}
    if threshold is not None:
        body["threshold"] = threshold
    return "POST", f"/v1/relevance/{task}", {"json": body}


def _reload_call(refs: Mapping[str, Any], headers: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    """`model=...`, `task_models={...}` or `<task>_model=...` (e.g. `qc_model=`): checkpoint names in the
    server's model store; none: re-read. `headers`: the admin key's, which replace the API key's."""
    return "POST", "/admin/reload", {"json": dict(refs) or None, "headers": dict(headers)}


class _Base:
    def __init__(
        self,
        *,
        api_key: str | None,
        admin_key: str | None,
        max_retries: int,
        backoff_s: float,
        max_backoff_s: float,
    ) -> None:
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._admin_headers = {"Authorization": f"Bearer {admin_key}"} if admin_key else {}
        self._policy = RetryPolicy(max_retries=max_retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s)


class RelevanceClient(_Base):
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        admin_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_s: float = 0.1,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            admin_key=admin_key,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
        )
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, headers=self._headers, transport=transport
        )
        self._sleep = sleep

    def __enter__(self) -> RelevanceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                outcome: httpx.Response | httpx.TransportError = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                outcome = exc
            wait = self._policy.after(attempt, outcome)
            if wait is None:
                return self._policy.result(outcome)  # type: ignore[arg-type]  # only a response is final
            self._sleep(wait)
            attempt += 1

    def score(self, task: str, pairs: Sequence[Mapping[str, Any]], *, threshold: float | None = None) -> dict:
        method, path, kwargs = _score_call(task, pairs, threshold)
        return self.request(method, path, **kwargs)

    def score_qc(self, pairs: Sequence[Mapping[str, Any]], *, threshold: float | None = None) -> dict:
        return self.score("qc", pairs, threshold=threshold)

    def score_qi(self, pairs: Sequence[Mapping[str, Any]], *, threshold: float | None = None) -> dict:
        return self.score("qi", pairs, threshold=threshold)

    def models(self) -> dict:
        return self.request("GET", "/v1/models")

    def ready(self) -> bool:
        try:
            return self._http.get("/health/ready").status_code == 200
        except httpx.TransportError:
            return False

    def reload(self, **refs: Any) -> dict:
        method, path, kwargs = _reload_call(refs, self._admin_headers)
        return self.request(method, path, **kwargs)


class AsyncRelevanceClient(_Base):
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        admin_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_s: float = 0.1,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            admin_key=admin_key,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
        )
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=self._headers, transport=transport
        )
        self._sleep = sleep

    async def __aenter__(self) -> AsyncRelevanceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                outcome: httpx.Response | httpx.TransportError = await self._http.request(
                    method, path, **kwargs
                )
            except httpx.TransportError as exc:
                outcome = exc
            wait = self._policy.after(attempt, outcome)
            if wait is None:
                return self._policy.result(outcome)  # type: ignore[arg-type]  # only a response is final
            await self._sleep(wait)
            attempt += 1

    async def score(
        self, task: str, pairs: Sequence[Mapping[str, Any]], *, threshold: float | None = None
    ) -> dict:
        method, path, kwargs = _score_call(task, pairs, threshold)
        return await self.request(method, path, **kwargs)

    async def score_qc(self, pairs: Sequence[Mapping[str, Any]], *, threshold: float | None = None) -> dict:
        return await self.score("qc", pairs, threshold=threshold)

    async def score_qi(self, pairs: Sequence[Mapping[str, Any]], *, threshold: float | None = None) -> dict:
        return await self.score("qi", pairs, threshold=threshold)

    async def models(self) -> dict:
        return await self.request("GET", "/v1/models")

    async def ready(self) -> bool:
        try:
            return (await self._http.get("/health/ready")).status_code == 200
        except httpx.TransportError:
            return False

    async def reload(self, **refs: Any) -> dict:
        method, path, kwargs = _reload_call(refs, self._admin_headers)
        return await self.request(method, path, **kwargs)
