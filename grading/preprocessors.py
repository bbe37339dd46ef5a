"""nbgrader preprocessors used by the course's configuration."""
from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .paths import HIDDEN_BEGIN as BEGIN, HIDDEN_REGION


class HideHiddenTests(Preprocessor):
    """Feedback must never show hidden-test source.

    nbgrader's autograde restores the full test cells (hidden tests included) into the autograded
    notebook that feedback is made from.  This removes each hidden region from the source and, in
    test cells that had one, cuts error tracebacks (which quote the failing source line) down to the
    error's type and message — the message from ``helpers.checks`` says what was expected and found.
    """

    enabled = Bool(True, help="nbconvert preprocessors are off unless enabled").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if BEGIN not in cell.source:
            return cell, resources
        cell.source = HIDDEN_REGION.sub("# (hidden tests ran here)\n", cell.source)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
