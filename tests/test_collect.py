"""``grading.collect.collect``: student folders are untrusted input; links, bad names and colliding ids.

Each test builds a throw-away course root and an INCOMING folder as an LMS download or nbgrader's
exchange would leave it, with attacks in it, and calls the real ``collect``.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from grading import collect as col
from grading import course

LESSON = "99_tiny"
SOLUTION = b'{"cells": [], "SOLUTION_MARKER": "### BEGIN HIDDEN TESTS"}'


def nb(tag: str) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "execution_count": None, "source": tag}]}).encode()


@pytest.fixture
def root(tmp_path, monkeypatch):
    r = tmp_path / "course"
    (r / "solutions" / LESSON).mkdir(parents=True)
    (r / "solutions" / LESSON / f"{LESSON}.ipynb").write_bytes(SOLUTION)
    (r / "grading").mkdir()
    monkeypatch.setenv("DLSBS_COURSE_ROOT", str(r))
    return r


def write(base: Path, files: dict):
    for rel, data in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def snapshot(folder: Path) -> dict:
    """Everything about a folder tree that collect must not change (links as links)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(folder)):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            body = os.readlink(p) if stat.S_ISLNK(st.st_mode) else (
                hashlib.sha256(open(p, "rb").read()).hexdigest().encode() if stat.S_ISREG(st.st_mode) else b"")
            out[p] = (st.st_mode, st.st_mtime_ns, body)
    return out


def submitted_files(root: Path) -> dict:
    sub = root / "grading" / "submitted"
    return {p.relative_to(sub).as_posix(): p.read_bytes() for p in sorted(sub.rglob("*")) if p.is_file()}


def test_folders_nbgrader_folders_and_named_files_are_collected(root, tmp_path):
    inc = tmp_path / "incoming"
    write(inc, {f"alice/{LESSON}.ipynb": nb("alice"), "alice/data.csv": b"1,2\n",
                f"bob_{LESSON}.ipynb": nb("bob"),
                f"carol/{LESSON}/{LESSON}.ipynb": nb("carol"), f"carol/{LESSON}/timestamp.txt": b"2026-12-01 10:00:00",
                "readme.txt": b"not a submission", f"{LESSON}.ipynb": nb("whose?")})
    before = snapshot(inc)
    out = col.collect(str(inc), "99")
    assert sorted(out["new"]) == ["alice", "bob", "carol"] and not out["updated"]
    assert any("readme.txt" in s for s in out["skipped"]) and any("cannot tell whose" in s for s in out["skipped"])
    got = submitted_files(root)
    assert got[f"alice/{LESSON}/{LESSON}.ipynb"] == nb("alice") and got[f"alice/{LESSON}/data.csv"] == b"1,2\n"
    assert got[f"bob/{LESSON}/{LESSON}.ipynb"] == nb("bob")
    assert got[f"carol/{LESSON}/{LESSON}.ipynb"] == nb("carol")
    assert got[f"carol/{LESSON}/timestamp.txt"] == b"2026-12-01 10:00:00", "nbgrader's own timestamp is kept"
    assert snapshot(inc) == before, "incoming/ is never changed"
    assert course.submitted_students(LESSON) == ["alice", "bob", "carol"]


