"""Typed answers of the service: request shapes (TypedDict) and answers
(frozen dataclasses), each with the raw JSON kept in ``raw``.

Only the fields listed in ``api.json`` are read here; the drift test checks
that each of them is in openapi/openapi.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, TypedDict, Union


#: A ``registration_year`` filter: ``{"from": 2015, "to": 2020}`` ("from" is a Python keyword).
YearRange = TypedDict("YearRange", {"from": int, "to": int})


Filters = Dict[str, Union[List[str], Mapping[str, int]]]


class Accuracy(TypedDict, total=False):
    """A target margin instead of a cost: ``{"margin": 30, "confidence": 0.95}``."""

    margin: int
    confidence: float


@dataclass(frozen=True)
class Budget:
    """Your budget after a request, in ``unit`` (``epsilon`` or ``rho``)."""

    unit: str
    spent: float
    limit: float
    remaining: float

    @classmethod
    def of(cls, j: Mapping[str, Any]) -> "Budget":
        return cls(j["unit"], float(j["spent"]), float(j["limit"]), float(j["remaining"]))


@dataclass(frozen=True)
class Cell:
    """One cell: its key (dimension -> code), noisy count (None when suppressed), margin."""

    key: Mapping[str, str]
    count: Optional[int]
    margin_of_error: int
    suppressed: bool

    @classmethod
    def of(cls, j: Mapping[str, Any]) -> "Cell":
        return cls(dict(j["key"]), j.get("count"), int(j["margin_of_error"]), bool(j["suppressed"]))


@dataclass(frozen=True)
class Total:
    """A table's total row (``complete`` is False when suppressed cells were left out)."""

    count: Optional[int]
    margin_of_error: int
    complete: bool = True

    @classmethod
    def of(cls, j: Optional[Mapping[str, Any]]) -> Optional["Total"]:
        if not j:
            return None
        return cls(j.get("count"), int(j["margin_of_error"]), bool(j.get("complete", True)))


@dataclass(frozen=True)
class Estimate:
    """What a release would cost and how accurate it would be; charges nothing."""

    dataset: str
    query_id: str
    cost: float
    unit: str
    would_charge: float
    margin_of_error: Optional[int]
    confidence: float
    cells: Optional[int]
    affordable: bool
    global_affordable: bool
    budget: Budget
    tables: List[Mapping[str, Any]]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def of(cls, j: Mapping[str, Any]) -> "Estimate":
        return cls(
            dataset=j["dataset"],
            query_id=j["query_id"],
            cost=float(j["cost"]),
            unit=j["unit"],
            would_charge=float(j["would_charge"]),
            margin_of_error=j.get("margin_of_error"),
            confidence=float(j["confidence"]),
            cells=j.get("cells"),
            affordable=bool(j["affordable"]),
            global_affordable=bool(j["global_affordable"]),
            budget=Budget.of(j["budget"]),
            tables=list(j.get("tables") or []),
            raw=j,
        )


@dataclass(frozen=True)
class Table:
    """One table (one grouping) of a release, with its cells and total."""

    id: str
    title: Optional[str]
    dimensions: List[str]
    query_id: str
    release_id: str
    cells: List[Cell]
    consistent: bool
    cost: float
    charged: float
    repeat: bool
    ledger_seq: int
    total: Optional[Total]
    margin_of_error: Optional[int] = None

    @classmethod
    def of(cls, j: Mapping[str, Any]) -> "Table":
        dims = list(j["dimensions"])
        return cls(
            id=j.get("id") or "*".join(dims),
            title=j.get("title"),
            dimensions=dims,
            query_id=j["query_id"],
            release_id=j["release_id"],
            cells=[Cell.of(c) for c in j["cells"]],
            consistent=bool(j.get("consistent", False)),
            cost=float(j["cost"]),
            charged=float(j["charged"]),
            repeat=bool(j["repeat"]),
            ledger_seq=int(j["ledger_seq"]),
            total=Total.of(j.get("total")),
            margin_of_error=j.get("margin_of_error"),
        )


