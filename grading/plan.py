"""The run plan: the notebook to run, rebuilt from the instructor source with the student's answers."""
from __future__ import annotations

from dataclasses import dataclass

from .lesson import Lesson, SourceCell
from .submission import Submission


@dataclass
class Step:
    key: tuple                    # (source cell index, k): k > 0 for cells the student added
    kind: str                     # "instructor" | "student" | "test"
    code: str
    cell: SourceCell


def plan(lesson: Lesson, sub: Submission) -> tuple[list[Step], dict]:
    """Steps to run, and the student's answers by grade id (for feedback)."""
    nb = sub.notebook
    by_gid: dict[str, list] = {}
    by_id: dict[str, list] = {}
    src_ids = {c.cell_id for c in lesson.cells}
    src_gids = {c.grade_id for c in lesson.cells if c.grade_id}
    order = []
    extras_after: dict[str, list] = {}
    anchor = None
    dropped_extra = 0
    src_by_id = {s.cell_id: s for s in lesson.cells}
    instructor_sources = {c.source for c in lesson.cells if c.kind in ("instructor", "test")} | \
                         {c.release_source for c in lesson.cells if c.kind in ("instructor", "test")}
    for pos, c in enumerate(nb.cells):
        md = c.get("metadata", {})
        gid = (md.get("nbgrader") or {}).get("grade_id")
        cid = c.get("id")
        tags = md.get("tags") or []
        if any(t in ("skip-execution", "raises-exception", "skip", "remove-cell", "remove-input") for t in tags):
            sub.notes.append(f"ignored execution tags {tags} on a cell")
        if gid in src_gids:
            by_gid.setdefault(gid, []).append(c)
            order.append(gid)
            if gid in lesson.solutions:
                anchor = gid
        elif cid in src_ids:
            by_id.setdefault(cid, []).append(c)
            sc = src_by_id[cid]
            if sc.kind in ("solution", "manual"):
                anchor = sc.grade_id
        elif c.get("cell_type") == "code" and c.get("source", "") in instructor_sources:
            continue  # an instructor cell that lost its id (old format, repaired ids): restored anyway
        elif c.get("cell_type") == "code" and c.get("source", "").strip():
            if anchor is not None:
                extras_after.setdefault(anchor, []).append(c)
            else:
                dropped_extra += 1
    expected_order = [c.grade_id for c in lesson.cells if c.grade_id]
    seen_order = list(dict.fromkeys(order))
    if seen_order != [g for g in expected_order if g in seen_order]:
        sub.notes.append("graded cells were reordered: run in the instructor's order")
    if dropped_extra:
        sub.notes.append(f"{dropped_extra} code cell(s) added before the first answer were not run")
    answers: dict[str, str] = {}
    steps: list[Step] = []
    for sc in lesson.cells:
        if sc.kind == "instructor":
            steps.append(Step((sc.index, 0), "instructor", sc.source, sc))
        elif sc.kind == "test":
            cands = by_gid.get(sc.grade_id, []) + by_id.get(sc.cell_id, [])
            if not cands:
                sub.notes.append(f"test cell '{sc.grade_id}' was missing from the submission: restored")
            elif any(c.get("source", "") != sc.release_source for c in cands):
                sub.notes.append(f"test cell '{sc.grade_id}' was edited: restored from the instructor source")
            steps.append(Step((sc.index, 0), "test", sc.source, sc))
        elif sc.kind in ("solution", "manual"):
            cands = by_gid.get(sc.grade_id, [])
            if not cands:
                cands = by_id.get(sc.cell_id, [])
            if len(cands) > 1:
                sub.flags.append(f"{len(cands)} copies of answer cell '{sc.grade_id}': graded the last one")
            if cands:
                text = cands[-1].get("source", "")
                if cands[-1].get("cell_type") != sc.cell_type:
                    sub.notes.append(f"answer cell '{sc.grade_id}' changed type to {cands[-1].get('cell_type')}")
                    text = text if sc.kind == "manual" else ""
            else:
                text = sc.release_source
                sub.notes.append(f"answer cell '{sc.grade_id}' is missing from the submission: graded as unanswered")
            answers[sc.grade_id] = text
            if sc.kind == "solution":
                steps.append(Step((sc.index, 0), "student", text, sc))
                for k, extra in enumerate(extras_after.get(sc.grade_id, []), start=1):
                    steps.append(Step((sc.index, k), "student", extra.get("source", ""), sc))
    # the run ends with the last test cell: what comes after it cannot change a score
    return [s for s in steps if s.key[0] <= lesson.graded_until], answers


