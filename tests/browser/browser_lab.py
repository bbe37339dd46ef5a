"""Machinery for the browser suite: lesson copies, a JupyterLab server, headless Chromium.

Nothing here writes into ``lessons/`` or ``solutions/``: every notebook the browser opens is a
copy under ``tests/artifacts/browser/`` (git-ignored), which is inside the server's root so
JupyterLab serves it like any other file.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat

from helpers._importorder import QUIET_ENV

try:  # the fixtures turn a missing playwright into a failure that says how to install it
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover
    class PlaywrightTimeout(Exception):
        pass

ROOT = Path(__file__).resolve().parents[2]
LESSONS = ROOT / "lessons"
SOLUTIONS = ROOT / "solutions"
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
WORK = ARTIFACTS / "browser"          # per-session copies of the lessons, served by JupyterLab
CHROMIUM = os.environ.get("DLSBS_CHROMIUM", "/usr/bin/chromium")
# Chromium inside a closed network: without these flags it keeps opening connections that get refused.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
_LESSON_RE = re.compile(r"^\d\d_[a-z0-9_]+$")

INSTALL_HINT = (
    "The browser tests need Debian's Chromium and the pinned Python `playwright` package:\n"
    "    sudo apt-get update && sudo apt-get install -y chromium     # gives /usr/bin/chromium\n"
    "    make install    # or: .venv/bin/pip install -r requirements.lock (pins playwright)\n"
    "(never `playwright install`: the suite drives /usr/bin/chromium, or $DLSBS_CHROMIUM)."
)


# ----------------------------------------------------------------------------- lessons


def lessons() -> list[str]:
    """Every lesson folder in lessons/ (``NN_name`` holding ``NN_name.ipynb``), in order."""
    if not LESSONS.is_dir():
        return []
    return sorted(p.name for p in LESSONS.iterdir()
                  if p.is_dir() and _LESSON_RE.match(p.name) and (p / f"{p.name}.ipynb").is_file())


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


_MARKER = re.compile(r"^\s*(#\s*)?### (BEGIN|END) SOLUTION\s*$")


def _strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not _MARKER.match(line))


def copy_lesson(lesson: str, dest_root: Path, fill: bool) -> Path:
    """Copy ``lessons/<lesson>/`` to ``dest_root/<lesson>/``; return the copied notebook's path.

    ``fill=True`` writes the instructor's answers (``solutions/<lesson>/<lesson>.ipynb``, matched by
    cell id, then by nbgrader ``grade_id``) into the released notebook's solution cells, so the copy
    is what a student who solved every exercise has: it must run without any error.  Everything else
    (locked cells, visible tests, metadata) stays exactly as released.
    """
    src_dir = LESSONS / lesson
    dest = dest_root / lesson
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src_dir, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    nb_path = dest / f"{lesson}.ipynb"
    if fill:
        source = SOLUTIONS / lesson / f"{lesson}.ipynb"
        if not source.is_file():
            raise FileNotFoundError(f"{source.relative_to(ROOT)} is missing: cannot fill in lesson {lesson}'s answers")
        release = nbformat.read(nb_path, as_version=4)
        answers = nbformat.read(source, as_version=4)
        by_id = {c.get("id"): c for c in answers.cells}
        by_grade_id = {nbgrader_meta(c).get("grade_id"): c for c in answers.cells if nbgrader_meta(c).get("grade_id")}
        missing = []
        for cell in release.cells:
            meta = nbgrader_meta(cell)
            if not meta.get("solution"):
                continue
            answer = by_id.get(cell.get("id")) or by_grade_id.get(meta.get("grade_id"))
            if answer is None or answer.cell_type != cell.cell_type:
                missing.append(meta.get("grade_id") or cell.get("id"))
                continue
            cell.source = _strip_markers(answer.source)
        if missing:
            raise LookupError(f"lesson {lesson}: no answer in solutions/ for solution cell(s) {missing}")
        nbformat.write(release, nb_path)
    return nb_path


# ----------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` from the project's venv, as ``make lab`` starts it, on a free port with a token."""

    def __init__(self, workdir: Path, startup_timeout: float = 180):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "jupyterlab.log"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    def start(self) -> "LabServer":
        jupyter = Path(sys.executable).parent / "jupyter"
        settings = self.workdir / "lab-user-settings"
        settings.mkdir(parents=True, exist_ok=True)
        write_lab_settings(settings)
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_PATH=str(ROOT / "grading"),       # as `make lab`: nbgrader finds the course
            **QUIET_ENV,                                    # as helpers.setup() and `make lab`
            JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"),
            PYTHONUNBUFFERED="1",
        )
        env.pop("JUPYTER_TOKEN", None)
        cmd = [str(jupyter), "lab", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={ROOT}", "--LabApp.default_url=/lab/tree/lessons",
               # a fresh lab state: no workspace or settings from the developer's own ~/.jupyter
               f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={self.workdir / 'lab-workspaces'}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.news_url=None"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")   # CI containers run as root; Jupyter refuses it otherwise
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status = self.api("api/status")
                if "started" in status:
                    return self
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"jupyter lab did not answer /api/status within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def api(self, path: str, method: str = "GET", body=None, timeout: float = 10):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/{path.lstrip('/')}", data=data, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def lab_url(self, path: str = "") -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}" if path else f"{self.url}/lab?token={self.token}"

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)   # the server and the kernels it started
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        self._log.close()
        self.proc = None


