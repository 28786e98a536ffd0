"""Kivy widgets: they hold properties and draw. Every decision is in the presenter.

* :class:`FrameView` - a numpy frame as a texture, fitted into the widget, with digit boxes.
* :class:`DrawCanvas` - finger/mouse strokes; records points in image convention (y down).
* :class:`BarRow` - one class of the drawing's top three as a labelled bar.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Line, Rectangle
from kivy.graphics.texture import Texture
from kivy.metrics import dp, sp
from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from edge_app.app.drawing import Drawing
from edge_app.app.geometry import bgr_to_rgba_bytes, downscale_for_display, fit_image
from edge_app.app.presenter import Box

log = logging.getLogger(__name__)

BOX_COLOR = (0.2, 1.0, 0.4, 1.0)
LABEL_BACKGROUND = (0.0, 0.0, 0.0, 0.65)


class FrameView(Widget):
    """Shows a BGR numpy frame (kept upright and in proportion) and outlines digit boxes."""

    texture = ObjectProperty(None, allownone=True)
    #: boxes in the pixels of the frame given to :meth:`show` (top-left origin)
    boxes = ListProperty([])
    placeholder = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._frame_size = (0, 0)  # Kivy order (w, h) of the original frame
        self._display_factor = 1.0
        self._label_textures: dict[str, Any] = {}  # "7 98%" -> texture; text is rendered once
        self._spare: Any = None  # the texture not on screen, uploaded next
        self.bind(pos=self._redraw, size=self._redraw, texture=self._redraw, boxes=self._redraw)
        self.bind(placeholder=self._redraw)

    def show(self, frame: np.ndarray) -> None:
        """Upload a frame (UI thread only).

        Two textures take turns: the new frame goes into the one not on screen, so the upload
        never waits for the GPU to finish drawing the previous frame.
        """
        small, factor = downscale_for_display(frame)
        data, size = bgr_to_rgba_bytes(small)
        spare = self._spare
        if spare is None or tuple(spare.size) != size:
            spare = Texture.create(size=size, colorfmt="rgba")
        spare.blit_buffer(data, colorfmt="rgba", bufferfmt="ubyte")
        self._frame_size = (frame.shape[1], frame.shape[0])
        self._display_factor = factor
        self._spare = self.texture
        self.texture = spare

    def clear(self) -> None:
        self.texture = self._spare = None
        self.boxes = []

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        with self.canvas:
            Color(0.08, 0.08, 0.08, 1)
            Rectangle(pos=self.pos, size=self.size)
            if self.texture is None:
                if self.placeholder:
                    _text(self.placeholder, self.center_x, self.center_y, sp(18), centre=True)
                return
            fit = fit_image(self._frame_size, self.pos, self.size)
            Color(1, 1, 1, 1)
            Rectangle(texture=self.texture, pos=(fit.x, fit.y), size=(fit.w, fit.h))
            for box in self.boxes:
                self._draw_box(fit, box)

    def _draw_box(self, fit: Any, box: Box) -> None:
        x, y, w, h = fit.box_to_widget((box.x, box.y, box.w, box.h))
        Color(*BOX_COLOR)
        Line(rectangle=(x, y, w, h), width=dp(1.5))
        texture = self._label_textures.get(box.label)
        if texture is None:
            if len(self._label_textures) > 256:  # labels repeat; keep the cache bounded
                self._label_textures.clear()
            texture = self._label_textures[box.label] = _text_texture(box.label, sp(15))
        tw, th = texture.size
        Color(*LABEL_BACKGROUND)
        Rectangle(pos=(x, y + h + dp(2)), size=(tw + dp(4), th))
        Color(*BOX_COLOR)
        Rectangle(texture=texture, pos=(x + dp(2), y + h + dp(2)), size=(tw, th))


def _text_texture(text: str, size: float) -> Any:
    label = CoreLabel(text=text, font_size=size, bold=True)
    label.refresh()
    return label.texture


def _text(text: str, x: float, y: float, size: float, *, centre: bool = False) -> None:
    """Draw light text at (x, y) (bottom-left, or its centre) on the current canvas."""
    texture = _text_texture(text, size)
    w, h = texture.size
    if centre:
        x, y = x - w / 2, y - h / 2
    Color(0.85, 0.85, 0.85, 1)
    Rectangle(texture=texture, pos=(x, y), size=(w, h))


class DrawCanvas(Widget):
    """A square-ish black pad for a finger or a mouse; white ink like MNIST.

    Points are stored in image convention (x right, y down, in this widget's pixels), so the
    drawing renders upright. Dispatches ``on_drawing`` after every change.
    """

    pen_width = NumericProperty(dp(9))

    __events__ = ("on_drawing",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drawing = Drawing()
        self.bind(pos=self._redraw, size=self._redraw)

    def on_drawing(self) -> None:
        """Event: the drawing changed (a stroke started, moved or ended, or it was cleared)."""

    def clear(self) -> None:
        self.drawing.clear()
        self._redraw()
        self.dispatch("on_drawing")

    def _to_image(self, touch: Any) -> tuple[float, float]:
        return touch.x - self.x, self.top - touch.y  # y flips: Kivy's origin is bottom-left

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return super().on_touch_down(touch)
        touch.grab(self)
        self.drawing.begin(*self._to_image(touch))
        self._redraw()
        self.dispatch("on_drawing")
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return super().on_touch_move(touch)
        x, y = self._to_image(touch)
        self.drawing.add(min(max(x, 0), self.width), min(max(y, 0), self.height))
        self._redraw()
        self.dispatch("on_drawing")
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return super().on_touch_up(touch)
        touch.ungrab(self)
        self.dispatch("on_drawing")
        return True

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        with self.canvas:
            Color(0, 0, 0, 1)
            Rectangle(pos=self.pos, size=self.size)
            Color(0.3, 0.3, 0.3, 1)
            Line(rectangle=(self.x, self.y, self.width, self.height), width=dp(1))
            Color(1, 1, 1, 1)
            for stroke in self.drawing.strokes:
                points = []
                for x, y in stroke:
                    points += [self.x + x, self.top - y]
                if len(points) == 2:
                    points += points
                Line(points=points, width=self.pen_width, cap="round", joint="round")


class BarRow(BoxLayout):
    """One of the drawing's top three: the digit, a bar as long as its probability, the %."""

    digit = StringProperty("")
    value = NumericProperty(0.0)
    percent = StringProperty("")
