"""Releases as pandas DataFrames, and their plots.

A frame has one row per cell: the dimensions' codes (as the service sends
them), a ``<dimension>_label`` column where the catalog gives labels,
``count`` (nullable: missing where suppressed), ``margin_of_error``,
``suppressed``, and the interval ``low``/``high`` (``low`` clipped at 0).
A release of several tables adds a ``table`` column. What a citation needs
(query ids, data version, confidence, k) is in ``frame.attrs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import pandas as pd

if TYPE_CHECKING:
    from .models import Release, Table


def _tables(release: "Release", table: Optional[str]):
    return [release.table(table)] if table is not None else list(release.tables)


def cells_frame(release: "Release", table: Optional[str] = None) -> pd.DataFrame:
    """One row per cell of the release (or of one of its tables)."""
    tables = _tables(release, table)
    several = len(tables) > 1
    rows = []
    dims: list = []
    for t in tables:
        for d in t.dimensions:
            if d not in dims:
                dims.append(d)
        for c in t.cells:
            row = {"table": t.id} if several else {}
            for d in t.dimensions:
                row[d] = c.key.get(d)
                labels = release.labels.get(d)
                if labels is not None:
                    row[d + "_label"] = labels.get(str(c.key.get(d)))
            row.update(count=c.count, margin_of_error=c.margin_of_error, suppressed=c.suppressed)
            rows.append(row)
    columns = (["table"] if several else []) + [
        col for d in dims for col in ([d, d + "_label"] if d in release.labels else [d])
    ] + ["count", "margin_of_error", "suppressed"]
    df = pd.DataFrame(rows, columns=columns)
    df["count"] = df["count"].astype("Int64")
    df["margin_of_error"] = df["margin_of_error"].astype("int64")
    df["suppressed"] = df["suppressed"].astype(bool)
    df["low"] = (df["count"] - df["margin_of_error"]).clip(lower=0)
    df["high"] = df["count"] + df["margin_of_error"]
    df.attrs.update(
        dataset=release.dataset,
        data_version=release.data_version,
        confidence=release.confidence,
        k=release.k,
        query_ids={t.id: t.query_id for t in tables},
        release_ids={t.id: t.release_id for t in tables},
    )
    return df


def totals_frame(release: "Release") -> pd.DataFrame:
    """One row per table: its total, the total's margin, and whether it is complete."""
    rows = [
        {
            "table": t.id,
            "count": t.total.count if t.total else None,
            "margin_of_error": t.total.margin_of_error if t.total else None,
            "complete": t.total.complete if t.total else None,
            "consistent": t.consistent,
        }
        for t in release.tables
    ]
    df = pd.DataFrame(rows, columns=["table", "count", "margin_of_error", "complete", "consistent"])
    df["count"] = df["count"].astype("Int64")
    df["margin_of_error"] = df["margin_of_error"].astype("Int64")
    return df


def default_title(release: "Release", t: "Table") -> str:
    where = release.country or release.region or release.dataset
    years = ""
    if release.from_year is not None and release.to_year is not None:
        years = f", {release.from_year}" if release.from_year == release.to_year else f", {release.from_year}-{release.to_year}"
    name = t.title or " × ".join(t.dimensions)
    return f"{where}: {name}{years}"


def plot(release: "Release", path: str, *, title: Optional[str] = None, table: Optional[str] = None) -> str:
    """Horizontal bars of the released cells with their margins as error bars,
    written to ``path`` (PNG, SVG or PDF by its extension). Suppressed cells
    are counted in the subtitle, never drawn as zero. Needs matplotlib
    (``pip install 'ctm-stats[plot]'``)."""
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'ctm-stats[plot]'") from e
    matplotlib.use("Agg")  # draw to a file; no display needed
    import matplotlib.pyplot as plt

    t = release.table(table) if table is not None else release.tables[0]
    df = cells_frame(release, t.id)
    shown = df[~df["suppressed"]]
    hidden = int(df["suppressed"].sum())

    def label(row) -> str:
        return " · ".join(str(row.get(d + "_label") or row[d]) for d in t.dimensions)

    names = [label(r) for _, r in shown.iterrows()]
    fig, ax = plt.subplots(figsize=(8, 0.32 * max(len(names), 1) + 1.8))
    counts = shown["count"].astype(float)
    # The interval [low, high]: a count is never below 0, nor is its bar.
    xerr = [counts - shown["low"].astype(float), shown["high"].astype(float) - counts]
    ax.barh(names, counts, xerr=xerr, color="#1d4e89", ecolor="black", capsize=2)
    ax.invert_yaxis()
    margin = int(df["margin_of_error"].max()) if len(df) else 0
    ax.set_xlabel(f"noisy count (error bars: ±{margin} at {release.confidence:.0%} confidence)")
    subtitle = f"\n{hidden} cells suppressed (below {release.k} after noise)" if hidden else ""
    ax.set_title((title or default_title(release, t)) + subtitle, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
