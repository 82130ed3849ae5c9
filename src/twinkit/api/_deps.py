"""FastAPI dependencies: the services of the app, and the caller with at least a given role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from twinkit.api._auth import Principal, Role
from twinkit.api._services import Services

__all__ = ["Admin", "Operator", "Svc", "Viewer", "require", "services_of"]

_bearer = HTTPBearer(auto_error=False, description="a twinkit token: tk_...")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the bearer token and checks its role."""

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        auth = services_of(request).auth
        where = f"{request.method} {request.url.path}"
        principal = await auth.verify(credentials.credentials if credentials else None, where)
        auth.check_role(principal, role, where)
        return principal

    caller.__name__ = f"require_{role.value}"
    return caller


Svc = Annotated[Services, Depends(services_of)]
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