def test_links_are_never_followed_and_become_notes(root, tmp_path):
    secret_nb = root / "solutions" / LESSON / f"{LESSON}.ipynb"
    inc = tmp_path / "incoming"
    write(inc, {f"mallory/{LESSON}.ipynb": nb("mallory")})
    links = {"mallory/shadow.txt": "/etc/shadow", "mallory/answers.ipynb": str(secret_nb),  # file links
             "mallory/sol": str(secret_nb.parent),  # a folder link
             f"eve/{LESSON}.ipynb": str(secret_nb),  # the notebook itself is a link
             f"peggy/{LESSON}": str(secret_nb.parent),  # nbgrader layout, the lesson folder is a link
             "trudy": str(secret_nb.parent),  # the student folder is a link
             f"oscar_{LESSON}.ipynb": str(secret_nb)}  # a named file that is a link
    for rel, target in links.items():
        (inc / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, inc / rel)
    before = snapshot(inc)
    out = col.collect(str(inc), LESSON)
    assert out["new"] == ["mallory"]
    notes = " ".join(col.collect_notes(LESSON, "mallory"))
    for rel in ("shadow.txt", "answers.ipynb", "sol"):
        assert f"mallory/{rel} is a symbolic link" in notes, notes
    skipped = " ".join(out["skipped"])
    for who in ("eve/", "peggy/", "trudy", f"oscar_{LESSON}.ipynb"):
        assert who in skipped, (who, skipped)
    shadow = Path("/etc/shadow").read_bytes() if os.access("/etc/shadow", os.R_OK) else b"root:"
    for rel, data in submitted_files(root).items():
        assert b"SOLUTION_MARKER" not in data and shadow[:20] not in data, rel
    assert sorted(submitted_files(root)) == [f"mallory/{LESSON}/{LESSON}.ipynb", f"mallory/{LESSON}/timestamp.txt"]
    assert not any(p.is_symlink() for p in (root / "grading" / "submitted").rglob("*"))
    assert snapshot(inc) == before


def test_a_link_swapped_in_after_listing_is_not_read(tmp_path):
    """The race: a file replaced by a link between listing the folder and opening it."""
    (tmp_path / "d").mkdir()
    os.symlink("/etc/hostname", tmp_path / "d" / "f.ipynb")
    fd = os.open(tmp_path / "d", os.O_RDONLY | os.O_DIRECTORY)
    try:
        entry = col.Entry("x", "x")
        assert col._read_file(fd, b"f.ipynb", "f.ipynb", entry, "x/") is None
        assert "symbolic link" in entry.notes[0]
    finally:
        os.close(fd)


def test_student_ids_are_validated(root, tmp_path):
    inc = tmp_path / "incoming"
    write(inc, {f"Alice Smith/{LESSON}.ipynb": nb("as"), f"-.-/{LESSON}.ipynb": nb("x"), f"???/{LESSON}.ipynb": nb("q"),
                f"ok/{LESSON}.ipynb": nb("ok")})
    bad = os.path.join(os.fsencode(inc), b"stud\xff\xfe")
    os.mkdir(bad)
    with open(os.path.join(bad, f"{LESSON}.ipynb".encode()), "wb") as f:
        f.write(nb("bad"))
    out = col.collect(str(inc), LESSON)
    assert sorted(out["new"]) == ["Alice_Smith", "ok"]
    assert out["notes"]["Alice_Smith"][0] == "collected from 'Alice Smith' as student id 'Alice_Smith'"
    skipped = "\n".join(out["skipped"])
    assert "'-.-' is not a usable student id" in skipped and "'???' is not a usable student id" in skipped
    assert "letters, digits" in skipped, "the message says what is allowed"
    assert "stud\\xff\\xfe" in skipped and "not valid UTF-8" in skipped
    assert sorted(p.name for p in (root / "grading" / "submitted").iterdir()) == ["Alice_Smith", "ok"]


def test_ids_that_collide_are_refused_and_never_replace_each_other(root, tmp_path):
    inc = tmp_path / "incoming"
    write(inc, {f"v_alice/{LESSON}.ipynb": nb("the real v_alice"), f"v_alice~/{LESSON}.ipynb": nb("impostor"),
                f"Bob/{LESSON}.ipynb": nb("Bob"), f"bob_{LESSON}.ipynb": nb("bob")})
    out = col.collect(str(inc), LESSON)
    assert out["new"] == ["v_alice"]
    skipped = "\n".join(out["skipped"])
    assert "v_alice~/: refused" in skipped and "'v_alice'" in skipped
    assert "Bob/: refused" in skipped and f"bob_{LESSON}.ipynb: refused" in skipped
    sub = root / "grading" / "submitted"
    assert (sub / "v_alice" / LESSON / f"{LESSON}.ipynb").read_bytes() == nb("the real v_alice")
    assert not (sub / "Bob").exists() and not (sub / "bob").exists()
    # a later run with only the impostor: refused again, the first submission stays
    inc2 = tmp_path / "incoming2"
    write(inc2, {f"v_alice~/{LESSON}.ipynb": nb("impostor")})
    out2 = col.collect(str(inc2), LESSON)
    assert not out2["new"] and not out2["updated"] and "already used" in "\n".join(out2["skipped"])
    assert (sub / "v_alice" / LESSON / f"{LESSON}.ipynb").read_bytes() == nb("the real v_alice")
    assert not (root / "grading" / "archive" / "v_alice").exists()


