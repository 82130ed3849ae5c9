"""A small synchronous client of a running twinkit server (what the CLI and scripts use)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from twinkit.api._app import API_PREFIX
from twinkit.errors import TwinkitError

__all__ = ["Client", "ClientError"]


class ClientError(TwinkitError):
    """A request to the server failed: ``status`` None when the server could not be reached."""

    def __init__(
        self, message: str, *, status: int | None, kind: str, where: str | None = None
    ) -> None:
        super().__init__(message, where=where)
        self.status = status
        self.kind = kind


class Client:
    """``Client(url, token)``: JSON in, JSON out; errors as :class:`ClientError`."""

    __slots__ = ("_http", "url")

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url + API_PREFIX, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """The decoded JSON answer (None for 204); ClientError for an error answer."""
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.TransportError as err:
            raise ClientError(
                f"cannot reach twinkit at {self.url} ({type(err).__name__}: {err}); "
                "is `twinkit serve` running there?",
                status=None,
                kind="unreachable",
                where=self.url,
            ) from err
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success or response.status_code == 207:
            return body
        if isinstance(body, dict) and "error" in body:
            raise ClientError(
                f"{response.status_code} {body['error']}: {body.get('detail')}",
                status=response.status_code,
                kind=str(body["error"]),
                where=body.get("where"),
            )
        raise ClientError(
            f"{response.status_code} from {method} {path}: {response.text[:200]}",
            status=response.status_code,
            kind="http",
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json)

    def put(self, path: str, json: Any = None) -> Any:
        return self.request("PUT", path, json=json)
