"""What the app's screen shows, as plain data: the :class:`View` the presenter returns and the
widgets draw, with its digit boxes (:class:`Box`) and probability bars (:class:`Bar`). What
goes in it is decided by :class:`~edge_app.app.presenter.Presenter`; no Kivy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Box:
    """One digit to outline, in the pixel coordinates of the analysed image (top-left origin)."""

    x: int
    y: int
    w: int
    h: int
    digit: int
    confidence: float

    @property
    def label(self) -> str:
        return f"{self.digit} {self.confidence:.0%}"

    @property
    def xywh(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


@dataclass(frozen=True)
class Bar:
    """One class of a drawing's prediction: digit and probability (0..1)."""

    digit: int
    probability: float

    @property
    def label(self) -> str:
        return f"{self.digit}  {self.probability:.0%}"


@dataclass(frozen=True)
class View:
    """Everything on screen, as plain values. Widgets copy these into their properties."""

    mode: str = "camera"
    number: str = ""
    boxes: tuple[Box, ...] = ()
    bars: tuple[Bar, ...] = ()
    status: str = ""
    message: str = ""
    notice: str = ""
    frozen: bool = False
    model: str = ""
    models: tuple[str, ...] = ()
    camera_available: bool = True
    #: the boxes belong to an earlier frame than the one on screen (drawn as such)
    boxes_stale: bool = False
    latency_ms: float | None = None
    model_ms: float | None = None
    preview_fps: float | None = None
    analysis_fps: float | None = None
    ui_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready state (``--quit-after`` prints it; tests assert on it)."""
        return {
            "mode": self.mode,
            "number": self.number,
            "message": self.message,
            "notice": self.notice,
            "status": self.status,
            "frozen": self.frozen,
            "model": self.model,
            "models": list(self.models),
            "camera_available": self.camera_available,
            "latency_ms": self.latency_ms,
            "model_ms": self.model_ms,
            "preview_fps": self.preview_fps,
            "analysis_fps": self.analysis_fps,
            "ui_ms": self.ui_ms,
            "boxes_stale": self.boxes_stale,
            "boxes": [
                {"digit": b.digit, "confidence": round(b.confidence, 4), "box": [*b.xywh]}
                for b in self.boxes
            ],
            "bars": [{"digit": b.digit, "probability": round(b.probability, 4)} for b in self.bars],
        }