def test_a_bad_file_fails_only_that_entry(root, tmp_path):
    inc = tmp_path / "incoming"
    write(inc, {f"dave/{LESSON}.ipynb": nb("dave"), "dave/good.csv": b"ok", f"erin/{LESSON}.ipynb": nb("erin")})
    with open(os.path.join(os.fsencode(inc), b"dave", b"data\xff.csv"), "wb") as f:
        f.write(b"x")
    os.mkfifo(inc / "dave" / "pipe")  # reading it would block a naive collect forever
    out = col.collect(str(inc), LESSON)
    assert sorted(out["new"]) == ["dave", "erin"]
    notes = " ".join(out["notes"]["dave"])
    assert "data\\xff.csv: the file name is not valid UTF-8" in notes and "pipe is not a regular file" in notes
    assert sorted(submitted_files(root)) == [f"dave/{LESSON}/{LESSON}.ipynb", f"dave/{LESSON}/good.csv",
                                             f"dave/{LESSON}/timestamp.txt", f"erin/{LESSON}/{LESSON}.ipynb",
                                             f"erin/{LESSON}/timestamp.txt"]


def test_submitted_is_readable_only_by_the_instructor(root, tmp_path):
    old = root / "grading" / "submitted" / "zoe" / LESSON  # written by an older collect, world-readable
    write(old, {f"{LESSON}.ipynb": nb("zoe")})
    for p in [root / "grading" / "submitted", old.parent, old, old / f"{LESSON}.ipynb"]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    inc = tmp_path / "incoming"
    write(inc, {f"amy/{LESSON}.ipynb": nb("amy")})
    col.collect(str(inc), LESSON)
    write(inc, {f"amy/{LESSON}.ipynb": nb("amy v2")})
    col.collect(str(inc), LESSON)  # archives v1
    checked = 0
    for top in (root / "grading" / "submitted", root / "grading" / "archive", root / "grading" / ".collect"):
        for p in [top, *top.rglob("*")]:
            mode = stat.S_IMODE(p.stat().st_mode)
            assert mode == (0o700 if p.is_dir() else 0o600), f"{p}: {oct(mode)}"
            checked += 1
    assert checked >= 12


def test_a_resubmission_archives_the_earlier_copy(root, tmp_path):
    inc = tmp_path / "incoming"
    write(inc, {f"amy/{LESSON}.ipynb": nb("v1"), "amy/extra.txt": b"e1"})
    assert col.collect(str(inc), LESSON)["new"] == ["amy"]
    assert col.collect(str(inc), LESSON)["unchanged"] == ["amy"]
    write(inc, {f"amy/{LESSON}.ipynb": nb("v2")})
    before = snapshot(inc)
    assert col.collect(str(inc), LESSON)["updated"] == ["amy"]
    assert snapshot(inc) == before
    sub = root / "grading" / "submitted" / "amy" / LESSON
    assert (sub / f"{LESSON}.ipynb").read_bytes() == nb("v2")
    [kept] = list((root / "grading" / "archive" / "amy" / LESSON).iterdir())
    assert (kept / f"{LESSON}.ipynb").read_bytes() == nb("v1") and (kept / "extra.txt").read_bytes() == b"e1"
    assert not [p for p in sub.parent.iterdir() if p.name != LESSON], "no staging folder left behind"
