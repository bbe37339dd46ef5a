"""Outputs of the grader: feedback HTML per student, autograded notebooks, CSV, grade reports.

* ``grading/feedback/<student>/<lesson>/<lesson>.html`` — what the student sees: their answers and
  outputs, the *visible* test code (taken from the released lesson, which never contained hidden
  tests), each test's verdict as ``Error: message`` (no tracebacks) and the score table.  Every
  output line that quotes hidden-test source is removed; a flagged submission gets no outputs.
* ``grading/autograded/<student>/<lesson>/<lesson>.ipynb`` — the executed notebook as graded
  (instructor-only: it contains the hidden tests), for reviewing flagged submissions.
* ``grading/reports/grades.csv`` — one row per student and lesson.
* ``grading/reports/<lesson>/report.html`` (+ ``scores.png``, ``tests.png``, ``grades.csv``,
  ``flagged.csv``) — score distribution, pass rate per test and exercise, flagged submissions.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import warnings
from pathlib import Path

from . import course
from .paths import Course


def _nbf():
    import nbformat

    return nbformat


def _outputs_for_feedback(lesson, outputs: list, test: bool) -> list:
    nbf = _nbf()
    out = []
    for o in outputs:
        t = o.get("output_type")
        if t == "stream":
            out.append(nbf.v4.new_output("stream", name=o["name"], text=lesson.scrub(o.get("text", ""))[:20000]))
        elif t == "error":
            msg = lesson.scrub(f"{o.get('ename', 'Error')}: {o.get('evalue', '')}")[:2000]
            if test:
                out.append(nbf.v4.new_output("error", ename=o.get("ename", "Error"), evalue=msg, traceback=[msg]))
            else:
                tb = [lesson.scrub(line) for line in o.get("traceback", [])][-30:]
                out.append(nbf.v4.new_output("error", ename=o.get("ename", "Error"), evalue=msg, traceback=tb))
        elif t in ("display_data", "execute_result"):
            data = {k: (lesson.scrub(v) if isinstance(v, str) and k.startswith("text/") and k != "text/html" else v)
                    for k, v in o.get("data", {}).items() if k in ("image/png", "text/plain", "image/jpeg")}
            if data:
                out.append(nbf.v4.new_output("display_data", data=data))
    return out


def manual_grades(lesson, student: str) -> dict:
    """{grade id: {"score", "max", "comment"}} that an instructor entered in the gradebook (Formgrader)
    for this student's submission: scores of written answers, overrides of automatic scores, comments.
    Empty when there is no gradebook or no submission in it."""
    out: dict = {}
    try:
        from nbgrader.api import Gradebook, MissingEntry

        with warnings.catch_warnings(), Gradebook(Course.current().db_url) as gb:
            warnings.simplefilter("ignore")
            for c in lesson.cells:
                if not c.grade_id or c.kind not in ("test", "manual"):
                    continue
                entry = {}
                try:
                    g = gb.find_grade(c.grade_id, lesson.name, lesson.name, student)
                    if g.manual_score is not None:
                        entry["score"] = float(g.manual_score)
                    entry["max"] = float(g.max_score or c.points)
                except MissingEntry:
                    pass
                try:
                    cm = gb.find_comment(c.grade_id, lesson.name, lesson.name, student)
                    if cm.manual_comment:
                        entry["comment"] = cm.manual_comment
                except MissingEntry:
                    pass
                if "score" in entry or "comment" in entry:
                    out[c.grade_id] = entry
    except Exception:
        return {}
    return out


def _first_hidden_index(lesson) -> int | None:
    from .paths import HIDDEN_BEGIN

    idx = [c.index for c in lesson.tests if HIDDEN_BEGIN in c.source]
    return min(idx) if idx else None


def feedback_notebook(lesson, result: dict, manual: dict | None = None):
    """What the student sees.  Test cells show the grader's verdict and the message the grader wrote from
    the checks' values, never their raw output; outputs of cells that ran after the first hidden test are
    not shown at all (code running then could have copied hidden-test source into them)."""
    nbf = _nbf()
    manual = manual or {}
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = course.KERNELSPEC
    flagged = result["status"] == "flagged"
    esc = lambda t: html.escape(str(t)).replace("|", "/")  # noqa: E731
    rows = []
    total_auto = 0.0
    for t in result["tests"]:
        m = manual.get(t["grade_id"], {})
        score = m.get("score", t["score"])
        total_auto += score
        by = " (set by your instructor)" if "score" in m else ""
        rows.append(f"| `{t['grade_id']}` | {score:g} / {t['max']:g}{by} | {t['status']} | "
                    f"{esc(t.get('message', ''))[:300]} |")
    head = [f"# Feedback: {lesson.name}", f"**Student:** {esc(result['student'])}  ",
            f"**Automatic score:** {total_auto:g} / {result['max_auto']:g}", "",
            "| test | points | result | message |", "|---|---|---|---|", *rows, ""]
    written = [c for c in lesson.cells if c.kind == "manual"]
    if written:
        head += ["| written answer | points | instructor's comment |", "|---|---|---|"]
        got = 0.0
        pending = False
        for c in written:
            m = manual.get(c.grade_id, {})
            if "score" in m:
                got += m["score"]
                pts = f"{m['score']:g} / {c.points:g}"
            else:
                pending = True
                pts = f"not graded yet (of {c.points:g})"
            head.append(f"| `{c.grade_id}` | {pts} | {esc(m.get('comment', ''))[:500]} |")
        head.append("")
        if pending:
            head.append(f"**Written answers:** {got:g} / {result['max_manual']:g} so far "
                        f"(some are not graded yet by your instructor)")
        else:
            head.append(f"**Total:** {total_auto + got:g} / {result['max_auto'] + result['max_manual']:g}")
        head.append("")
    for gid, m in manual.items():
        if m.get("comment") and any(t["grade_id"] == gid for t in result["tests"]):
            head.append(f"* instructor's comment on `{gid}`: {esc(m['comment'])[:500]}")
    if flagged:
        head.append("**This submission was flagged for review by your instructor**; its outputs are not shown "
                    "until then.")
    hidden_at = _first_hidden_index(lesson)
    if hidden_at is not None:
        head.append("* Outputs of cells that ran after the first hidden test are not shown here.")
    for n in result.get("notes", []):
        head.append(f"* {html.escape(n)}")
    nb.cells.append(nbf.v4.new_markdown_cell("\n".join(head)))
    outs = result.get("outputs", {})
    answers = result.get("answers", {})
    tests = {t["grade_id"]: t for t in result["tests"]}

    def shown_outputs(c, key):
        if flagged or key not in outs or (hidden_at is not None and c.index >= hidden_at):
            return []
        return _outputs_for_feedback(lesson, outs[key]["outputs"], False)

    for c in lesson.cells:
        if c.kind == "markdown":
            nb.cells.append(nbf.v4.new_markdown_cell(c.release_source))
        elif c.kind == "manual":
            nb.cells.append(nbf.v4.new_markdown_cell(answers.get(c.grade_id, "")))
        else:
            keys = sorted((k for k in outs if k.split(".")[0] == str(c.index)), key=lambda k: int(k.split(".")[1]))
            if c.kind == "solution":
                cell = nbf.v4.new_code_cell(answers.get(c.grade_id, ""))
            else:
                cell = nbf.v4.new_code_cell(c.release_source)
            if c.kind == "test":
                t = tests.get(c.grade_id)
                if t:
                    cell.source = (f"# test '{c.grade_id}': {t['status']} — {t['score']:g} / {t['max']:g} points\n"
                                   + cell.source)
                    cell.outputs = [nbf.v4.new_output("stream", name="stdout",
                                                      text=f"{t['status']}: {lesson.scrub(t.get('message', ''))}\n")]
            elif keys:
                cell.outputs = shown_outputs(c, keys[0])
            nb.cells.append(cell)
            if c.kind == "solution" and len(keys) > 1:
                nb.cells.append(nbf.v4.new_markdown_cell("*(cells you added after this answer ran here)*"))
                for k in keys[1:]:
                    extra = nbf.v4.new_code_cell("")
                    extra.outputs = shown_outputs(c, k)
                    nb.cells.append(extra)
    return nb


#: where a Jupyter server with jupyter-server-mathjax serves its bundled MathJax (no CDN)
LOCAL_MATHJAX = "/static/jupyter_server_mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"


def mathjax_url() -> str:
    """MathJax for feedback pages, offline: the copy jupyter-server-mathjax ships (served by the course's
    Jupyter server, where students open their feedback), else none (never a CDN)."""
    try:
        import jupyter_server_mathjax  # noqa: F401
    except ImportError:
        return ""
    return LOCAL_MATHJAX


def _html(nb) -> str:
    from nbconvert import HTMLExporter

    url = mathjax_url()
    # nothing from a CDN: the page needs no require.js/jQuery/mermaid (no widgets, no diagrams)
    exp = HTMLExporter(template_name="classic", mathjax_url=url or "about:blank", require_js_url="about:blank",
                       jquery_url="about:blank", mermaid_js_url="about:blank", mermaid_layout_elk_js_url="about:blank",
                       jupyter_widgets_base_url="about:blank")
    body, _ = exp.from_notebook_node(nb)
    return body


def regenerate_feedback(lesson_name: str, log=print) -> int:
    """Rewrite every graded student's feedback page from the stored result and the gradebook's manual
    scores and comments (run after grading written answers in Formgrader).  Returns how many."""
    from .lesson import Lesson
    from .results import all_results

    lesson = Lesson(lesson_name)
    n = 0
    for r in all_results(lesson_name):
        if r.get("status") in ("graded", "flagged"):
            write_feedback(lesson, r)
            n += 1
    log(f"[{lesson_name}] feedback rewritten for {n} submission(s) (with the instructor's manual scores and "
        f"comments): grading/feedback/<student>/{lesson_name}/{lesson_name}.html")
    return n


def write_feedback(lesson, result: dict, manual: dict | None = None) -> Path | None:
    if result["status"] not in ("graded", "flagged"):
        return None
    nb = feedback_notebook(lesson, result, manual if manual is not None else manual_grades(lesson, result["student"]))
    text = _html(nb)
    for line in lesson.hidden_lines:  # belt and braces: the page must never quote a hidden test
        if line in text or html.escape(line) in text:
            raise RuntimeError("feedback would contain hidden-test source; not written")
    dest = Course.current().feedback / result["student"] / lesson.name / f"{lesson.name}.html"
    from .results import _atomic_write

    _atomic_write(dest, text)
    return dest


def write_autograded(lesson, result: dict) -> Path | None:
    """The executed notebook as graded (instructor-only; includes hidden tests)."""
    if result["status"] not in ("graded", "flagged"):
        return None
    nbf = _nbf()
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = course.KERNELSPEC
    outs = result.get("outputs", {})
    for c in lesson.cells:
        if c.kind in ("markdown",):
            nb.cells.append(nbf.v4.new_markdown_cell(c.source))
            continue
        if c.kind == "manual":
            cell = nbf.v4.new_markdown_cell(result.get("answers", {}).get(c.grade_id, ""))
        else:
            src = result.get("answers", {}).get(c.grade_id, "") if c.kind == "solution" else c.source
            cell = nbf.v4.new_code_cell(src)
            o = outs.get(f"{c.index}.0")
            if o:
                cell.outputs = [nbf.from_dict(x) for x in o["outputs"]]
        if c.grade_id:
            cell.metadata["nbgrader"] = {"grade_id": c.grade_id, "points": c.points,
                                         "grade": c.kind in ("test", "manual"), "solution": c.kind in ("solution", "manual")}
        nb.cells.append(cell)
    dest = Course.current().autograded / result["student"] / lesson.name / f"{lesson.name}.ipynb"
    from .results import _atomic_write

    _atomic_write(dest, nbf.writes(nb))
    return dest


def save_to_gradebook(lesson, result: dict) -> None:
    """Record a graded submission in nbgrader's gradebook, where ``nbgrader autograde`` would put it.

    Formgrader then lists it (written answers are graded by hand there) and ``nbgrader export``
    includes it.  Automatic scores are the grader's own (a test that never ran scores 0 here, whereas
    nbgrader would read a cell without outputs as passed).  A manual score a grader already entered is
    kept and flagged for review, as nbgrader does; an unanswered written question scores 0.  Flagged
    submissions are left out: they wait for review in the lesson report.
    """
    if result["status"] != "graded":
        return
    from nbgrader.api import Gradebook

    sid, name = result["student"], lesson.name
    answers = result.get("answers", {})
    with warnings.catch_warnings(), Gradebook(Course.current().db_url) as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notices from inside nbgrader's add_submission
        gb.update_or_create_student(sid)
        gb.update_or_create_submission(name, sid)
        for t in result["tests"]:
            grade = gb.find_grade(t["grade_id"], name, name, sid)
            grade.auto_score = float(t["score"])
            grade.needs_manual_grade = grade.manual_score is not None
        for c in lesson.cells:
            if c.kind != "manual":
                continue
            grade = gb.find_grade(c.grade_id, name, name, sid)
            blank = answers.get(c.grade_id, "").strip() in ("", c.release_source.strip())
            grade.auto_score = 0.0 if blank else None
            grade.needs_manual_grade = grade.manual_score is not None or not blank
        gb.db.commit()


# ----------------------------------------------------------------------------- CSV and report

FIELDS = ["student", "lesson", "status", "score", "max_auto", "max_manual", "reason", "notes", "graded_at"]


def _row(r: dict) -> dict:
    return {"student": r["student"], "lesson": r["lesson"], "status": r["status"],
            "score": "" if r.get("score") is None else f"{r['score']:g}", "max_auto": f"{r.get('max_auto', 0):g}",
            "max_manual": f"{r.get('max_manual', 0):g}", "reason": r.get("reason", ""),
            "notes": " | ".join(r.get("notes", []))[:2000] if r["status"] != "error" else "",
            "graded_at": r.get("graded_at", "")}


def export_csv(dest: Path | None = None) -> Path:
    from .results import all_results

    dest = dest or Course.current().reports / "grades.csv"
    dest.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in course.lessons():
        rows += [_row(r) for r in all_results(name)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS)
    w.writeheader()
    w.writerows(rows)
    from .results import _atomic_write

    _atomic_write(dest, buf.getvalue())
    return dest


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def lesson_report(lesson) -> Path:
    """Score distribution, pass rate per test and exercise, flagged list: HTML + PNG + CSV."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .results import _atomic_write, all_results

    results = all_results(lesson.name)
    out = Course.current().reports / lesson.name
    out.mkdir(parents=True, exist_ok=True)
    scored = [r for r in results if r.get("score") is not None]
    scores = [r["score"] for r in scored]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(scores, bins=[x - 0.5 for x in range(int(lesson.max_auto) + 2)], color="#4477aa", edgecolor="white")
    ax.set_xlabel(f"automatic score (max {lesson.max_auto:g})")
    ax.set_ylabel("submissions")
    ax.set_title(f"{lesson.name}: score distribution (n={len(scores)})")
    scores_png = _png(fig)
    plt.close(fig)
    per_test = []
    for t in lesson.tests:
        entries = [x for r in scored for x in r["tests"] if x["grade_id"] == t.grade_id]
        passed = sum(1 for x in entries if x["status"] == "passed")
        per_test.append({"test": t.grade_id, "exercise": lesson.exercise_of(t.grade_id), "points": t.points,
                         "submissions": len(entries), "passed": passed,
                         "pass_rate": passed / len(entries) if entries else 0.0,
                         "mean_score": sum(x["score"] for x in entries) / len(entries) if entries else 0.0})
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * max(len(per_test), 1)))
    ax.barh([p["test"] for p in per_test], [100 * p["pass_rate"] for p in per_test], color="#228833")
    ax.set_xlim(0, 100)
    ax.set_xlabel("pass rate (%)")
    ax.invert_yaxis()
    ax.set_title("pass rate per test")
    tests_png = _png(fig)
    plt.close(fig)
    (out / "scores.png").write_bytes(scores_png)
    (out / "tests.png").write_bytes(tests_png)
    flagged = [r for r in results if r["status"] in ("flagged", "failed", "error")]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS)
    w.writeheader()
    w.writerows(_row(r) for r in results)
    _atomic_write(out / "grades.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["student", "status", "score", "reason"])
    w.writeheader()
    w.writerows({"student": r["student"], "status": r["status"], "score": "" if r.get("score") is None else r["score"],
                 "reason": r.get("reason", "")} for r in flagged)
    _atomic_write(out / "flagged.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(per_test[0]) if per_test else ["test"])
    w.writeheader()
    w.writerows(per_test)
    _atomic_write(out / "tests.csv", buf.getvalue())
    exercises = {}
    for p in per_test:
        e = exercises.setdefault(p["exercise"], {"points": 0.0, "earned": 0.0, "n": p["submissions"]})
        e["points"] += p["points"]
        e["earned"] += p["mean_score"]
    esc = html.escape
    mean = sum(scores) / len(scores) if scores else 0
    rows_t = "".join(f"<tr><td>{esc(p['test'])}</td><td>{esc(p['exercise'])}</td><td>{p['points']:g}</td>"
                     f"<td>{p['passed']}/{p['submissions']}</td><td>{100 * p['pass_rate']:.0f}%</td></tr>" for p in per_test)
    rows_e = "".join(f"<tr><td>{esc(k)}</td><td>{v['points']:g}</td><td>{v['earned']:.2f}</td>"
                     f"<td>{100 * v['earned'] / v['points'] if v['points'] else 0:.0f}%</td></tr>" for k, v in exercises.items())
    rows_f = "".join(f"<tr><td>{esc(r['student'])}</td><td>{esc(r['status'])}</td>"
                     f"<td>{'' if r.get('score') is None else format(r['score'], 'g')}</td><td>{esc(r.get('reason', ''))}</td></tr>"
                     for r in flagged) or "<tr><td colspan=4>none</td></tr>"
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("graded", "flagged", "failed", "error")}
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Grade report: {esc(lesson.name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}</style></head><body>
<h1>Grade report: {esc(lesson.name)}</h1>
<p>{len(results)} submissions: {counts['graded']} graded, {counts['flagged']} flagged for review, {counts['failed']} failed,
{counts['error']} grader errors. Mean automatic score {mean:.2f} / {lesson.max_auto:g}
(+ {lesson.max_manual:g} points graded by hand).</p>
<img alt="score distribution" src="data:image/png;base64,{base64.b64encode(scores_png).decode()}">
<h2>Pass rate per test</h2><img alt="pass rate per test" src="data:image/png;base64,{base64.b64encode(tests_png).decode()}">
<table><tr><th>test</th><th>exercise</th><th>points</th><th>passed</th><th>rate</th></tr>{rows_t}</table>
<h2>Per exercise</h2><table><tr><th>exercise</th><th>points</th><th>mean earned</th><th>%</th></tr>{rows_e}</table>
<h2>Flagged for review / failed</h2><table><tr><th>student</th><th>status</th><th>score</th><th>reason</th></tr>{rows_f}</table>
</body></html>"""
    _atomic_write(out / "report.html", page)
    return out / "report.html"
