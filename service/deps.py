"""FastAPI dependencies: the app's service objects (built in `lifespan`) and the API key check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.batcher import MicroBatcher
from service.cache import ScoreCache
from service.deployment import ModelManager
from service.errors import ApiError, ErrorType
from service.metrics import Metrics
from service.relevance.serving import ScoringService
from service.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="one of the configured API keys (none configured = open)")


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    cache: ScoreCache
    batcher: MicroBatcher
    manager: ModelManager
    scoring: ScoringService


# async: a plain `def` dependency is run in the threadpool, two thread hops per request for an attribute read.
async def get_services(request: Request) -> Services:
    return request.app.state.services


async def get_scoring(request: Request) -> ScoringService:
    return request.app.state.services.scoring


async def get_manager(request: Request) -> ModelManager:
    return request.app.state.services.manager


async def get_settings(request: Request) -> Settings:
    return request.app.state.services.settings


async def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> None:
    keys = request.app.state.services.settings.api_keys
    if not keys:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            ErrorType.UNAUTHORIZED,
            "missing API key: send `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = credentials.credentials.encode()
    # Compare against every key without stopping early, each in constant time.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.get_secret_value().encode())
    if not matched:
        raise ApiError(ErrorType.UNAUTHORIZED, "invalid API key", headers={"WWW-Authenticate": "Bearer"})


ServicesDep = Annotated[Services, Depends(get_services)]
ScoringDep = Annotated[ScoringService, Depends(get_scoring)]
ManagerDep = Annotated[ModelManager, Depends(get_manager)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