@dataclass(frozen=True)
class Release:
    """A released answer: one grouping of ``POST /v1/counts`` (``tables`` has one
    entry), a workload (one per grouping) or a national / regional / bilateral
    release (one per table). ``charged`` is what this request took from your
    budget (0 for a repeat); ``replayed`` is True when the service replayed an
    earlier answer to the same idempotency key."""

    dataset: str
    data_version: int
    confidence: float
    k: int
    cost: float
    charged: float
    repeat: bool
    budget: Budget
    notes: List[str]
    tables: List[Table]
    query_id: Optional[str] = None
    consistent: bool = False
    country: Optional[str] = None
    #: The region's id; its name and members are in ``raw["region"]``.
    region: Optional[str] = None
    other: Optional[str] = None
    perspective: Optional[str] = None
    from_year: Optional[int] = None
    to_year: Optional[int] = None
    idempotency_key: Optional[str] = None
    replayed: bool = False
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def cells(self) -> List[Cell]:
        """The cells of a one-table release (``POST /v1/counts`` with ``dimensions``)."""
        if len(self.tables) != 1:
            raise ValueError(f"this release has {len(self.tables)} tables; use .tables or .frame()")
        return self.tables[0].cells

    @property
    def ledger_seq(self) -> Optional[int]:
        """The ledger entry of a one-table release."""
        return self.tables[0].ledger_seq if len(self.tables) == 1 else None

    def table(self, id: str) -> Table:
        for t in self.tables:
            if t.id == id:
                return t
        raise KeyError(f"no table {id!r}; tables: {', '.join(t.id for t in self.tables)}")

    def frame(self, table: Optional[str] = None):
        """The cells as a pandas DataFrame (see :func:`ctm_stats.frames.cells_frame`)."""
        from .frames import cells_frame

        return cells_frame(self, table)

    def totals(self):
        """One row per table with its total and the total's margin of error."""
        from .frames import totals_frame

        return totals_frame(self)

    def plot(self, path: str, *, title: Optional[str] = None, table: Optional[str] = None) -> str:
        """A bar chart of the released cells with error bars, written to ``path``."""
        from .frames import plot

        return plot(self, path, title=title, table=table)

    @classmethod
    def of(cls, j: Mapping[str, Any], **extra: Any) -> "Release":
        if "cells" in j:  # one grouping of POST /v1/counts: the answer is its table
            tables = [Table.of({**j, "id": "*".join(j["dimensions"])})]
        else:
            tables = [Table.of(t) for t in j["tables"]]
        return cls(
            dataset=j["dataset"],
            data_version=int(j["data_version"]),
            confidence=float(j["confidence"]),
            k=int(j["k"]),
            cost=float(j["cost"]),
            charged=float(j["charged"]),
            repeat=bool(j["repeat"]),
            budget=Budget.of(j["budget"]),
            notes=list(j.get("notes") or []),
            tables=tables,
            query_id=j.get("query_id"),
            consistent=bool(j.get("consistent", False)),
            country=j.get("country"),
            region=_id(j.get("region")),
            other=_id(j.get("other")),
            perspective=j.get("perspective"),
            from_year=j.get("from_year"),
            to_year=j.get("to_year"),
            raw=j,
            **extra,
        )


def _id(value: Any) -> Optional[str]:
    """A region (or country) as its id, whether sent as a string or an object."""
    if isinstance(value, Mapping):
        return value.get("id") or value.get("code")
    return value


@dataclass(frozen=True)
class BudgetSummary:
    """``GET /v1/budget``: your lifetime budget and ledger entries by event."""

    dataset: str
    consumer: str
    role: str
    unit: str
    limit: float
    spent: float
    remaining: float
    unit_of_privacy: str
    history: Mapping[str, Any]
    country: Optional[str]
    region: Optional[str]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def of(cls, j: Mapping[str, Any]) -> "BudgetSummary":
        return cls(
            j["dataset"], j["consumer"], j["role"], j["unit"], float(j["limit"]), float(j["spent"]),
            float(j["remaining"]), j["unit_of_privacy"], dict(j["history"]), j.get("country"),
            j.get("region"), j,
        )


@dataclass(frozen=True)
class Page:
    """One page of entries (budget history or ledger) and the cursor of the next."""

    entries: List[Mapping[str, Any]]
    next_cursor: Optional[str]
    unit: Optional[str] = None
    ledger_size: Optional[int] = None

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.entries)
