"""What ``digits-app`` was asked to do, as one frozen value the app and its tests share.

``cli.py`` parses flags into an :class:`AppConfig`; nothing below the CLI sees ``argparse``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_app.process import DEFAULT_THREADS

MODES = ("camera", "draw", "image")
#: ``--source`` keywords; anything else is a path to an image or a video file.
CAMERA_SOURCES = ("camera", "kivy", "opencv", "picamera2")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mjpg", ".mjpeg")
#: where *Save* puts the digits read, unless ``--save-crops`` says otherwise
DEFAULT_CROPS = Path("~/digitlite-crops")


@dataclass(frozen=True)
class AppConfig:
    """Everything the app needs to start.

    Attributes:
        model: a user ``.tflite`` to add to (and prefer among) the shipped models; None: shipped.
        source: ``camera`` (best camera for this platform), ``kivy``, ``opencv``, ``picamera2``,
            or a path to an image or video file used as the camera.
        camera_index: which camera (OpenCV / Kivy index).
        threads: interpreter and OpenCV threads.
        mode: the mode to open in (``camera``, ``draw`` or ``image``).
        min_confidence: digits below this are not reported (None: the reader's default).
        screenshot: write a PNG of the window here just before quitting (needs ``quit_after``).
        quit_after: quit after this many seconds and print the final state as JSON on stdout.
        resolution: requested camera size ``(width, height)``.
        save_crops: the folder *Save* writes the digits read into (:mod:`edge_app.collect`).
    """

    model: Path | None = None
    source: str = "camera"
    camera_index: int = 0
    threads: int = DEFAULT_THREADS
    mode: str = "camera"
    min_confidence: float | None = None
    screenshot: Path | None = None
    quit_after: float | None = None
    resolution: tuple[int, int] = (640, 480)
    save_crops: Path = field(default=DEFAULT_CROPS)

    @property
    def source_is_file(self) -> bool:
        return self.source not in CAMERA_SOURCES


def source_kind(source: str) -> str:
    """``camera`` keywords map to themselves; a file maps to ``image`` or ``video``."""
    if source in CAMERA_SOURCES:
        return source
    suffix = Path(source).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "image"
