"""Where the package's bundled data lives: installed inside the package, or at the repo top."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """``protos`` or ``fixtures``: the wheel puts them under ``emulator/_bundled``; a source
    checkout keeps them at the top of the repository, the single source."""
    inside = _PACKAGE / "_bundled" / name
    return inside if inside.is_dir() else _PACKAGE.parent / name
