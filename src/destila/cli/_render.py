"""Terminal tables shared by the verbs."""

from __future__ import annotations


def _fmt(key: str, value) -> str:
    if value is None:
        return "-"
    if key.endswith("total"):
        return str(value)
    if key.endswith("thresh"):
        return f"{value:.4f}"
    return f"{value:.2f}"


def metrics_table(title: str, metrics: dict, caption: str | None = None):
    """A rich table of `{"official": {...}, "es": {...}}` scores, one row per official key."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("official", justify="right")
    table.add_column("es", justify="right")
    for key, value in metrics["official"].items():
        table.add_row(key, _fmt(key, value), _fmt(key, metrics["es"].get(key)))
    table.caption = caption
    return table
