"""`make lab` — the README's first command — serves lessons/ with the nbgrader extensions present."""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from course_tools import ROOT
from grading import course


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # headless: must not try to open a browser
    proc = subprocess.Popen(["make", "-s", "lab", f"PORT={port}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()

    def drain():  # keep reading for the server's whole life, so a full pipe can never block it
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    url, log, deadline = None, [], time.time() + 180
    try:
        while url is None and time.time() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if line is None:
                break
            log.append(line)
            m = re.search(rf"http://127\.0\.0\.1:{port}/lab[^?\s]*\?token=(\w+)", line)
            if m:
                url = m.group(0)
        assert url, "make lab did not print a URL with a token within 180 s:\n" + "".join(log[-30:])
        info = {"base": f"http://127.0.0.1:{port}", "token": url.split("token=")[1], "log": log}
        while time.time() < deadline:  # the URL can be printed a moment before the port accepts
            try:
                get(info, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        yield info
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def get(lab, path: str) -> tuple[int, str]:
    sep = "&" if "?" in path else "?"
    with urllib.request.urlopen(f"{lab['base']}{path}{sep}token={lab['token']}", timeout=60) as r:
        return r.status, r.read().decode()


@pytest.mark.slow
@pytest.mark.xdist_group("lab")
def test_lab_opens_on_lessons_with_nbgrader_and_widgets(lab):
    status, page = get(lab, "/lab")
    assert status == 200
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    names = {e["name"] for e in config.get("federated_extensions", [])}
    disabled = set(config.get("disabledExtensions", []))
    for ext in ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager"):
        assert ext in names, f"{ext} is not served by JupyterLab (found {sorted(names)})"
        assert ext not in disabled
    assert any("/lab/tree/lessons?token=" in line for line in lab["log"]), "the printed link opens lessons/"
    status, listing = get(lab, "/api/contents/lessons")
    found = {item["name"] for item in json.loads(listing)["content"]}
    assert set(course.lessons()) <= found


@pytest.mark.slow
@pytest.mark.xdist_group("lab")
def test_formgrader_lists_every_lesson(lab):
    status, body = get(lab, "/formgrader/api/assignments")
    assert status == 200
    names = {a["name"] for a in json.loads(body)}
    assert set(course.lessons()) <= names, f"formgrader lists {sorted(names)}"


@pytest.mark.slow
@pytest.mark.xdist_group("lab")
def test_student_validate_endpoint_is_served(lab):
    """The nbgrader 'Validate' button posts to this server extension."""
    req = urllib.request.Request(f"{lab['base']}/assignments/validate?token={lab['token']}",
                                 data=b"path=lessons/does-not-exist.ipynb", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            status, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, ""
    assert status == 200, f"the validate_assignment server extension did not answer (HTTP {status})"
    # nbgrader's handler answers {"success": ..., "value": ...}; a missing notebook is its own failure
    answer = json.loads(body)
    assert answer["success"] is False and "does-not-exist" in answer["value"], answer
