"""Typed exceptions for the service's RFC 9457 problem+json refusals.

Every refusal carries a stable ``code`` (``budget.exhausted``,
``query.unknown_dimension``, ...); :func:`from_problem` maps it to one class
below, so callers can ``except BudgetExhausted`` instead of parsing bodies.
Every refusal of the service charges nothing.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional


class CtmError(Exception):
    """A refusal of the service (or no answer at all, with ``status`` None).

    ``status`` is the HTTP status, ``code`` the problem's stable code,
    ``detail`` its sentence for a person, ``problem`` the whole document
    (extension members included).
    """

    def __init__(
        self,
        status: Optional[int],
        code: str,
        detail: str,
        problem: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(f"{code}: {detail}" if status is None else f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.problem: Mapping[str, Any] = dict(problem or {})


class Unauthorized(CtmError):
    """401: a missing, malformed, expired or wrongly signed token."""


class Forbidden(CtmError):
    """403 other than a budget: the role, the country or region scope, a dimension."""


class BudgetExhausted(Forbidden):
    """403 ``budget.exhausted``: your budget cannot cover the cost.

    ``remaining`` is what is left of your budget and ``requested`` what the
    query costs, both in ``unit`` (``epsilon`` or ``rho``).
    """

    def __init__(self, status, code, detail, problem=None) -> None:
        super().__init__(status, code, detail, problem)
        self.remaining: Optional[float] = _number(self.problem.get("remaining"))
        self.requested: Optional[float] = _number(self.problem.get("requested"))
        self.unit: Optional[str] = self.problem.get("unit")


class GlobalBudgetExhausted(BudgetExhausted):
    """403 ``budget.global_exhausted``: the dataset's total budget cannot cover it
    (``remaining`` is None: what others spent is not told)."""


# The request field a query refusal is about, when the code says it.
_FIELD_OF_CODE = {
    "query.unknown_dimension": "dimensions",
    "query.too_many_dimensions": "dimensions",
    "query.too_many_cells": "dimensions",
    "query.too_many_groupings": "workload",
    "query.unknown_value": "filters",
    "query.accuracy_unreachable": "accuracy",
    "idempotency.key_reused": "Idempotency-Key",
    "idempotency.invalid_key": "Idempotency-Key",
    "national.unknown_country": "country",
}


class InvalidQuery(CtmError):
    """400/422: the request is malformed or asks what the policy does not allow.

    ``field`` names the request field at fault when the service or the code
    says which (``dimensions``, ``filters``, ``epsilon``, ``accuracy`` ...),
    else None.
    """

    def __init__(self, status, code, detail, problem=None) -> None:
        super().__init__(status, code, detail, problem)
        field = self.problem.get("field") or _FIELD_OF_CODE.get(code)
        if field is None and code == "query.epsilon_out_of_range":
            field = "rho" if "rho" in detail.split(" ", 1)[0] else "epsilon"
        self.field: Optional[str] = field
        self.valid_dimensions = self.problem.get("valid_dimensions")
        self.best_margin = self.problem.get("best_margin")


class NotFound(CtmError):
    """404: no such resource, table or region (``valid_tables`` / ``valid_regions`` say which are)."""


class RateLimited(CtmError):
    """429 ``rate.limited``; ``retry_after`` is the service's Retry-After in seconds."""

    def __init__(self, status, code, detail, problem=None, retry_after: Optional[float] = None) -> None:
        super().__init__(status, code, detail, problem)
        self.retry_after: Optional[float] = (
            retry_after if retry_after is not None else _number(self.problem.get("retry_after"))
        )


class ServiceUnavailable(CtmError):
    """503 (``service.unavailable``, ``service.entropy_unavailable``): nothing was
    charged or released; retried automatically, raised once retries run out.
    Also raised, with ``status`` None, when the service could not be reached."""

    def __init__(self, status, code, detail, problem=None, retry_after: Optional[float] = None) -> None:
        super().__init__(status, code, detail, problem)
        self.retry_after: Optional[float] = retry_after


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def retry_after_seconds(header: Optional[str]) -> Optional[float]:
    """The delay of a ``Retry-After`` header given in seconds (an HTTP date is not used here)."""
    if header is None:
        return None
    try:
        seconds = float(header.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


# Codes by class; a code not listed falls back on its HTTP status.
CODES = {
    "auth.invalid_token": Unauthorized,
    "auth.forbidden_role": Forbidden,
    "auth.role_mismatch": Forbidden,
    "auth.country_scope": Forbidden,
    "auth.region_scope": Forbidden,
    "query.forbidden_dimension": Forbidden,
    "budget.exhausted": BudgetExhausted,
    "budget.global_exhausted": GlobalBudgetExhausted,
    "query.unknown_dimension": InvalidQuery,
    "query.unknown_value": InvalidQuery,
    "query.epsilon_out_of_range": InvalidQuery,
    "query.accuracy_unreachable": InvalidQuery,
    "query.too_many_cells": InvalidQuery,
    "query.too_many_dimensions": InvalidQuery,
    "query.too_many_groupings": InvalidQuery,
    "query.invalid": InvalidQuery,
    "request.invalid_body": InvalidQuery,
    "idempotency.key_reused": InvalidQuery,
    "idempotency.invalid_key": InvalidQuery,
    "national.unknown_country": InvalidQuery,
    "national.unknown_table": NotFound,
    "regional.unknown_region": NotFound,
    "resource.not_found": NotFound,
    "rate.limited": RateLimited,
    "service.unavailable": ServiceUnavailable,
    "service.entropy_unavailable": ServiceUnavailable,
}

_BY_STATUS = {
    400: InvalidQuery,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    422: InvalidQuery,
    429: RateLimited,
    503: ServiceUnavailable,
}


def from_problem(status: int, problem: Mapping[str, Any], retry_after: Optional[float] = None) -> CtmError:
    """The exception for a problem document answered with ``status``."""
    code = str(problem.get("code") or f"http.{status}")
    detail = str(problem.get("detail") or problem.get("title") or "")
    cls = CODES.get(code) or _BY_STATUS.get(status, CtmError)
    if cls in (RateLimited, ServiceUnavailable):
        return cls(status, code, detail, problem, retry_after=retry_after)
    return cls(status, code, detail, problem)
