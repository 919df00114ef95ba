"""The client: one method per operation of the service, typed answers.

Every release method charges your budget (a repeat is free and says so
with ``charged == 0``); estimates, the catalog, budgets and ledger pages
charge nothing. Refusals raise the classes of :mod:`ctm_stats.errors`.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

from .models import Accuracy, BudgetSummary, Estimate, Filters, Page, Release
from .transport import Retry, Transport


def _body(
    dimensions: Optional[Sequence[str]],
    workload: Optional[Sequence[Sequence[str]]],
    filters: Optional[Filters],
    epsilon: Optional[float],
    rho: Optional[float],
    accuracy: Optional[Accuracy],
    confidence: Optional[float],
) -> Dict[str, Any]:
    if (dimensions is None) == (workload is None):
        raise ValueError("give dimensions (one grouping) or workload (several), not both")
    body: Dict[str, Any] = {}
    if dimensions is not None:
        body["dimensions"] = list(dimensions)
    if workload is not None:
        body["workload"] = [list(g) for g in workload]
    for name, value in (("filters", filters), ("epsilon", epsilon), ("rho", rho),
                        ("accuracy", accuracy), ("confidence", confidence)):
        if value is not None:
            body[name] = dict(value) if isinstance(value, Mapping) else value
    return body


class Client:
    """A client of one ctm-stats service.

    ``base_url`` and ``token`` default to the ``CTM_BASE_URL`` (or ``BASE_URL``)
    and ``CTM_TOKEN`` environment variables. ``retry`` says how often and how
    long to retry 429, 503 and dropped connections (:class:`ctm_stats.Retry`);
    ``labels`` adds a ``<dimension>_label`` column to frames where the
    catalog gives labels, in ``language`` where it has them (else English).
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        token: Optional[str] = None,
        *,
        retry: Retry = Retry(),
        timeout: float = 60.0,
        labels: bool = True,
        language: str = "en",
        **transport: Any,
    ) -> None:
        base_url = base_url or os.environ.get("CTM_BASE_URL") or os.environ.get("BASE_URL") or "http://127.0.0.1:8080"
        token = token if token is not None else os.environ.get("CTM_TOKEN")
        self.http = Transport(base_url, token, retry=retry, timeout=timeout, **transport)
        self._want_labels = labels
        self.language = language
        self._labels: Optional[Dict[str, Dict[str, str]]] = None

    @property
    def base_url(self) -> str:
        return self.http.base_url

    # ---- public, free -------------------------------------------------
    def catalog(self) -> Mapping[str, Any]:
        """The first dataset of ``GET /v1/catalog``: dimensions, values, costs, limits."""
        return self.http.call("catalog").json()["datasets"][0]

    def labels(self) -> Mapping[str, Mapping[str, str]]:
        """Per dimension, code -> label, from the catalog (empty where it gives none)."""
        if self._labels is None:
            self._labels = {}
            for d in self.catalog()["dimensions"]:
                got = _labels_of(d, self.language)
                if got:
                    self._labels[d["name"]] = got
        return self._labels

    # ---- counts -------------------------------------------------------
    def estimate(
        self,
        dimensions: Optional[Sequence[str]] = None,
        *,
        workload: Optional[Sequence[Sequence[str]]] = None,
        filters: Optional[Filters] = None,
        epsilon: Optional[float] = None,
        rho: Optional[float] = None,
        accuracy: Optional[Accuracy] = None,
        confidence: Optional[float] = None,
    ) -> Estimate:
        """What the same ``counts`` call would cost and how accurate it would be. Free."""
        body = _body(dimensions, workload, filters, epsilon, rho, accuracy, confidence)
        return Estimate.of(self.http.call("estimate", body=body).json())

    def counts(
        self,
        dimensions: Optional[Sequence[str]] = None,
        *,
        workload: Optional[Sequence[Sequence[str]]] = None,
        filters: Optional[Filters] = None,
        epsilon: Optional[float] = None,
        rho: Optional[float] = None,
        accuracy: Optional[Accuracy] = None,
        confidence: Optional[float] = None,
        idempotency_key: Optional[str] = None,
    ) -> Release:
        """Release grouped noisy counts (``POST /v1/counts``), charged to your budget.

        An ``Idempotency-Key`` is always sent (a random one unless given) and
        reused by every retry of this call, so a lost answer is replayed, not
        charged twice."""
        body = _body(dimensions, workload, filters, epsilon, rho, accuracy, confidence)
        r = self.http.call("counts", body=body, idempotency_key=idempotency_key)
        return Release.of(
            r.json(),
            idempotency_key=r.idempotency_key,
            replayed=r.headers.get("Idempotent-Replayed") == "true",
            labels=self._frame_labels(),
        )

    def workload(self, groupings: Sequence[Sequence[str]], **kwargs: Any) -> Release:
        """Several groupings over the same filters as one consistent release."""
        return self.counts(workload=groupings, **kwargs)

    # ---- national, regional, bilateral -------------------------------
    def national_tables(self, country: str, **query: Any) -> Mapping[str, Any]:
        """The tables offered for ``country`` with their costs. Free."""
        return self.http.call("national_tables", path={"country": country}, query=query).json()

    def national_report(
        self, country: str, *, year: Optional[int] = None, from_year: Optional[int] = None,
        to_year: Optional[int] = None, perspective: Optional[str] = None,
    ) -> Release:
        """Every table of a country's report, reconciled (one total)."""
        q = {"year": year, "from_year": from_year, "to_year": to_year, "perspective": perspective}
        return self._release("national_report", {"country": country}, q)

    def national_table(
        self, country: str, table: str, *, from_year: Optional[int] = None,
        to_year: Optional[int] = None, perspective: Optional[str] = None,
    ) -> Release:
        q = {"from_year": from_year, "to_year": to_year, "perspective": perspective}
        return self._release("national_table", {"country": country, "table": table}, q)

    def bilateral(
        self, country: str, other: str, *, from_year: Optional[int] = None, to_year: Optional[int] = None,
    ) -> Release:
        """The flow between two countries, both directions in one table."""
        q = {"from_year": from_year, "to_year": to_year}
        return self._release("bilateral", {"country": country, "other": other}, q)

    def regional_report(
        self, region: str, *, year: Optional[int] = None, from_year: Optional[int] = None,
        to_year: Optional[int] = None, perspective: Optional[str] = None,
    ) -> Release:
        q = {"year": year, "from_year": from_year, "to_year": to_year, "perspective": perspective}
        return self._release("regional_report", {"region": region}, q)

    def regional_table(
        self, region: str, table: str, *, from_year: Optional[int] = None,
        to_year: Optional[int] = None, perspective: Optional[str] = None,
    ) -> Release:
        q = {"from_year": from_year, "to_year": to_year, "perspective": perspective}
        return self._release("regional_table", {"region": region, "table": table}, q)

    # ---- budget and ledger -------------------------------------------
    def budget(self) -> BudgetSummary:
        return BudgetSummary.of(self.http.call("budget").json())

    def budget_history(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page:
        """One page of your ledger entries, oldest first."""
        j = self.http.call("budget_history", query={"limit": limit, "cursor": cursor}).json()
        return Page(list(j["entries"]), j.get("next_cursor"), unit=j.get("unit"))

    def iter_budget_history(self, *, limit: int = 1000) -> Iterator[Mapping[str, Any]]:
        cursor = None
        while True:
            page = self.budget_history(limit=limit, cursor=cursor)
            yield from page.entries
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def ledger_entries(
        self, *, consumer: Optional[str] = None, from_: Optional[str] = None, to: Optional[str] = None,
        outcome: Optional[str] = None, event: Optional[str] = None, limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page:
        """One page of the audit ledger (auditors), in sequence order."""
        q = {"consumer": consumer, "from": from_, "to": to, "outcome": outcome, "event": event,
             "limit": limit, "cursor": cursor}
        j = self.http.call("ledger_entries", query=q).json()
        return Page(list(j["entries"]), j.get("next_cursor"), ledger_size=j.get("ledger_size"))

    def iter_ledger(self, **filters: Any) -> Iterator[Mapping[str, Any]]:
        cursor = None
        while True:
            page = self.ledger_entries(cursor=cursor, **filters)
            yield from page.entries
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def ledger_export(self, path: Optional[str] = None) -> bytes:
        """The whole ledger as JSON Lines (auditors), for offline verification;
        written to ``path`` when given."""
        data = self.http.call("ledger_export", accept="application/x-ndjson").body
        if path is not None:
            with open(path, "wb") as f:
                f.write(data)
        return data

    # ---- helpers -------------------------------------------------------
    def _frame_labels(self) -> Mapping[str, Mapping[str, str]]:
        return self.labels() if self._want_labels else {}

    def _release(self, name: str, path: Mapping[str, str], query: Mapping[str, Any]) -> Release:
        return Release.of(self.http.call(name, path=path, query=query).json(), labels=self._frame_labels())


def _labels_of(dimension: Mapping[str, Any], language: str = "en") -> Dict[str, str]:
    """A dimension's ``labels`` as code -> label. The catalog sends them by
    language, ``{"en": {"name": ..., "values": {code: label}}, "fr": ...}``
    (``language`` is used where present, else English); a plain mapping, a
    list aligned with ``values`` or a list of ``{"value": ..., "label": ...}``
    are read too."""
    labels = dimension.get("labels")
    if isinstance(labels, Mapping):
        by_language = labels.get(language) or labels.get("en")
        if isinstance(by_language, Mapping) and isinstance(by_language.get("values"), Mapping):
            return {str(k): str(v) for k, v in by_language["values"].items() if v is not None}
        out: Dict[str, str] = {}
        for k, v in labels.items():
            if isinstance(v, Mapping):  # {"en": "...", "fr": "..."}
                v = v.get("en") or next(iter(v.values()), None)
            if v is not None:
                out[str(k)] = str(v)
        return out
    if isinstance(labels, list):
        values: List[Any] = list(dimension.get("values") or [])
        if all(isinstance(x, str) for x in labels) and len(labels) == len(values):
            return {str(v): lab for v, lab in zip(values, labels)}
        out = {}
        for x in labels:
            if isinstance(x, Mapping):
                code = x.get("value", x.get("code"))
                lab = x.get("label", x.get("name"))
                if isinstance(lab, Mapping):
                    lab = lab.get("en") or next(iter(lab.values()), None)
                if code is not None and lab is not None:
                    out[str(code)] = str(lab)
        return out
    return {}
