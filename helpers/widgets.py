"""ipywidgets building blocks the lessons reuse.

The main piece is :class:`Explorer`: controls on top, a plot below, redrawn
whenever a control changes::

    ex = Explorer(draw, lr=log_slider("learning rate", 0.1, -3, 1),
                        act=choice("activation", helpers.twin.ACTIVATIONS))
    ex  # display it

``draw`` receives the controls' values as keyword arguments and draws with
matplotlib.  Explorer counts its renders and keeps the last error (the full
traceback, in ``last_error``), so tests (and the browser suite) can check a
callback really ran.  When drawing fails because an exercise is unfinished, the
widget shows the hint :mod:`helpers.hints` gives for it instead of the traceback.
"""
from __future__ import annotations

import time
import traceback
from typing import Callable

import ipywidgets as W

_LAYOUT = W.Layout(width="420px")
_STYLE = {"description_width": "130px"}


def slider(description: str, value: float, min: float, max: float, step: float | None = None,
           continuous: bool = True) -> W.FloatSlider:
    step = step if step is not None else (max - min) / 100
    return W.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         continuous_update=continuous, layout=_LAYOUT, style=_STYLE, readout_format=".3g")


def int_slider(description: str, value: int, min: int, max: int, step: int = 1, continuous: bool = True) -> W.IntSlider:
    return W.IntSlider(value=value, min=min, max=max, step=step, description=description,
                       continuous_update=continuous, layout=_LAYOUT, style=_STYLE)


def log_slider(description: str, value: float, min_exp: float, max_exp: float, steps: int = 60,
               continuous: bool = True) -> W.FloatLogSlider:
    """A slider over ``10**min_exp .. 10**max_exp`` on a log scale (learning rates)."""
    return W.FloatLogSlider(value=value, base=10, min=min_exp, max=max_exp, step=(max_exp - min_exp) / steps,
                            description=description, continuous_update=continuous, layout=_LAYOUT,
                            style=_STYLE, readout_format=".2g")


def choice(description: str, options, value=None, buttons: bool = True):
    """Pick one of a few options (toggle buttons), or of many (a dropdown)."""
    options = list(options)
    value = options[0] if value is None else value
    if buttons and len(options) <= 5:
        return W.ToggleButtons(options=options, value=value, description=description, style=_STYLE)
    return W.Dropdown(options=options, value=value, description=description, layout=_LAYOUT, style=_STYLE)


def toggle(description: str, value: bool = False) -> W.Checkbox:
    return W.Checkbox(value=value, description=description, style=_STYLE)


def player(description: str, n: int, value: int = 0, interval_ms: int = 150) -> W.IntSlider:
    """An integer slider with a ▶ button that steps through ``0 .. n-1`` (scrub through training).

    Returns the slider; the button is in ``slider.player`` and shown next to it by :class:`Explorer`.
    """
    s = int_slider(description, value, 0, n - 1)
    play = W.Play(value=value, min=0, max=n - 1, interval=interval_ms, description="play")
    W.jslink((play, "value"), (s, "value"))
    s.player = play
    return s


class Explorer(W.VBox):
    """Controls + a live matplotlib plot. ``draw(**values)`` is called on every change."""

    def __init__(self, draw: Callable, title: str | None = None, **controls):
        if not controls:
            raise ValueError("Explorer needs at least one control, e.g. lr=log_slider('lr', 0.1, -3, 0)")
        self.draw = draw
        self.controls = controls
        self.out = W.Output()
        self.renders = 0
        self.last_error: str | None = None
        self.last_seconds = 0.0
        rows = []
        for c in controls.values():
            rows.append(W.HBox([c.player, c]) if hasattr(c, "player") else c)
            c.observe(self._changed, names="value")
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(header + rows + [self.out])
        self.refresh()

    @property
    def values(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def _changed(self, change):
        self.refresh()

    def refresh(self):
        import matplotlib.pyplot as plt
        from IPython.display import clear_output

        start = time.perf_counter()
        with self.out:
            clear_output(wait=True)
            try:
                self.draw(**self.values)
                plt.show()
                self.last_error = None
            except Exception as exc:  # show the learner the error inside the widget, keep the widget alive
                self.last_error = traceback.format_exc()
                plt.close("all")
                print(self._message(exc))
        self.renders += 1
        self.last_seconds = time.perf_counter() - start
        return self

    def _message(self, exc: Exception) -> str:
        """What the widget shows when drawing failed: the hint if an unfinished exercise caused it, else the traceback."""
        from . import hints

        hint = hints.explain(exc)
        if hint is None:
            return self.last_error
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return f"This widget cannot draw yet ({error}).\n\nHint: {hint}"

