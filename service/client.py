"""Python client for the scoring service (httpx), sync and async.

Retries 429 (overloaded) and 503 (not ready / backend unavailable) and connection failures with
exponential back-off and jitter, honouring the server's `Retry-After`; every other error is raised at
once as `RelevanceAPIError` carrying the service's error body.

    with RelevanceClient("http://127.0.0.1:8000", api_key="...") as client:
        pairs = [{"query": "ドラクエ バッグ", "category_path": "luggage & bags,women's handbags"}]
        result = client.score_qc(pairs)
        [r["score"] for r in result["results"]]
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 503})


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


class _Policy:
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


def _body(pairs: Sequence[Mapping[str, Any]], threshold: float | None) -> dict[str, Any]:
    body: dict[str, Any] = {"pairs": [dict(p) for p in pairs]}
    if threshold is not None:
        body["threshold"] = threshold
    return body


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


class RelevanceClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_s: float = 0.1,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, headers=_headers(api_key), transport=transport
        )
        self._policy = _Policy(max_retries=max_retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s)
        self._sleep = sleep

    def __enter__(self) -> RelevanceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(self._policy.max_retries + 1):
            last = attempt == self._policy.max_retries
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if last:
                    raise
                self._sleep(self._policy.delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._sleep(self._policy.delay(attempt, response))
                continue
            if response.is_error:
                raise RelevanceAPIError.from_response(response)
            return response.json()
        raise AssertionError("unreachable")

    def score(self, task: str, pairs: Sequence[Mapping[str, Any]], *, threshold: float | None = None) -> dict:
        return self.request("POST", f"/v1/relevance/{task}", json=_body(pairs, threshold))

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

    def reload(self, **refs: str) -> dict:
        return self.request("POST", "/admin/reload", json=refs or None)


class AsyncRelevanceClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_s: float = 0.1,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=_headers(api_key), transport=transport
        )
        self._policy = _Policy(max_retries=max_retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s)
        self._sleep = sleep

    async def __aenter__(self) -> AsyncRelevanceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(self._policy.max_retries + 1):
            last = attempt == self._policy.max_retries
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if last:
                    raise
                await self._sleep(self._policy.delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                await self._sleep(self._policy.delay(attempt, response))
                continue
            if response.is_error:
                raise RelevanceAPIError.from_response(response)
            return response.json()
        raise AssertionError("unreachable")

    async def score(
        self, task: str, pairs: Sequence[Mapping[str, Any]], *, threshold: float | None = None
    ) -> dict:
        return await self.request("POST", f"/v1/relevance/{task}", json=_body(pairs, threshold))

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

    async def reload(self, **refs: str) -> dict:
        return await self.request("POST", "/admin/reload", json=refs or None)
