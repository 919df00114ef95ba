"""``ctm_stats``: a thin, typed Python client of the ctm-stats service.

    from ctm_stats import Client, BudgetExhausted
    api = Client("http://127.0.0.1:8080", token)
    est = api.estimate(["gender", "age_broad"], epsilon=0.5)       # free
    res = api.counts(["gender", "age_broad"], epsilon=0.5)         # charged once
    df = res.frame()                                               # pandas, with margins
    res.plot("counts.png", title="Victims by gender and age")

The package version is the API version it was written against
(``info.version`` of openapi/openapi.json); a test fails when they differ.
"""

from importlib import metadata as _metadata

from .client import Client
from .errors import (
    BudgetExhausted,
    CtmError,
    Forbidden,
    GlobalBudgetExhausted,
    InvalidQuery,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from .models import Budget, BudgetSummary, Cell, Estimate, Page, Release, Table, Total
from .sdmx_source import sdmx_client
from .transport import ENDPOINTS, Retry, new_idempotency_key

try:
    __version__ = _metadata.version("ctm-stats")
except _metadata.PackageNotFoundError:  # run from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Budget", "BudgetExhausted", "BudgetSummary", "Cell", "Client", "CtmError", "ENDPOINTS",
    "Estimate", "Forbidden", "GlobalBudgetExhausted", "InvalidQuery", "NotFound", "Page",
    "RateLimited", "Release", "Retry", "ServiceUnavailable", "Table", "Total", "Unauthorized",
    "new_idempotency_key", "sdmx_client", "__version__",
]
