"""Where destila keeps caches and finds local data."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """DESTILA_CACHE, else $XDG_CACHE_HOME/destila, else ~/.cache/destila."""
    env = os.environ.get("DESTILA_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "destila"


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """A local folder laid out like the upstream data (`--data-dir`, else DESTILA_DATA_DIR), or None."""
    value = explicit or os.environ.get("DESTILA_DATA_DIR")
    return Path(value).expanduser() if value else None
