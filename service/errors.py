"""The one error vocabulary of the API: every failure is an `ErrorType`, mapped to a status here only."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class ErrorType(StrEnum):
    INVALID_REQUEST = "invalid_request"
    VALIDATION_ERROR = "validation_error"
    TOO_MANY_PAIRS = "too_many_pairs"
    TEXT_TOO_LONG = "text_too_long"
    BODY_TOO_LARGE = "body_too_large"
    UNKNOWN_TASK = "unknown_task"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAUTHORIZED = "unauthorized"
    INVALID_CHECKPOINT = "invalid_checkpoint"
    OVERLOADED = "overloaded"
    NOT_READY = "not_ready"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    TIMEOUT = "timeout"
    CLIENT_CLOSED = "client_closed"
    INTERNAL_ERROR = "internal_error"


STATUS: dict[ErrorType, int] = {
    ErrorType.INVALID_REQUEST: 400,
    ErrorType.VALIDATION_ERROR: 422,
    ErrorType.TOO_MANY_PAIRS: 413,
    ErrorType.TEXT_TOO_LONG: 422,
    ErrorType.BODY_TOO_LARGE: 413,
    ErrorType.UNKNOWN_TASK: 404,
    ErrorType.NOT_FOUND: 404,
    ErrorType.METHOD_NOT_ALLOWED: 405,
    ErrorType.UNAUTHORIZED: 401,
    ErrorType.INVALID_CHECKPOINT: 400,
    ErrorType.OVERLOADED: 429,
    ErrorType.NOT_READY: 503,
    ErrorType.BACKEND_UNAVAILABLE: 503,
    ErrorType.TIMEOUT: 504,
    ErrorType.CLIENT_CLOSED: 499,  # nginx's convention; never sent, only logged and counted
    ErrorType.INTERNAL_ERROR: 500,
}
assert set(STATUS) == set(ErrorType), "every error type needs a status"

# Errors a client should retry after waiting (Retry-After is sent with them), and their statuses: the
# one list the Python client's retry policy reads too.
RETRYABLE = frozenset({ErrorType.OVERLOADED, ErrorType.NOT_READY, ErrorType.BACKEND_UNAVAILABLE})
RETRYABLE_STATUSES = frozenset(STATUS[t] for t in RETRYABLE)


class ApiError(Exception):
    """Raised anywhere in the service; rendered as the one error body by `service.app`."""

    def __init__(
        self,
        type: ErrorType,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.param = param
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return STATUS[self.type]


def not_ready(reason: str, *, retry_after_s: int | None = None) -> ApiError:
    """The 503 every "cannot serve yet" path raises (loading, unhealthy, shutting down)."""
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return ApiError(ErrorType.NOT_READY, reason, headers=headers)


class ErrorDetail(BaseModel):
    type: ErrorType
    message: str
    param: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail

    @classmethod
    def of(cls, err: ApiError) -> dict[str, Any]:
        return cls(error=ErrorDetail(type=err.type, message=err.message, param=err.param)).model_dump(
            mode="json"
        )


# For OpenAPI: every route documents the shared error body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": ", ".join(t.value for t, s in STATUS.items() if s == status)}
    for status in sorted(set(STATUS.values()) - {499})
}
