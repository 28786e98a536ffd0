"""The Pi set-ups ``make pi-check`` installs, and the environments built for them.

A set-up is one way a Pi user installs DigitLite: the project's ``edge`` extra, changed as the
README says. :func:`prepare` builds or reuses the emulated Pi (:mod:`pi_env`) and each
set-up's packages for aarch64 and, at the very same versions, for x86_64 (:mod:`pi_packages`),
and installs the project from a wheel of this tree; :class:`Environments` then starts a Python
that sees only one set-up's packages and the project, on the emulated Pi or natively.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pi_env
import pi_packages

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setup:
    """One way a Pi user installs DigitLite: the ``edge`` extra, changed as the README says."""

    name: str
    about: str
    runtime: str  # what digits-predict must report loading
    add: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()  # names of edge requirements left out

    def requirements(self, edge: list[str]) -> list[str]:
        kept = [r for r in edge if _requirement_name(r) not in self.drop]
        return [*kept, *self.add]


SETUPS: tuple[Setup, ...] = (
    Setup("litert", "pip install 'digitlite[edge]' as it resolves today (numpy 2)", "litert"),
    Setup(
        "picamera2",
        "README's picamera2 venv: + 'numpy<2' 'opencv-python-headless<4.12'",
        "litert",
        add=("numpy<2", "opencv-python-headless<4.12"),
    ),
    Setup(
        "tflite-runtime",
        "the 2.14 fallback: tflite-runtime==2.14.0, numpy<2, opencv<4.12, no LiteRT",
        "tflite-runtime",
        add=("tflite-runtime==2.14.0", "numpy<2", "opencv-python-headless<4.12"),
        drop=("ai-edge-litert",),
    ),
)
SETUP_NAMES = tuple(s.name for s in SETUPS)


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[@]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def edge_requirements() -> list[str]:
    """The ``edge`` extra, read from pyproject.toml (the single source of what a Pi installs)."""
    with open(REPO / "pyproject.toml", "rb") as handle:
        return list(tomllib.load(handle)["project"]["optional-dependencies"]["edge"])


@dataclass(frozen=True)
class Environments:
    """The emulated Pi, the package folders of every set-up on both architectures, the project."""

    emulator: pi_env.Emulator
    sites: dict[tuple[str, str], Path]  # (set-up, "aarch64" | "x86_64") -> pip --target folder
    info: dict[str, dict]  # set-up -> requirements, versions, download and installed bytes
    project: Path  # the project's wheel, unpacked

    def python(self, cpu: str | None) -> list[str]:
        """Python on the emulated Pi with qemu's ``-cpu``, or this machine's for None."""
        return [sys.executable] if cpu is None else self.emulator.python(cpu)

    def environ(self, setup: str, cpu: str | None) -> dict[str, str]:
        """Environment variables for that Python: only the set-up's packages and the project."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        site = self.sites[setup, "x86_64" if cpu is None else "aarch64"]
        env.update(PYTHONPATH=f"{self.project}{os.pathsep}{site}", PYTHONHASHSEED="0")
        return env


def prepare(
    setups: Sequence[str],
    out: Path,
    *,
    cache: Path,
    apt_mirror: str | None = None,
    qemu: Path | None = None,
    refresh: bool = False,
) -> Environments:
    """Build or reuse the emulated Pi and the set-ups' packages; install the project in ``out``.

    Args:
        setups: names from :data:`SETUPS`.
        cache: the folder of the emulated Pi and its packages, shared by every run.
        apt_mirror: the Debian mirror; None for the one this machine's apt uses.
        qemu: a qemu-aarch64 to use instead of the cached one.
        refresh: reinstall the set-ups' packages from today's index.

    Raises:
        PiEnvError: something could not be fetched, unpacked or run.
    """
    if platform.machine() != "x86_64":
        raise pi_env.PiEnvError(
            f"pi-check emulates aarch64 on x86_64; this is {platform.machine()}"
        )
    by_name = {s.name: s for s in SETUPS}
    edge = edge_requirements()
    with pi_env.locked(cache):
        emu = pi_env.ensure_emulator(cache, mirror=apt_mirror, qemu=qemu)
        log.info(
            "emulated Pi: Debian %s Python %s (glibc %s) under qemu-aarch64 %s",
            pi_env.SUITE,
            emu.python_version,
            emu.glibc,
            emu.qemu_version,
        )
        sites: dict[tuple[str, str], Path] = {}
        info: dict[str, dict] = {}
        for name in setups:
            reqs = by_name[name].requirements(edge)
            arm, download = pi_packages.ensure_site(
                cache, f"aarch64-{name}", reqs, emu.wheel_platforms(), refresh=refresh
            )
            versions = pi_packages.installed(arm)
            # x86_64 gets exactly the versions the Pi got, so only the architecture differs
            pins = [f"{n}=={v}" for n, v in versions.items()]
            host, _ = pi_packages.ensure_site(cache, f"x86_64-{name}", pins, None)
            sites[name, "aarch64"], sites[name, "x86_64"] = arm, host
            info[name] = {
                "requirements": reqs,
                "versions": versions,
                "download_bytes": download,
                "installed_bytes": pi_env.folder_size(arm),
            }
    project = pi_packages.build_project(REPO, cache, out / "project")
    return Environments(emu, sites, info, project)


def shipped_models(project: Path) -> dict[str, str]:
    """``{format: model path}`` the project ships, asked of the installed package itself."""
    probe = (
        "import json; from edge_app.models import shipped_models, DEFAULT_FORMAT; "
        "m = {k: str(v) for k, v in shipped_models().items()}; "
        "print(json.dumps([DEFAULT_FORMAT, m]))"
    )
    env = dict(os.environ, PYTHONPATH=str(project))
    out = pi_env.run(
        [sys.executable, "-S", "-c", probe], what="listing the shipped models", env=env
    )
    default, models = json.loads(out.stdout)
    # the default model first: it is what digits-predict reads with when given no --model
    return {default: models[default], **{k: v for k, v in models.items() if k != default}}
