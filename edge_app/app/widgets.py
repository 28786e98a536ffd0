"""Kivy widgets: they hold properties and draw. Every decision is in the presenter.

* :class:`FrameView` - a frame (:class:`~edge_app.app.geometry.Preview`) as a texture, fitted
  into the widget, with digit boxes.
* :class:`DrawCanvas` - finger/mouse strokes; records points in image convention (y down).
* :class:`BarRow` - one class of the drawing's top three as a labelled bar.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, InstructionGroup, Line, Rectangle
from kivy.graphics.texture import Texture
from kivy.metrics import dp, sp
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from edge_app.app.drawing import Drawing
from edge_app.app.geometry import Fit, Preview, fit_image
from edge_app.app.presenter import Box

log = logging.getLogger(__name__)

BOX_COLOR = (0.2, 1.0, 0.4, 1.0)
#: boxes found in an earlier frame than the one on screen: a dashed outline (labels unchanged)
STALE_BOX_COLOR = (0.2, 1.0, 0.4, 0.9)
LABEL_BACKGROUND = (0.0, 0.0, 0.0, 0.65)
#: frame textures in rotation (see FrameView.__init__)
TEXTURES = 3


class FrameView(Widget):
    """Shows frames kept upright and in proportion, and outlines digit boxes on them.

    A camera frame costs the UI thread one texture upload (:meth:`show`; the pixels were made
    on the capture thread); the box outlines are rebuilt only when the boxes change
    (:meth:`set_boxes`), and a move or resize relayouts through one coalesced trigger.
    """

    placeholder = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._frame_size = (0, 0)  # Kivy order (w, h) of the frame the boxes refer to
        self._shown: Any = None
        # Textures take turns: a frame goes into the one shown longest ago. With two, the one
        # uploaded into was still in use by the frame drawn just before, and Mesa's software
        # GL (a Pi without GPU driver, offscreen runs) took its slow path for busy textures:
        # 8 ms per 640x480 upload, against 0.3 ms with three.
        self._spares: deque[Any] = deque()
        self._boxes: tuple[Box, ...] = ()
        self._stale = False
        self._fit: Fit | None = None
        self._label_textures: dict[str, Any] = {}  # "7 98%" -> texture; text is rendered once
        with self.canvas:  # no background of its own: the window's clear colour shows around
            Color(1, 1, 1, 1)
            self._image = Rectangle(size=(0, 0))
        self._overlay = InstructionGroup()  # boxes, or the placeholder text
        self.canvas.add(self._overlay)
        self._relayout = Clock.create_trigger(self._layout)
        self.bind(pos=self._relayout, size=self._relayout, placeholder=self._relayout)

    @property
    def texture(self) -> Any:
        """The texture on screen (None before the first frame)."""
        return self._shown

    def show(self, preview: Preview) -> None:
        """Put a frame on screen (UI thread only)."""
        spares = self._spares
        spare = spares.popleft() if len(spares) >= TEXTURES - 1 else None
        if spare is None or tuple(spare.size) != preview.texture_size:
            spare = Texture.create(size=preview.texture_size, colorfmt="rgba")
            spare.flip_vertical()  # numpy rows run top to bottom, Kivy's y bottom to top
        spare.blit_buffer(preview.rgba.reshape(-1).data, colorfmt="rgba", bufferfmt="ubyte")
        if self._shown is not None:
            spares.append(self._shown)
        self._shown = spare
        self._image.texture = spare
        if preview.size != self._frame_size or self._fit is None:
            self._frame_size = preview.size
            self._layout()

    def set_boxes(self, boxes: Sequence[Box], stale: bool = False) -> None:
        """Outline ``boxes`` (pixels of the frame shown; ``stale``: found in an earlier one)."""
        boxes = tuple(boxes)
        if boxes == self._boxes and stale == self._stale:
            return
        self._boxes, self._stale = boxes, stale
        self._draw_overlay()

    def clear(self) -> None:
        self._shown = None
        self._spares.clear()
        self._image.texture = None
        self._boxes = ()
        self._layout()

    def _layout(self, *_: Any) -> None:
        if self._shown is None:
            self._fit = None
            self._image.size = (0, 0)
        else:
            fit = self._fit = fit_image(self._frame_size, self.pos, self.size)
            self._image.pos, self._image.size = (fit.x, fit.y), (fit.w, fit.h)
        self._draw_overlay()

    def _draw_overlay(self) -> None:
        overlay = self._overlay
        overlay.clear()
        if self._fit is None:
            if self.placeholder:
                _text(overlay, self.placeholder, self.center_x, self.center_y, sp(18), centre=True)
            return
        for box in self._boxes:
            self._draw_box(overlay, self._fit, box)

    def _draw_box(self, overlay: InstructionGroup, fit: Fit, box: Box) -> None:
        x, y, w, h = fit.box_to_widget((box.x, box.y, box.w, box.h))
        colour = STALE_BOX_COLOR if self._stale else BOX_COLOR
        overlay.add(Color(*colour))
        if self._stale:  # Kivy dashes only 1-pixel lines
            dashes = {"dash_length": dp(6), "dash_offset": dp(3)}
            overlay.add(Line(rectangle=(x, y, w, h), width=1, **dashes))
        else:
            overlay.add(Line(rectangle=(x, y, w, h), width=dp(1.5)))
        texture = self._label_textures.get(box.label)
        if texture is None:
            if len(self._label_textures) > 256:  # labels repeat; keep the cache bounded
                self._label_textures.clear()
            texture = self._label_textures[box.label] = _text_texture(box.label, sp(15))
        tw, th = texture.size
        overlay.add(Color(*LABEL_BACKGROUND))
        overlay.add(Rectangle(pos=(x, y + h + dp(2)), size=(tw + dp(4), th)))
        overlay.add(Color(*BOX_COLOR))
        overlay.add(Rectangle(texture=texture, pos=(x + dp(2), y + h + dp(2)), size=(tw, th)))


def _text_texture(text: str, size: float) -> Any:
    label = CoreLabel(text=text, font_size=size, bold=True)
    label.refresh()
    return label.texture


def _text(
    group: InstructionGroup, text: str, x: float, y: float, size: float, *, centre: bool = False
) -> None:
    """Add light text at (x, y) (bottom-left, or its centre) to ``group``."""
    texture = _text_texture(text, size)
    w, h = texture.size
    if centre:
        x, y = x - w / 2, y - h / 2
    group.add(Color(0.85, 0.85, 0.85, 1))
    group.add(Rectangle(texture=texture, pos=(x, y), size=(w, h)))


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
