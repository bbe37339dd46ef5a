"""Work around nbclient's Output-widget hang (jupyter/nbclient#312, fix proposed in #311, not merged).

When a cell draws into an ``ipywidgets.Output`` (every ``helpers.widgets.Explorer`` does), nbclient
mimics a front-end: its ``OutputWidget.sync_state`` sends the widget's outputs back to the kernel on
the *shell* channel while another coroutine of the same client is waiting for the cell's
``execute_reply`` on that channel.  Now and then the reply is then never seen: the kernel is idle, the
client waits until its cell timeout (seen here: lesson 03's and lesson 05's explorers, 300 s each).

The kernel never needs that echo when nothing but nbclient is listening, so this makes
``sync_state`` a no-op.  nbclient still records the widget's outputs (``executor.widget_state``),
which is what tests and saved notebooks read.  It is a private class of nbclient: applied only to the
versions it was checked on; any other version runs unpatched.
"""
from __future__ import annotations

TESTED = ("0.10.", "0.11.")


def apply() -> bool:
    """Patch nbclient (idempotent); True when the patch is active."""
    try:
        import nbclient
        from nbclient.output_widget import OutputWidget
    except ImportError:  # pragma: no cover - nbclient is in the course's lock
        return False
    if not nbclient.__version__.startswith(TESTED):
        return False
    if not getattr(OutputWidget, "_dlsbs_no_echo", False):
        OutputWidget.sync_state = lambda self: None
        OutputWidget._dlsbs_no_echo = True
    return True
