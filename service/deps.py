"""FastAPI dependencies: the app's service objects (built in `lifespan`), the API and admin key checks, and
the OpenAPI security that matches them."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from service.batcher import MicroBatcher
from service.cache import ScoreCache
from service.deployment import ModelManager
from service.errors import ApiError, ErrorType
from service.metrics import Metrics
from service.relevance.serving import ScoringService
from service.settings import Settings, is_loopback

# Two schemes, so the OpenAPI document says which key each route takes; `openapi_security` keeps a scheme
# in the document only when its keys are configured (otherwise the route does not ask for one).
API_KEY_SCHEME = "ApiKey"
ADMIN_KEY_SCHEME = "AdminKey"
_bearer = HTTPBearer(
    auto_error=False, scheme_name=API_KEY_SCHEME, description="one of RELEVANCE_API_KEYS (declared when set)"
)
_admin_bearer = HTTPBearer(
    auto_error=False,
    scheme_name=ADMIN_KEY_SCHEME,
    description="one of RELEVANCE_ADMIN_KEYS (declared when set; with none set, loopback clients only)",
)


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


def _check_key(credentials: HTTPAuthorizationCredentials | None, keys: list[SecretStr], kind: str) -> None:
    """Raise 401 unless `credentials` is a bearer token equal to one of `keys`. Every key is compared, each
    in constant time; neither the given token nor any key appears in the error."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            ErrorType.UNAUTHORIZED,
            f"missing {kind}: send `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = credentials.credentials.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.get_secret_value().encode())
    if not matched:
        raise ApiError(ErrorType.UNAUTHORIZED, f"invalid {kind}", headers={"WWW-Authenticate": "Bearer"})


async def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> None:
    keys = request.app.state.services.settings.api_keys
    if keys:
        _check_key(credentials, keys, "API key")


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_admin_bearer)]
) -> None:
    """An admin key when any is configured (RELEVANCE_ADMIN_KEYS; the scoring keys do not open admin
    routes); with none configured, only a client on loopback. Behind a proxy on this host the client is
    the address uvicorn trusts from X-Forwarded-For, so proxied remote clients are refused too."""
    keys = request.app.state.services.settings.admin_keys
    if keys:
        _check_key(credentials, keys, "admin key")
        return
    client = request.client.host if request.client else None
    if not is_loopback(client):
        raise ApiError(
            ErrorType.UNAUTHORIZED,
            "admin routes answer loopback clients (127.0.0.1, ::1) only while no admin keys are set, and "
            f"this request came from {client or 'an unknown address'}; set RELEVANCE_ADMIN_KEYS on the "
            "server and send `Authorization: Bearer <admin key>`, or call from the server's own host",
            headers={"WWW-Authenticate": "Bearer"},
        )


def install_openapi_security(app: FastAPI, settings: Settings) -> None:
    """Make `app`'s OpenAPI document (built on first use, routes added later included) declare only the
    keys `settings` configures (`openapi_security`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_security(generate(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_security(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`schema` (an OpenAPI document, changed in place) declaring a key only where one is required: a
    scheme whose keys are not configured is dropped from every operation and from the components."""
    unset = {
        name
        for name, keys in ((API_KEY_SCHEME, settings.api_keys), (ADMIN_KEY_SCHEME, settings.admin_keys))
        if not keys
    }
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "security" not in operation:
                continue
            operation["security"] = [req for req in operation["security"] if not set(req) & unset]
            if not operation["security"]:
                del operation["security"]
    components = schema.get("components", {})
    schemes = components.get("securitySchemes", {})
    for name in unset:
        schemes.pop(name, None)
    if "securitySchemes" in components and not schemes:
        del components["securitySchemes"]
    return schema


ServicesDep = Annotated[Services, Depends(get_services)]
ScoringDep = Annotated[ScoringService, Depends(get_scoring)]
ManagerDep = Annotated[ModelManager, Depends(get_manager)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
