"""HTTP to the service: the endpoint table, the token, retries, problem+json.

Retries are safe here because the service makes them so: a release sent
again with the same ``Idempotency-Key`` replays the stored answer and charges
nothing, and a repeat of a national table is free anyway. So on a 429 (after
its ``Retry-After``), a 503 or a dropped connection the same request is sent
again, with the same key, after an exponentially growing delay with full
jitter.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Mapping, Optional

import requests

from .errors import CtmError, RateLimited, ServiceUnavailable, from_problem, retry_after_seconds

_TABLE = json.loads(resources.files(__package__).joinpath("api.json").read_text(encoding="utf-8"))
#: name -> {"method", "path", "query", "headers", "request", "response"}; checked against openapi.json.
ENDPOINTS: Mapping[str, Mapping[str, Any]] = _TABLE["endpoints"]
#: schema -> the fields of it the client reads or sends; checked against openapi.json.
FIELDS: Mapping[str, list] = _TABLE["fields"]


@dataclass(frozen=True)
class Retry:
    """When and how long to wait before sending a request again.

    ``attempts`` counts every try (the first included). The n-th retry
    waits a random time up to ``base * 2**(n-1)`` seconds, at most ``cap``;
    a ``Retry-After`` longer than that is honoured (up to ``max_wait``).
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_wait: float = 120.0

    def delay(self, retry: int, retry_after: Optional[float], rng: random.Random) -> float:
        backoff = rng.uniform(0, min(self.cap, self.base * 2 ** (retry - 1)))
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return min(backoff, self.max_wait)


@dataclass(frozen=True)
class Response:
    """An answer: status, headers, body bytes, and the idempotency key sent (if any)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    idempotency_key: Optional[str]
    attempts: int

    def json(self) -> Any:
        return json.loads(self.body)


def new_idempotency_key() -> str:
    """A random key (``ctm-py-`` and a UUID4): 1 to 128 visible ASCII characters."""
    return f"ctm-py-{uuid.uuid4()}"


class Transport:
    """Sends the table's operations with a bearer token, and retries."""

    def __init__(
        self,
        base_url: str,
        token: Optional[str],
        *,
        retry: Retry = Retry(),
        timeout: float = 60.0,
        session: Optional[requests.Session] = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Optional[random.Random] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers.setdefault("User-Agent", "ctm-stats-python")
        self.retry = retry
        self.timeout = timeout
        self.sleep = sleep
        self.rng = rng or random.SystemRandom()
        #: Delays slept before retries, oldest first (for logs and tests).
        self.waits: list = []

    def url(self, name: str, **path: str) -> str:
        template = ENDPOINTS[name]["path"]
        return self.base_url + template.format(**{k: requests.utils.quote(str(v), safe="") for k, v in path.items()})

    def call(
        self,
        name: str,
        *,
        path: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        body: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        accept: str = "application/json",
    ) -> Response:
        """One operation of the table, retried; a refusal raises its typed error."""
        spec = ENDPOINTS[name]
        params = {k: v for k, v in (query or {}).items() if v is not None}
        unknown = set(params) - set(spec.get("query", []))
        if unknown:
            raise ValueError(f"{name} takes no parameter {sorted(unknown)}")
        headers = {"Accept": accept}
        if "Idempotency-Key" in spec.get("headers", []):
            # One key for every try of this call: a retry replays, never charges again.
            idempotency_key = idempotency_key or new_idempotency_key()
            headers["Idempotency-Key"] = idempotency_key
        url = self.url(name, **(path or {}))
        data = None if body is None else json.dumps(body).encode("utf-8")
        if data is not None:
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            attempt += 1
            try:
                r = self.session.request(
                    spec["method"], url, params=params, data=data, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as e:
                error: CtmError = ServiceUnavailable(None, "client.connection_failed", f"{type(e).__name__}: {e}")
            else:
                if r.status_code < 400:
                    return Response(r.status_code, r.headers, r.content, idempotency_key, attempt)
                error = from_problem(r.status_code, _problem(r), retry_after_seconds(r.headers.get("Retry-After")))
            if not isinstance(error, (RateLimited, ServiceUnavailable)) or attempt >= self.retry.attempts:
                raise error
            wait = self.retry.delay(attempt, getattr(error, "retry_after", None), self.rng)
            self.waits.append(wait)
            self.sleep(wait)


def _problem(r: requests.Response) -> Mapping[str, Any]:
    try:
        doc = r.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        return doc
    return {"code": f"http.{r.status_code}", "detail": r.reason or "", "status": r.status_code}
