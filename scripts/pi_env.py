"""An emulated 64-bit Raspberry Pi, built from the package registries alone, cached.

What 64-bit Raspberry Pi OS is underneath: Debian's arm64 Python 3.11 (bookworm). This module
unpacks those ``.deb`` files into a folder (``root``), fetches qemu's user-mode emulator from
bookworm-backports (bookworm's own qemu 7.2 crashes inside LiteRT's ``Interpreter()``; 10.x
runs it, XNNPACK included); :mod:`pi_packages` installs the Python packages it runs. Nothing
touches the machine: apt runs with a private configuration and state folder, dpkg only unpacks,
and no binfmt_misc or chroot is needed (``qemu-aarch64 -L ROOT ROOT/usr/bin/python3.11``).

Everything lands in one cache folder; each piece is built in a temporary folder and renamed
into place when complete, so an interrupted run never leaves a half environment behind, and a
second run finds it and does no network access for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUITE = "bookworm"  # what Raspberry Pi OS (64-bit) Bookworm is built on
BACKPORTS = f"{SUITE}-backports"
ROOT_PACKAGES = ("python3.11", "libstdc++6", "libgcc-s1", "zlib1g")  # wheels need the C++ runtime
PYTHON = "usr/bin/python3.11"
QEMU_PACKAGE = "qemu-user"
QEMU_BINARY = "usr/bin/qemu-aarch64"
QEMU_MIN_MAJOR = 8  # 7.2 (bookworm) dies with SIGSEGV in LiteRT's Interpreter()
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DEBIAN_SUITES = {"bullseye", "bookworm", "trixie", "forky", "sid", "stable", "testing", "unstable"}


class PiEnvError(Exception):
    """The emulated environment could not be built or used; the message says why."""


def default_cache_dir() -> Path:
    """``$DIGITLITE_PI_CACHE``, else ``$XDG_CACHE_HOME/digitlite-pi``, else ``~/.cache/...``."""
    if os.environ.get("DIGITLITE_PI_CACHE"):
        return Path(os.environ["DIGITLITE_PI_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "digitlite-pi"


def run(cmd: Sequence[str | Path], *, what: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``; on failure raise :class:`PiEnvError` with the last lines it printed."""
    cmd = [str(c) for c in cmd]
    log.debug("$ %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise PiEnvError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd[:4])} ...\n{tail}")
    return proc


