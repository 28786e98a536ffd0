"""Installed package versions, read from package metadata (nothing is imported to learn them)."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata


def package_version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (pip's name), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """``{name: version}`` of each distribution; None for those not installed."""
    return {name: package_version(name) for name in names}
