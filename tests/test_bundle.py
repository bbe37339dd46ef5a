"""The student copy (`make student-bundle`): self-contained, and no answers or hidden tests in it."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from grading import bundle

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.slow  # builds the bundle: releases every lesson and scans every file

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    folder = bundle.build(out, tarball=True, check=False)   # the scan is asserted below, file by file
    bundle.pack(folder, out / f"{bundle.NAME}.tar.gz")
    return folder, out / f"{bundle.NAME}.tar.gz"


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_bundle_holds_the_lessons_helpers_and_its_own_make_lab(built):
    folder, tarball = built
    files = _files(folder)
    released = {p.relative_to(ROOT).as_posix() for p in (ROOT / "lessons").glob("*/*.ipynb")}
    assert released and released <= files
    assert {"Makefile", "README.md", "requirements.lock", "pyproject.toml", "helpers/__init__.py",
            "jupyter/labconfig/page_config.json", "jupyter/jupyter_server_config.json"} <= files
    assert "lab:" in (folder / "Makefile").read_text()
    # nothing of the instructor's: no source, no grader, no nbgrader course config
    assert not [f for f in files if f.split("/")[0] in ("solutions", "grading", "tests", "benchmarks")]
    assert not [f for f in files if f.endswith(".py") and not f.startswith("helpers/")]
    assert 'packages = ["helpers", "helpers.lessons"]' in (folder / "pyproject.toml").read_text()
    with tarfile.open(tarball) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    assert names == {f"{bundle.NAME}/{f}" for f in files}


def test_bundle_scan_finds_no_answers_or_hidden_tests(built):
    """Every file of the folder and of the tarball, against every answer and hidden test of solutions/."""
    folder, tarball = built
    secret = bundle.Secrets()
    assert len(secret) > 100, "the instructor notebooks' answers and hidden tests were read"
    leaks = bundle.scan(folder, secret) + bundle.scan(tarball, secret)
    assert not leaks, "instructor material in the student copy:\n  " + "\n  ".join(leaks[:30])


def test_scan_fires_on_a_planted_leak(built, tmp_path):
    folder, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    secret = bundle.Secrets()
    before = set(bundle.scan(copy, secret))
    # an answer pasted into a helper module, a hidden test in a notebook, the source folder itself
    src = (ROOT / "solutions").glob("*/*.ipynb").__next__()
    import nbformat

    nb = nbformat.read(src, as_version=4)
    answer = next(c.source for c in nb.cells if "### BEGIN SOLUTION" in c.source and c.cell_type == "code")
    body = answer.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
    (copy / "helpers" / "extra.py").write_text("def planted():\n" + body.replace("### ", "") + "\n")
    hidden = next(c.source for c in nb.cells if "### BEGIN HIDDEN TESTS" in c.source)
    block = hidden.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]
    lesson = next((copy / "lessons").glob("*/*.ipynb"))
    planted = nbformat.read(lesson, as_version=4)
    planted.cells.append(nbformat.v4.new_code_cell(block))
    nbformat.write(planted, lesson)
    (copy / "solutions").mkdir()
    found = set(bundle.scan(copy, secret)) - before
    assert any(f.startswith("helpers/extra.py: answer") for f in found), found
    assert any(f.startswith(f"{lesson.relative_to(copy)}: answer") for f in found), found
    assert "solutions: instructor-only path" in found
    # a planted leak in a tarball is found too
    bundle.pack(copy, tmp_path / "leaky.tar.gz")
    assert any("leaky.tar.gz!" in f and "helpers/extra.py" in f for f in bundle.scan(tmp_path / "leaky.tar.gz", secret))


def test_build_refuses_to_pack_a_leak(tmp_path, monkeypatch):
    real_copy = bundle._copy_helpers

    def leaky(dest):
        real_copy(dest)
        shutil.copy(next((ROOT / "solutions").glob("*/*.ipynb")), dest / "helpers" / "answers.ipynb")

    monkeypatch.setattr(bundle, "_copy_helpers", leaky)
    with pytest.raises(bundle.LeakError) as err:
        bundle.build(tmp_path)
    assert "helpers/answers.ipynb" in str(err.value)
    assert not (tmp_path / f"{bundle.NAME}.tar.gz").exists() and not (tmp_path / bundle.NAME).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_bundle_lab_has_no_instructor_tools_and_no_news_popup(built):
    """JupyterLab started with the bundle's config: no Formgrader/Create Assignment, no news pop-up."""
    folder, _ = built
    port, token = _free_port(), "bundletest"
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(folder / "jupyter"), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("DLSBS_COURSE_ROOT", None)
    cmd = [str(Path(sys.executable).with_name("jupyter")), "lab", f"--ServerApp.root_dir={folder}",
           f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", "--no-browser", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def get(path):
        with urllib.request.urlopen(f"{base}{path}?token={token}", timeout=60) as r:
            return r.status, r.read().decode()

    try:
        for _ in range(240):
            try:
                get("/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        _, page = get("/lab")
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, re.S).group(1))
        disabled = set(config.get("disabledExtensions", []))
        for plugin in (*bundle.INSTRUCTOR_LAB_PLUGINS, bundle.NEWS_PLUGIN):
            assert plugin in disabled, f"{plugin} is enabled for students"
        assert "@jupyter/nbgrader:validate-assignment" not in disabled
        with pytest.raises(urllib.error.HTTPError) as err:
            get("/formgrader/api/assignments")
        assert err.value.code == 404, "the formgrader server extension answers in the student copy"
        status, listing = get("/api/contents/lessons")
        assert status == 200 and json.loads(listing)["content"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_bundle_make_lab_installs_once_then_starts(built, tmp_path):
    """The install stamp holds a hash of the lock: a fresh copy installs, a matching stamp starts at once
    (however new the copy's files are), an edited lock installs again."""
    folder, _ = built
    copy = tmp_path / "s"
    shutil.copytree(folder, copy)

    def plan():
        return subprocess.run(["make", "-n", "lab"], cwd=copy, capture_output=True, text=True).stdout

    assert "pip install" in plan()
    (copy / ".venv").mkdir()
    digest = subprocess.run("cat requirements.lock pyproject.toml | sha256sum | cut -c1-16", shell=True, cwd=copy,
                            capture_output=True, text=True).stdout.strip()
    (copy / ".venv" / ".installed").write_text(digest + "\n")
    for p in copy.rglob("*"):
        os.utime(p, (time.time() + 60, time.time() + 60))   # a fresh clone: every file newer than the stamp
    assert "pip install" not in plan() and "lab --ServerApp.root_dir" in plan()
    with open(copy / "requirements.lock", "a") as fh:
        fh.write("# changed\n")
    assert "pip install" in plan()


def test_every_package_is_installed_by_a_non_editable_install():
    """pyproject's package list (the course) and the student copy's must name every package folder:
    a wheel (the hub's Kubernetes image installs one) leaves out any that is missing."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    found = lambda *tops: sorted(".".join(p.parent.relative_to(root).parts)  # noqa: E731
                                 for top in tops for p in (root / top).rglob("__init__.py")
                                 if "__pycache__" not in p.parts)
    course = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    student = tomllib.loads(bundle.STUDENT_PYPROJECT)["tool"]["setuptools"]["packages"]
    assert sorted(course) == found("helpers", "grading"), "pyproject.toml [tool.setuptools] packages"
    assert sorted(student) == found("helpers"), "grading/bundle.py STUDENT_PYPROJECT packages"
