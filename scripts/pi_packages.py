"""Python packages for ``make pi-check``: pip ``--target`` folders, cached, and the project's wheel.

A *site* is one folder of packages installed with ``pip install --target``, either for the
emulated Pi (aarch64 wheels only, with the ``--platform`` tags its glibc accepts, as a Pi's pip
would pick them) or for this machine's own Python. Each is cached under a name made of what
went in, built in a temporary folder and renamed into place when complete, like the rest of
the cache (see :mod:`pi_env`). The project itself is installed from a wheel built from the tree,
so what ships is what a user's pip installs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pi_env import folder_size, fresh_folder, mb, run

log = logging.getLogger(__name__)


def _pip(args: Sequence[str | Path], cache: Path, what: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIP_CACHE_DIR=str(cache / "pip"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    return run([sys.executable, "-m", "pip", *args], what=what, env=env)


def installed(site: Path) -> dict[str, str]:
    """``{distribution name: version}`` of what ``pip install --target`` put in ``site``."""
    found = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        found[name.lower().replace("_", "-")] = version
    return dict(sorted(found.items()))


def ensure_site(
    cache: Path,
    label: str,
    requirements: Sequence[str],
    platforms: Sequence[str] | None,
    *,
    refresh: bool = False,
) -> tuple[Path, int]:
    """A folder of packages installed with ``pip install --target``, cached by what went in.

    Args:
        label: readable part of the folder name, e.g. ``aarch64-litert``.
        requirements: pip requirement strings.
        platforms: pip ``--platform`` tags (the Pi's); None for this machine's own Python.
        refresh: reinstall (today's index) even if a cached folder exists.

    Returns:
        (the folder, bytes of the wheels it was installed from).
    """
    key = hashlib.sha256(json.dumps([label, sorted(requirements), platforms]).encode()).hexdigest()
    site = cache / "sites" / f"{label}-{key[:10]}"
    if (site / ".complete").is_file() and not refresh:
        return site, json.loads((site / ".complete").read_text())["download_bytes"]
    wheels = cache / "wheels" / ("host" if platforms is None else "aarch64")
    wheels.mkdir(parents=True, exist_ok=True)
    target: list[str] = ["--only-binary=:all:"]
    if platforms is not None:
        target += [f"--platform={p}" for p in platforms]
        target += [
            "--python-version=3.11",
            "--implementation=cp",
            "--abi=cp311",
            "--abi=abi3",
            "--abi=none",
        ]
    started = time.monotonic()
    _pip(
        ["download", "-q", "-d", wheels, *target, *requirements], cache, f"pip download for {label}"
    )
    tmp = fresh_folder(site)
    _pip(
        [
            "install",
            "-q",
            "--no-index",
            "--find-links",
            wheels,
            "--target",
            tmp,
            *target,
            *requirements,
        ],
        cache,
        f"pip install --target for {label}",
    )
    versions = installed(tmp)
    download = sum(
        w.stat().st_size
        for w in wheels.glob("*.whl")
        if _wheel_key(w.name) in {(n, v) for n, v in versions.items()}
    )
    (tmp / ".complete").write_text(
        json.dumps({"requirements": list(requirements), "download_bytes": download})
    )
    shutil.rmtree(site, ignore_errors=True)
    tmp.rename(site)
    log.info(
        "%s: %s installed in %.1f s (%s of wheels, %s installed)",
        label,
        ", ".join(f"{n} {v}" for n, v in versions.items()),
        time.monotonic() - started,
        mb(download),
        mb(folder_size(site)),
    )
    return site, download


def _wheel_key(filename: str) -> tuple[str, str]:
    name, version = filename.split("-")[:2]
    return name.lower().replace("_", "-"), version


def build_project(repo: Path, cache: Path, into: Path) -> Path:
    """The project as a user's pip installs it: a wheel built from ``repo``, unpacked to ``into``.

    The wheel shows what ships (package data such as the models included or not); its
    dependencies come from the cached sites. It is built from a copy of the files git would
    see (tracked or new, not ignored), so a stale ``build/`` folder cannot smuggle in a
    module that was deleted.
    """
    started = time.monotonic()
    work = fresh_folder(into.with_name(into.name + "-build"))
    source = work / "src"
    for rel in _project_files(repo):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, source / rel)
    _pip(["wheel", "-q", "--no-deps", "-w", work, source], cache, "building the project's wheel")
    wheel = next(work.glob("*.whl"))
    shutil.rmtree(into, ignore_errors=True)
    _pip(
        ["install", "-q", "--no-deps", "--no-index", "--target", into, wheel],
        cache,
        "installing the project's wheel",
    )
    log.info(
        "%s built from the tree and unpacked in %.1f s", wheel.name, time.monotonic() - started
    )
    shutil.rmtree(work, ignore_errors=True)
    return into


def _project_files(repo: Path) -> list[str]:
    out = run(
        ["git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        what="listing the project's files",
    ).stdout
    return [rel for rel in out.split("\0") if rel and (repo / rel).is_file()]
