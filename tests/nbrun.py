"""Run a notebook in a fresh kernel and keep the kernel alive to ask it questions.

    with LiveNotebook(path) as live:
        live.run()                       # every cell, in order, from a fresh kernel
        live.errors()                    # [(cell index, text)] of error outputs
        live.eval("float(acc)")          # evaluate an expression in the kernel, JSON round trip

Used by the test-suite so that one execution of a lesson serves many tests.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from grading import nbclient_fix
from helpers._importorder import QUIET_ENV

ROOT = Path(__file__).resolve().parent.parent
nbclient_fix.apply()  # nbclient's Output-widget echo can hang a cell (jupyter/nbclient#312)


def kernel_env() -> dict:
    env = dict(os.environ)
    env.update(QUIET_ENV, MPLBACKEND="module://matplotlib_inline.backend_inline", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


class LiveNotebook:
    def __init__(self, path, timeout: int = 300):
        self.path = Path(path)
        self.nb = nbformat.read(self.path, as_version=4)
        self.client = NotebookClient(self.nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(self.path.parent)}})
        self.seconds = None
        self._ctx = None

    def __enter__(self):
        self._ctx = self.client.setup_kernel(env=kernel_env())
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
            self._ctx = None

    def run(self):
        start = time.perf_counter()
        for index, cell in enumerate(self.nb.cells):
            self.client.execute_cell(cell, index)
        self.seconds = time.perf_counter() - start
        return self

    def errors(self) -> list:
        out = []
        for i, cell in enumerate(self.nb.cells):
            for o in cell.get("outputs", []):
                if o.output_type == "error":
                    out.append((i, f"{o.ename}: {o.evalue}"))
        return out

    def stderr(self) -> list:
        return [(i, o.text) for i, c in enumerate(self.nb.cells) for o in c.get("outputs", [])
                if o.output_type == "stream" and o.name == "stderr"]

    def images(self) -> int:
        return sum(1 for c in self.nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {}))

    def exec(self, code: str) -> list:
        """Run extra code in the live kernel; returns its outputs. Raises on an error output."""
        cell = new_code_cell(code)
        self.nb.cells.append(cell)
        try:
            self.client.execute_cell(cell, len(self.nb.cells) - 1)
        finally:
            self.nb.cells.pop()
        errs = [o for o in cell.outputs if o.output_type == "error"]
        if errs:
            raise AssertionError(f"{errs[0].ename}: {errs[0].evalue}\n" + "\n".join(errs[0].traceback)[-3000:])
        return cell.outputs

    _SNAPSHOT = "_live_names_before"

    def snapshot(self) -> None:
        """Remember what every name in the kernel is bound to (see :meth:`restore`)."""
        self.exec(f"{self._SNAPSHOT} = dict(globals())")

    def restore(self) -> None:
        """Undo name changes since :meth:`snapshot`: names added are deleted, names rebound or deleted get
        their old objects back. (Objects changed in place stay changed: tests must not do that.)"""
        self.exec("def _live_restore(g, before):\n"          # in a function: its own names are not globals
                  "    for k in [k for k in g if k not in before]:\n        del g[k]\n"
                  "    g.update(before)\n"
                  f"_live_restore(globals(), globals().pop({self._SNAPSHOT!r}))")

    def eval(self, expr: str):
        """Evaluate ``expr`` in the kernel and return its value (must be JSON-serialisable)."""
        outputs = self.exec(f"import json as _j\nprint('@@' + _j.dumps({expr}))")
        text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")
        line = [ln for ln in text.splitlines() if ln.startswith("@@")][-1]
        return json.loads(line[2:])


def main(argv=None) -> int:
    """``python tests/nbrun.py solutions/02_x/02_x.ipynb``: run headless, report time, errors, stderr, figures."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("notebook")
    a = p.parse_args(argv)
    with LiveNotebook(a.notebook) as live:
        live.run()
        print(f"{a.notebook}: {live.seconds:.1f} s from a fresh kernel, {live.images()} figure(s)")
        for i, text in live.errors():
            print(f"  ERROR in cell {i}: {text}")
        for i, text in live.stderr():
            print(f"  stderr in cell {i}: {text[:500]}")
        return 1 if live.errors() else 0


if __name__ == "__main__":
    raise SystemExit(main())