# ----------------------------------------------------------------------------- browser


def launch_chromium(playwright):
    """Debian's Chromium, headless, in a fresh profile (Playwright makes a temporary --user-data-dir)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


LAB_SETTINGS = {
    # no "Would you like to get notified about official Jupyter news?" toast over the widgets
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                      "checkForUpdates": False},
    # the tests save explicitly (File → Save); an autosave during a long widget check (lesson 03's two
    # widgets take over 2 minutes on a loaded machine) raised "File Changed ... on disk" over the page
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def write_lab_settings(settings_dir: Path):
    for rel, value in LAB_SETTINGS.items():
        path = Path(settings_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

# One record per notebook cell, read from what the browser shows.
_CELLS_JS = """(panel) => {
  const root = document.querySelector(panel);
  if (!root) return null;
  return [...root.querySelectorAll('.jp-Notebook .jp-Cell')].map((cell, index) => {
    const prompt = cell.querySelector('.jp-InputPrompt');
    const outputs = [...cell.querySelectorAll('.jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output')]
      .map(o => ({
        mime: o.dataset.mimeType || (o.querySelector('.jupyter-widgets') ? 'widget' : null),
        text: (o.innerText || o.textContent || '').slice(0, 4000),
        widget: !!o.querySelector('.jupyter-widgets'),
      }));
    const images = [...cell.querySelectorAll('img')].map(img => ({
      loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
      inWidget: !!img.closest('.jupyter-widgets'), src: img.src.slice(0, 80)}));
    const topImages = [...cell.querySelectorAll('.jp-Cell-outputArea img')]
      .filter(img => !img.closest('.jupyter-widgets')).length;
    return {index, type: cell.classList.contains('jp-CodeCell') ? 'code'
                        : cell.classList.contains('jp-MarkdownCell') ? 'markdown' : 'raw',
            prompt: prompt ? prompt.textContent.trim() : '', outputs, images, topImages};
  });
}"""

_RUNNING_JS = """(panel) => {
  const root = document.querySelector(panel);
  const prompts = [...root.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
  const indicator = root.querySelector('.jp-Notebook-ExecutionIndicator');
  return {running: prompts.filter(p => p === '[*]:').length,
          executed: prompts.filter(p => /^\\[\\d+\\]:$/.test(p)).length,
          total: prompts.length, status: indicator ? indicator.dataset.status : null};
}"""


class Lab:
    """A JupyterLab tab in Chromium, driven the way a person would: menus, toolbar buttons, keyboard."""

    def __init__(self, page, server: LabServer):
        self.page = page
        self.server = server

    # -- navigation ------------------------------------------------------------------------
    def open_lab(self):
        self.page.goto(self.server.lab_url() + "&reset")
        self.page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        self.page.wait_for_selector("#jp-MainMenu .lm-MenuBar-item", timeout=60_000)

    def open_notebook(self, path: Path, timeout: float = 120):
        """Open a notebook by URL, wait until every cell is in the page and the kernel is idle."""
        rel = Path(path).resolve().relative_to(ROOT).as_posix()
        n_cells = len(nbformat.read(path, as_version=4).cells)
        self.page.goto(f"{self.server.url}/lab/tree/{rel}?reset&token={self.server.token}")
        self.page.wait_for_function(
            "([panel, n]) => { const r = document.querySelector(panel);"
            " return r && r.querySelectorAll('.jp-Notebook .jp-Cell').length === n; }",
            arg=[_PANEL, n_cells], timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)
        return n_cells

    def menu(self, menu: str, command: str):
        """Click a main-menu item (``menu`` is the menu bar label, ``command`` the item's command id)."""
        self.page.wait_for_selector("#jp-MainMenu .lm-MenuBar-item", timeout=60_000)
        top = self.page.locator("#jp-MainMenu").get_by_role("menuitem", name=menu, exact=True)
        if top.count() == 0:
            labels = self.page.locator("#jp-MainMenu .lm-MenuBar-itemLabel").all_inner_texts()
            raise AssertionError(f"JupyterLab's menu bar has no {menu!r} menu (it has {labels}): "
                                 "is the extension that provides it installed and enabled?")
        top.click()
        item = self.page.locator(f".lm-Menu li.lm-Menu-item[data-command='{command}']")
        try:
            item.wait_for(state="visible", timeout=10_000)
        except PlaywrightTimeout as exc:
            raise AssertionError(f"the {menu!r} menu has no item for the command {command!r}") from exc
        item.click()

    # -- kernel ---------------------------------------------------------------------------
    def state(self) -> dict:
        return self.page.evaluate(_RUNNING_JS, _PANEL)

    def wait_kernel_idle(self, timeout: float = 120):
        self.page.wait_for_selector(f"{_PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']",
                                    timeout=timeout * 1000)

    def wait_run_finished(self, timeout: float):
        """Wait until nothing is queued or running and the kernel is idle (checked twice, 1 s apart)."""
        deadline = time.monotonic() + timeout
        calm = 0
        while time.monotonic() < deadline:
            s = self.state()
            calm = calm + 1 if (s["running"] == 0 and s["status"] == "idle") else 0
            if calm >= 3:
                return s
            time.sleep(0.5)
        raise TimeoutError(f"the notebook was still running after {timeout:.0f} s: {self.state()}")

    def run_all(self, timeout: float = 600):
        """Run → Run All Cells, then wait until the kernel has finished."""
        before = self.state()
        self.menu("Run", "runmenu:run-all")
        # the click must have started something before "idle" means "done"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            s = self.state()
            if s["running"] or s["executed"] != before["executed"] or s["status"] == "busy":
                break
            time.sleep(0.2)
        return self.wait_run_finished(timeout)

    def run_from(self, cell_index: int, timeout: float = 600):
        """Select a cell (click its prompt) and Run → Run Selected Cell and All Below."""
        cell = self.page.locator(f"{_PANEL} .jp-Notebook .jp-Cell").nth(cell_index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").click()
        self.menu("Run", "notebook:run-all-below")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            s = self.state()
            if s["running"] or s["status"] == "busy" or re.match(r"^\[\d+\]:$", self.cells()[cell_index]["prompt"]):
                break
            time.sleep(0.2)
        return self.wait_run_finished(timeout)

    def save(self, path: Path, timeout: float = 60):
        """File → Save Notebook; wait until the file on disk is newer and the tab is clean."""
        before = Path(path).stat().st_mtime_ns
        self.menu("File", "docmanager:save")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dirty = self.page.locator(".lm-TabBar-tab.lm-mod-current.jp-mod-dirty").count()
            if Path(path).stat().st_mtime_ns != before and not dirty:
                return nbformat.read(path, as_version=4)
            time.sleep(0.3)
        raise TimeoutError(f"saving {path.name} from JupyterLab did not finish within {timeout:.0f} s")

    # -- reading the page -----------------------------------------------------------------
    def cells(self) -> list[dict]:
        return self.page.evaluate(_CELLS_JS, _PANEL)

    def wait_images_loaded(self, timeout: float = 30):
        self.page.wait_for_function(
            "(panel) => [...document.querySelectorAll(panel + ' .jp-Notebook img')]"
            ".every(i => i.complete && i.naturalWidth > 0)", arg=_PANEL, timeout=timeout * 1000)

    def screenshot_notebook(self, path: Path, max_height: int = 12_000) -> list[Path]:
        """The whole notebook, top to bottom: a tall viewport, scrolled in chunks if it is taller still."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        page = self.page
        size = page.viewport_size
        scroller = f"{_PANEL} .jp-WindowedPanel-outer"
        height = page.evaluate(f"() => {{ const s = document.querySelector('{scroller}'); return s ? s.scrollHeight : 0 }}")
        chrome = 180   # menu bar, tab bar, toolbar, status bar
        view = min(max(height, size["height"] - chrome) + chrome, max_height)
        shots = []
        try:
            page.set_viewport_size({"width": size["width"], "height": view})
            step = view - chrome
            chunks = max(1, -(-height // step)) if height else 1
            for k in range(chunks):
                page.evaluate(f"(y) => {{ const s = document.querySelector('{scroller}'); if (s) s.scrollTop = y }}", k * step)
                page.wait_for_timeout(400)
                out = path if chunks == 1 else path.with_name(f"{path.stem}-{k + 1}{path.suffix}")
                page.screenshot(path=str(out))
                shots.append(out)
        finally:
            page.set_viewport_size(size)
        return shots

    # -- widgets --------------------------------------------------------------------------
    def explorers(self):
        """Interactive widgets in cell outputs: a widget box with a control and an Output showing a result."""
        boxes = self.page.locator(f"{_PANEL} .jp-Cell-outputArea .jp-OutputArea-output > .widget-box")
        controls = ".noUi-handle, .widget-dropdown select, .widget-toggle-button, .widget-checkbox input"
        return boxes.filter(has=self.page.locator(".widget-output")).filter(has=self.page.locator(controls))

    @staticmethod
    def output_signature(box) -> dict:
        return box.evaluate("""(box) => {
          const out = box.querySelector('.widget-output');
          const imgs = [...out.querySelectorAll('img')];
          return {images: imgs.map(i => i.src), loaded: imgs.every(i => i.complete && i.naturalWidth > 0),
                  text: (out.innerText || '').slice(0, 4000), html: out.innerHTML};
        }""")

    @staticmethod
    def controls(box) -> list[tuple[str, object]]:
        """The box's controls, in order: sliders, dropdowns, toggle-button groups, checkboxes."""
        found = []
        for kind, selector in (("slider", ".noUi-handle"), ("dropdown", ".widget-dropdown select"),
                               ("toggle buttons", ".widget-toggle-buttons"), ("checkbox", ".widget-checkbox input")):
            loc = box.locator(selector)
            found += [(kind, loc.nth(i)) for i in range(loc.count())]
        return found

    def change_control(self, kind: str, control) -> str:
        """Change one control through the UI (keyboard on a slider, select, click); return what was done."""
        control.scroll_into_view_if_needed()
        if kind == "slider":
            before = control.get_attribute("aria-valuenow")
            for key in ("ArrowRight", "ArrowLeft"):      # at the top of its range, go down instead
                control.focus()
                for _ in range(3):
                    control.press(key)
                    self.page.wait_for_timeout(150)
                try:
                    self.page.wait_for_function("([el, v]) => el.getAttribute('aria-valuenow') !== v",
                                                arg=[control.element_handle(), before], timeout=3_000)
                    return f"slider {before} -> {control.get_attribute('aria-valuenow')} ({key} x3)"
                except PlaywrightTimeout:  # try the other direction
                    continue
            return f"slider stuck at {before}"
        if kind == "dropdown":
            current = control.input_value()
            values = control.locator("option").evaluate_all("(os) => os.map(o => o.value)")
            other = next((v for v in values if v != current), current)
            control.select_option(other)
            return f"dropdown {current!r} -> {other!r}"
        if kind == "toggle buttons":
            button = control.locator(".widget-toggle-button:not(.mod-active)").first
            label = button.inner_text()
            button.click()
            return f"toggle button -> {label!r}"
        was = control.is_checked()
        control.click()
        return f"checkbox {was} -> {not was}"

    @staticmethod
    def mark_output(box):
        """Tag what the widget's Output shows now; a redraw replaces it with untagged elements."""
        box.evaluate("(box) => box.querySelectorAll('.widget-output .jp-OutputArea-child')"
                     ".forEach(e => e.setAttribute('data-browser-test', 'old'))")

    @staticmethod
    def _redrawn(box) -> bool:
        return box.evaluate("(box) => { const out = box.querySelector('.widget-output');"
                            " return out.querySelectorAll('.jp-OutputArea-child').length > 0 &&"
                            " !out.querySelector('[data-browser-test]'); }")

    def wait_output_changed(self, box, before: dict, content: bool = True, timeout: float = 90) -> dict:
        """Wait until the widget's Output was redrawn (``content=True``: and shows something different
        from ``before``), then stays the same for ~1.5 s with the kernel idle.  Call ``mark_output``
        before changing the control."""
        deadline = time.monotonic() + timeout
        last, stable = None, 0
        while time.monotonic() < deadline:
            sig = self.output_signature(box)
            idle = self.state()["status"] == "idle"
            changed = (sig["html"] != before["html"]) if content else self._redrawn(box)
            if changed and sig == last and idle and sig["loaded"]:
                stable += 1
                if stable >= 3:
                    return sig
            else:
                stable = 0
            last = sig
            time.sleep(0.5)
        return self.output_signature(box)
