"""The two ways minewatch talks to InfluxDB: line-protocol writes (v2 via influxdb-client, or the
1.x ``/write`` endpoint) and InfluxQL on ``/query``. Every failure becomes one of three errors so
the
store can decide: retry, spool (``StoreUnavailable``), isolate bad lines (``WriteRejected``) or stop
and tell the operator (``StoreAuthError``)."""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson
import urllib3.exceptions
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from minewatch.config.storage import InfluxSettings
from minewatch.errors import ConfigError, InvalidInput
from minewatch.store.base import StoreUnavailable


class StoreAuthError(StoreUnavailable):
    """The server refused our credentials. At start-up this stops the process with a clear message;
    later (a revoked token) the spool keeps the data until an operator fixes the config/env."""


class HttpStatusError(Exception):
    """A non-2xx answer: ``status``, the server's message, and its ``Retry-After`` in seconds if
    any."""

    def __init__(self, status: int, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


class WriteRejected(Exception):
    """The server refused a batch as malformed (400/413/422): split it to find the bad lines."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds; the HTTP-date form is rare for InfluxDB and treated as absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def auth_error(settings: InfluxSettings, status: int, message: str) -> StoreAuthError:
    who = (
        f"the token in ${settings.token_env}"
        if settings.api == "v2"
        else f"user {settings.username!r} with the password in ${settings.password_env}"
    )
    return StoreAuthError(
        f"InfluxDB at {settings.url} refused {who} (HTTP {status}: {message.strip()[:200]}); "
        f"check storage.influxdb in facility.yaml and the environment"
    )


class V1Writer:
    """POST /write?db=..&rp=..&precision=ns, gzip-compressed, HTTP keep-alive."""

    def __init__(self, settings: InfluxSettings, http: httpx.Client) -> None:
        self._http = http
        self._params = {"db": settings.database, "precision": "ns"}
        if settings.retention_policy:
            self._params["rp"] = settings.retention_policy
        self._gzip = settings.gzip

    def post(self, lines: Sequence[str]) -> None:
        body = "\n".join(lines).encode()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._gzip:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            resp = self._http.post("/write", params=self._params, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB write: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 300:
            raise HttpStatusError(
                resp.status_code,
                _error_text(resp.content),
                retry_after_seconds(resp.headers.get("Retry-After")),
            )


class V2Writer:
    """influxdb-client's synchronous write API with pre-formatted lines (gzip per settings).

    Synchronous rather than the reactivex batcher: the caller must know the batch is stored before
    it acknowledges MQTT messages, and pre-formatted strings through SYNCHRONOUS are ~6x faster than
    the batcher's ``Point`` objects (measured on one core).
    """

    def __init__(self, settings: InfluxSettings) -> None:
        if not settings.org:
            raise ConfigError(["storage.influxdb.org: api v2 needs the organisation name"])
        self._settings = settings
        self._org: str = settings.org
        self.client = InfluxDBClient(
            url=settings.url,
            token=settings.token() or "",
            org=settings.org,
            timeout=int(settings.timeout_s * 1000),
            enable_gzip=settings.gzip,
        )
        self._api = self.client.write_api(write_options=SYNCHRONOUS)

    def post(self, lines: Sequence[str]) -> None:
        try:
            self._api.write(
                bucket=self._settings.bucket,
                org=self._org,
                record=list(lines),
                # nanoseconds, as the lines carry them: influxdb-client's default precision
            )
        except ApiException as exc:
            headers: Mapping[str, str] = exc.headers or {}
            raise HttpStatusError(
                int(exc.status or 0),
                _error_text(exc.body or exc.reason or b""),
                retry_after_seconds(headers.get("Retry-After")),
            ) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB write: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self.client.close()


def http_client(settings: InfluxSettings) -> httpx.Client:
    """The HTTP client for ``/query`` (both APIs) and ``/write`` (v1), with the right
    credentials."""
    headers: dict[str, str] = {}
    auth: httpx.BasicAuth | None = None
    if settings.api == "v2":
        token = settings.token()
        if token:
            headers["Authorization"] = f"Token {token}"
    elif settings.username:
        auth = httpx.BasicAuth(settings.username, settings.password() or "")
    return httpx.Client(
        base_url=settings.url,
        headers=headers,
        auth=auth,
        timeout=settings.timeout_s,
        limits=httpx.Limits(max_keepalive_connections=4),
    )


class InfluxQL:
    """InfluxQL over ``/query`` with ``epoch=ns``; results come back as plain series dicts."""

    def __init__(self, settings: InfluxSettings, http: httpx.Client) -> None:
        self._settings = settings
        self._http = http
        # Chunked, so a long range is never cut at a server's row limit (max-row-limit on 1.x).
        self._params = {
            "db": settings.database,
            "epoch": "ns",
            "chunked": "true",
            "chunk_size": "10000",
        }
        if settings.retention_policy:
            self._params["rp"] = settings.retention_policy

    def run(self, q: str, *, with_db: bool = True) -> list[dict[str, Any]]:
        """Run one or more ``;``-separated statements; one ``{"series": [...]}`` per statement.

        A statement error (bad query) raises ValueError naming the statement; transport problems
        raise StoreUnavailable, refused credentials StoreAuthError.
        """
        params = dict(self._params) if with_db else {"epoch": "ns", "chunked": "true"}
        try:
            resp = self._http.post("/query", params=params, data={"q": q})
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB query: {type(exc).__name__}: {exc}") from exc
        if resp.status_code in (401, 403):
            raise auth_error(self._settings, resp.status_code, _error_text(resp.content))
        if resp.status_code >= 500 or resp.status_code == 429:
            raise StoreUnavailable(
                f"InfluxDB query: HTTP {resp.status_code}: {_error_text(resp.content)}"
            )
        results: dict[int, dict[str, Any]] = {}
        for chunk in resp.content.splitlines():  # chunked: one JSON object per line
            if not chunk.strip():
                continue
            try:
                body = orjson.loads(chunk)
            except orjson.JSONDecodeError as exc:
                raise StoreUnavailable(
                    f"InfluxDB query: HTTP {resp.status_code}, not JSON: {chunk[:200]!r}"
                ) from exc
            if "error" in body:
                raise InvalidInput(
                    f"InfluxDB rejected the query: {body['error']} (query: {q[:300]})"
                )
            for r in body.get("results", []):
                if "error" in r:
                    raise InvalidInput(
                        f"InfluxDB rejected the query: {r['error']} (query: {q[:300]})"
                    )
                merged = results.setdefault(r.get("statement_id", 0), {"series": []})
                merged["series"].extend(r.get("series", []))
        return [results.get(i, {"series": []}) for i in range(max(results, default=-1) + 1)]


def _error_text(body: bytes | str) -> str:
    """The ``error``/``message`` of an InfluxDB JSON error body, else the body itself."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.strip()[:500]
    if isinstance(obj, dict):
        return str(obj.get("error") or obj.get("message") or text)[:500]
    return text.strip()[:500]
