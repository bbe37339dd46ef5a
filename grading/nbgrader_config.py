"""nbgrader configuration for the course.

The course folder *is* the nbgrader course directory:

    solutions/NN_name/   instructor source   (nbgrader "source")
    lessons/NN_name/     student release     (nbgrader "release", committed)
    grading/submitted/   collected submissions        (git-ignored)
    grading/autograded/  autograded copies            (git-ignored)
    grading/feedback/    per-student feedback HTML    (git-ignored)
    grading/gradebook.db the gradebook                (git-ignored)

Every instructor command (``make release``, ``python -m grading ...``) and
``make lab`` point Jupyter at this folder through ``JUPYTER_CONFIG_PATH``,
so the command line and the formgrader in JupyterLab agree.
"""
import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

# nbclient (which nbgrader's validate and autograde execute notebooks with) can stall a widget cell for
# minutes (jupyter/nbclient#312): grading/nbclient_fix.py turns off the echo that causes it.
try:
    import importlib.util as _ilu

    _spec = _ilu.spec_from_file_location("dlsbs_nbclient_fix", os.path.join(os.path.dirname(__file__), "nbclient_fix.py"))
    _mod = _ilu.module_from_spec(_spec)
    _spec.loader.exec_module(_mod)
    _mod.apply()
except Exception:  # never stop nbgrader over a workaround
    pass

# DLSBS_COURSE_ROOT lets the test-suite grade in a throw-away copy of the course.
ROOT = os.environ.get("DLSBS_COURSE_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

c.CourseDirectory.course_id = "dl-side-by-side"
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
c.CourseDirectory.submitted_directory = os.path.join("grading", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grading", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grading", "feedback")
c.CourseDirectory.solution_directory = os.path.join("grading", "solution")
# the gradebook: $DLSBS_DB_URL (PostgreSQL for several machines: grading/queue.md), else SQLite here
c.CourseDirectory.db_url = os.environ.get("DLSBS_DB_URL") or "sqlite:///" + os.path.join(ROOT, "grading", "gradebook.db")
# Instructor-only files never reach the release: the jupytext text sources (*.py)
# hold the answers and hidden tests; checkpoints and caches are noise.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", "*.md", ".*"]
c.CourseDirectory.include = ["*.ipynb"]

# Students are created on the fly when their first submission is graded.
c.Autograde.create_student = True
# Training cells are real: give each cell room, but not forever.
# (nbgrader's Execute preprocessor always runs on past errors, recording each as a failed test: its
# allow_errors is fixed to True and not configurable, so it is not set here.)
from grading.defaults import DEFAULT_CELL_TIMEOUT  # noqa: E402 (the grader's per-cell limit; an Integer trait here)

c.Execute.timeout = int(DEFAULT_CELL_TIMEOUT)
c.Execute.interrupt_on_timeout = True
c.ExecutePreprocessor.timeout = int(DEFAULT_CELL_TIMEOUT)

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.enforce_metadata = True
c.Exchange.root = os.path.join(ROOT, "grading", "exchange")
c.Exchange.path_includes_course = True

# Feedback is made from the autograded notebook, which nbgrader fills with the full test cells:
# strip the hidden tests (and tracebacks quoting them) before students see it.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from grading.preprocessors import HideHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
