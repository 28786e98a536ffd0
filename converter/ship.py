"""Ship a verified run's models as the app's default: ``python -m converter.ship RUN MODELS``.

Copies the run's int8 and float32 .tflite files into ``edge_app/models`` as
``digits_int8.tflite`` / ``digits_float32.tflite`` with the run's ``conversion.json`` and
``conversion.md`` beside them. Only models that passed the accuracy gate, still carry their
contract and still have the hash the report recorded are shipped; every file is staged first
and moved into place with ``os.replace``, so the models directory never holds a mix.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from converter.errors import ConverterError
from converter.formats import Format, parse_formats
from converter.pipeline import REPORT_JSON, REPORT_MD
from edge_app import files
from edge_app.cliparts import add_verbosity, run_main
from edge_app.contract import read_contract_bytes
from edge_app.models import FILE_PATTERN

log = logging.getLogger(__name__)

PROG = "python -m converter.ship"
SHIPPED_FORMATS = ("int8", "float32")


class ShipError(ConverterError):
    """The run cannot be shipped: no report, a failed gate, or files that changed since."""


def shipped_name(fmt: Format) -> str:
    """The file name a format gets in the app's models directory, e.g. ``digits_int8.tflite``."""
    return FILE_PATTERN.format(fmt=fmt.name)


def _load_report(run_dir: Path) -> dict[str, Any]:
    path = run_dir / REPORT_JSON
    try:
        report = json.loads(path.read_text())
    except OSError as exc:
        raise ShipError(
            f"{path}: no conversion report ({exc.strerror}); run digits-convert first"
        ) from exc
    except ValueError as exc:
        raise ShipError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(report, dict) or not isinstance(report.get("formats"), list):
        raise ShipError(f"{path}: not a digits-convert report")
    return report


def _checked_model(run_dir: Path, fmt: Format, row: dict[str, Any] | None) -> bytes:
    if row is None:
        raise ShipError(f"{run_dir / REPORT_JSON} has no {fmt.name} row; convert it first")
    if not row.get("passed"):
        raise ShipError(f"{fmt.name} failed the accuracy gate ({row.get('status')}); not shipping")
    path = fmt.path(run_dir)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ShipError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if hashlib.sha256(data).hexdigest() != row.get("sha256"):
        raise ShipError(f"{path} changed since it was verified (sha256 differs from the report)")
    contract = read_contract_bytes(data, source=str(path))
    if contract.format != fmt.name:
        raise ShipError(f"{path} carries a '{contract.format}' contract, expected '{fmt.name}'")
    return data


def ship(
    run_dir: str | Path, models_dir: str | Path, formats: tuple[str, ...] = SHIPPED_FORMATS
) -> list[Path]:
    """Copy a run's verified models and report into ``models_dir``.

    Returns:
        The files written.

    Raises:
        ShipError: nothing to ship, a failed gate, a changed file.
        OutputError: ``models_dir`` cannot be written.
    """
    run_dir, models_dir = Path(run_dir), Path(models_dir)
    report = _load_report(run_dir)
    rows = {r.get("format"): r for r in report["formats"]}
    chosen = parse_formats(formats)
    payloads: dict[str, bytes] = {
        shipped_name(f): _checked_model(run_dir, f, rows.get(f.name)) for f in chosen
    }
    report["shipped"] = {f.name: shipped_name(f) for f in chosen}
    payloads[REPORT_JSON] = (json.dumps(report, indent=2) + "\n").encode()
    markdown = (run_dir / REPORT_MD).read_text() if (run_dir / REPORT_MD).is_file() else ""
    names = ", ".join(f"`{f.filename}` -> `{shipped_name(f)}`" for f in chosen)
    payloads[REPORT_MD] = (
        f"{markdown.rstrip()}\n\nShipped as the app's default models: {names}.\n".encode()
    )

    files.ensure_writable_dir(models_dir)
    staging = Path(tempfile.mkdtemp(dir=models_dir, prefix=".ship-"))
    written = []
    try:
        for name, data in payloads.items():
            files.write_bytes(staging / name, data)
        for name in payloads:  # models first, the report that describes them last
            (staging / name).replace(models_dir / name)
            written.append(models_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m converter.ship RUN_DIR MODELS_DIR [--formats ...]``."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run directory digits-convert has verified")
    parser.add_argument("models_dir", type=Path, help="where the app's default models live")
    parser.add_argument(
        "--formats", default=",".join(SHIPPED_FORMATS), help="comma-separated formats to ship"
    )
    add_verbosity(parser)

    def body(args: argparse.Namespace) -> int:
        for path in ship(args.run_dir, args.models_dir, tuple(args.formats.split(","))):
            print(path)
        return 0

    return run_main(PROG, parser, argv, body, log_format="%(message)s")


if __name__ == "__main__":
    raise SystemExit(main())