def folder_size(path: Path) -> int:
    """Bytes in all files below ``path`` (symlinks not followed)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    """Hold the cache's lock: two checks on one machine (two worktrees) build it one at a time."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fresh_folder(path: Path) -> Path:
    """An empty ``path.tmp`` folder to build ``path`` in (left-overs of a crash removed)."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


# --- apt, privately ----------------------------------------------------------------------------


def system_mirror(suite: str = SUITE, etc: Path = Path("/etc/apt")) -> tuple[str, str]:
    """The Debian mirror this machine's own apt uses, and its keyring: ``(uri, signed_by)``.

    Reads ``/etc/apt/sources.list`` and ``/etc/apt/sources.list.d/*`` (one-line and deb822
    forms) for a ``deb`` entry of Debian's archive, preferring one of ``suite``. The machine
    need not run ``suite``: any Debian mirror serves every release.

    Raises:
        PiEnvError: no Debian entry is configured; pass ``--apt-mirror``.
    """
    entries: list[tuple[str, list[str], str]] = []  # (uri, suites, signed_by)
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file() or not path.name.endswith((".list", ".sources")):
            continue
        text = path.read_text(errors="replace")
        if path.name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (k.strip().lower(), v.strip())
                    for k, v in (
                        line.split(":", 1)
                        for line in stanza.splitlines()
                        if ":" in line and not line.lstrip().startswith("#")
                    )
                )
                if "deb" in fields.get("types", "").split():
                    for uri in fields.get("uris", "").split():
                        entries.append(
                            (uri, fields.get("suites", "").split(), fields.get("signed-by", ""))
                        )
        else:
            for line in text.splitlines():
                m = re.match(
                    r"\s*deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)", line
                )
                if m:
                    signed = re.search(r"signed-by=(\S+)", m["opts"] or "")
                    entries.append((m["uri"], [m["suite"]], signed[1] if signed else ""))
    # Debian's main archive (not -security, a different tree, nor a third-party repository);
    # an entry of the suite itself first, else one of another Debian release
    debian = [
        (uri, signed_by, suite in suites)
        for uri, suites, signed_by in entries
        if "security" not in uri
        and any(s.split("-")[0] in DEBIAN_SUITES for s in suites if "security" not in s)
    ]
    for uri, signed_by, _ in sorted(debian, key=lambda e: not e[2]):
        return uri.rstrip("/"), signed_by or DEFAULT_KEYRING
    raise PiEnvError(
        f"this machine's apt has no Debian mirror for {suite}; give one with --apt-mirror URL"
    )


@dataclass(frozen=True)
class PrivateApt:
    """apt-get with its own sources, lists, cache and an empty dpkg status, in ``folder``."""

    folder: Path
    mirror: str
    keyring: str

    def options(self, arch: str) -> list[str]:
        d = self.folder
        settings = {
            "Dir::Etc::SourceList": d / "sources.list",
            "Dir::Etc::SourceParts": "/dev/null",
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": "/dev/null",
            "Dir::State": d / "state",
            "Dir::State::Lists": d / "lists",
            "Dir::State::status": d / "status",
            "Dir::Cache": d / "cache",
            "Dir::Cache::archives": d / "archives",
            "Debug::NoLocking": "1",  # the machine's dpkg lock is none of our business
            "APT::Sandbox::User": "root",  # the private folders are not readable by _apt
            "APT::Get::AllowUnauthenticated": "false",
            "APT::Architecture": arch,
        }
        opts = []
        for key, value in settings.items():
            opts += ["-o", f"{key}={value}"]
        for extra in ("amd64", "arm64"):
            opts += ["-o", f"APT::Architectures::={extra}"]
        return opts

    def update(self) -> None:
        d = self.folder
        for sub in ("state", "lists/partial", "cache", "archives/partial"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "status").touch()
        sources = "".join(
            f"deb [arch=amd64,arm64 signed-by={self.keyring}] {self.mirror} {suite} main\n"
            for suite in (SUITE, BACKPORTS)
        )
        (d / "sources.list").write_text(sources)
        run(["apt-get", *self.options("amd64"), "-q", "update"], what="apt-get update")

    def download(self, arch: str, packages: Sequence[str], into: Path) -> list[Path]:
        """Download ``packages`` with every dependency (nothing counts as installed).

        Returns the ``.deb`` files, all in ``into``.
        """
        shutil.rmtree(into, ignore_errors=True)
        (into / "partial").mkdir(parents=True)
        cmd = ["apt-get", *self.options(arch), "-o", f"Dir::Cache::archives={into}"]
        cmd += ["-q", "-y", "--download-only", "--no-install-recommends", "install", *packages]
        run(cmd, what=f"apt-get download of {' '.join(packages)} ({arch})")
        return sorted(into.glob("*.deb"))


def _unpack(deb: Path, into: Path, *members: str) -> None:
    """``dpkg-deb -x`` (or only ``members``): files out, no maintainer scripts, no dpkg state."""
    if not members:
        run(["dpkg-deb", "-x", deb, into], what=f"unpacking {deb.name}")
        return
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    run(
        ["tar", "-x", "-C", into, *(f"./{m}" for m in members)],
        what=f"unpacking {deb.name}",
        stdin=tar.stdout,
    )
    tar.wait()


def _deb_field(deb: Path, field: str) -> str:
    return run(["dpkg-deb", "-f", deb, field], what="dpkg-deb -f").stdout.strip()


# --- the emulated Pi ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Emulator:
    """How to run the emulated Pi's Python."""

    qemu: Path
    root: Path
    glibc: str  # e.g. "2.36", decides which manylinux wheels the Pi accepts
    python_version: str  # Debian's, e.g. "3.11.2"
    qemu_version: str

    def python(self, cpu: str | None = None) -> list[str]:
        """The command line that starts Python on the emulated Pi (``cpu``: qemu's ``-cpu``)."""
        cpu_opts = ["-cpu", cpu] if cpu else []
        return [str(self.qemu), "-L", str(self.root), *cpu_opts, str(self.root / PYTHON)]

    def wheel_platforms(self) -> list[str]:
        """pip ``--platform`` tags a Pi with this glibc accepts (pip does not widen them)."""
        major, minor = (int(x) for x in self.glibc.split(".")[:2])
        tags = [f"manylinux_{major}_{m}_aarch64" for m in range(minor, 16, -1)]
        return [*tags, "manylinux2014_aarch64", "linux_aarch64"]


def ensure_emulator(cache: Path, *, mirror: str | None, qemu: Path | None) -> Emulator:
    """The cached emulated Pi, built first if missing (needs apt-get and dpkg-deb, no root)."""
    root = cache / "root-arm64"
    qemu_dir = cache / "qemu"
    if qemu is None:
        qemu = qemu_dir / QEMU_BINARY
    apt: PrivateApt | None = None
    if not (root / ".complete").is_file() or not qemu.is_file():
        uri, keyring = (mirror, DEFAULT_KEYRING) if mirror else system_mirror()
        apt = PrivateApt(cache / "apt", uri, keyring)
        started = time.monotonic()
        apt.update()
        log.info(
            "private apt lists for %s + %s in %.1f s", SUITE, BACKPORTS, time.monotonic() - started
        )
    if not qemu.is_file():
        assert apt is not None
        started = time.monotonic()
        debs = apt.download("amd64", [f"{QEMU_PACKAGE}/{BACKPORTS}"], cache / "apt" / "debs-qemu")
        deb = next(d for d in debs if d.name.startswith(QEMU_PACKAGE + "_"))
        tmp = fresh_folder(qemu_dir)
        _unpack(deb, tmp, QEMU_BINARY)
        shutil.rmtree(qemu_dir, ignore_errors=True)
        tmp.rename(qemu_dir)
        log.info(
            "qemu-aarch64 %s unpacked in %.1f s",
            _deb_field(deb, "Version"),
            time.monotonic() - started,
        )
    qemu_version = _qemu_version(qemu)
    if int(qemu_version.split(".")[0]) < QEMU_MIN_MAJOR:
        raise PiEnvError(
            f"{qemu} is qemu {qemu_version}; LiteRT crashes under qemu < {QEMU_MIN_MAJOR} "
            f"(use the cached one from {BACKPORTS}: drop --qemu)"
        )
    if not (root / ".complete").is_file():
        assert apt is not None
        started = time.monotonic()
        debs = apt.download("arm64", ROOT_PACKAGES, cache / "apt" / "debs-arm64")
        tmp = fresh_folder(root)
        versions = {}
        for deb in debs:
            _unpack(deb, tmp)
            versions[_deb_field(deb, "Package")] = _deb_field(deb, "Version")
        (tmp / ".complete").write_text(json.dumps(versions, indent=1, sort_keys=True) + "\n")
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
        log.info(
            "arm64 root: %d Debian packages unpacked in %.1f s (%s)",
            len(debs),
            time.monotonic() - started,
            mb(folder_size(root)),
        )
    probe = (
        "import json, os, platform; print(json.dumps([os.confstr('CS_GNU_LIBC_VERSION'), "
        "platform.python_version(), platform.machine()]))"
    )
    out = run(
        [str(qemu), "-L", str(root), str(root / PYTHON), "-S", "-c", probe],
        what="the emulated Python",
    )
    libc, version, machine = json.loads(out.stdout)
    if machine != "aarch64":
        raise PiEnvError(f"the emulated Python says it runs on {machine}, not aarch64")
    return Emulator(qemu, root, libc.split()[-1], version, qemu_version)


def _qemu_version(qemu: Path) -> str:
    out = run([qemu, "--version"], what="qemu-aarch64 --version").stdout
    m = re.search(r"version (\d+\.\d+[.\d]*)", out)
    if not m:
        raise PiEnvError(f"cannot tell the version of {qemu}: {out[:80]!r}")
    return m[1]
