"""Quick checks of the class hub's pieces (no hub started, no root needed)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from grading import hub
from grading.hub import HubError, read_roster

ROOT = Path(__file__).resolve().parent.parent
JUPYTER = ROOT / "grading" / "hub" / "jupyter"


def test_roster_reads_ids_and_names(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("id,name\nalice,Alice Smith\n\n# a comment\nbob-2,\"Bob, Jr\"\n")
    assert read_roster(p) == [{"id": "alice", "name": "Alice Smith"}, {"id": "bob-2", "name": "Bob  Jr"}]


@pytest.mark.parametrize("text, message", [
    ("Alice,Alice\n", "'Alice' is not a usable account name"),
    ("al ice,x\n", "is not a usable account name"),
    ("alice,A\nalice,B\n", "'alice' appears twice"),
    ("id,name\n", "lists no students"),
])
def test_roster_problems_are_named_and_nothing_is_done(tmp_path, text, message):
    p = tmp_path / "r.csv"
    p.write_text(text)
    with pytest.raises(HubError, match=message):
        read_roster(p)


def test_missing_roster_says_what_to_write(tmp_path):
    with pytest.raises(HubError, match="one student per line, `id,name`"):
        read_roster(tmp_path / "nope.csv")


@pytest.mark.slow  # starts nbgrader's config loader in a subprocess
def test_course_id_matches_the_instructors_nbgrader_config():
    from traitlets.config import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "grading")).load_config()
    assert cfg.CourseDirectory.course_id == hub.COURSE_ID


def test_student_config_disables_every_instructor_tool_and_keeps_the_assignment_list():
    page = json.loads((JUPYTER / "student" / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
            "@jupyter/nbgrader:course-list"} <= {k for k, v in page.items() if v}
    assert "@jupyter/nbgrader:assignment-list" not in page
    server = json.loads((JUPYTER / "student" / "jupyter_server_config.json").read_text())
    ext = server["ServerApp"]["jpserver_extensions"]
    assert ext["nbgrader.server_extensions.formgrader"] is False
    assert "nbgrader.server_extensions.assignment_list" not in ext
    common = json.loads((JUPYTER / "common" / "labconfig" / "page_config.json").read_text())
    assert common["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"] is True
