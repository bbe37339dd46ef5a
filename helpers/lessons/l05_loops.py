"""Lesson 05 (refactoring the training loop): measure training-loop code (lines, concepts), switch its versions.

The lesson writes the same experiment in raw PyTorch, fastai and Keras, one
function per (step, framework).  This module measures those functions from
their own source, so the lesson's table of "lines of code" and "concepts" is
computed, never typed in:

* :func:`code_lines` / :func:`count_lines` — the body's lines without the
  ``def`` line, the docstring, blank lines and comments;
* :func:`concepts` — the names a reader must know to write the body (see its
  docstring for the exact rule);
* :func:`changed_lines` — which lines of a new version are new or changed
  compared with the previous one (``difflib``);
* :func:`measure` — all of that for a ``{step: {framework: function}}`` table;
* :class:`StepView` — draws the versions of one step side by side, highlighting
  what changed since the previous step (the ``draw`` of a ``helpers.widgets.Explorer``).

Light imports: nothing here imports torch, TensorFlow, fastai or ipywidgets.
"""
from __future__ import annotations

import ast
import builtins
import difflib
import html
import inspect
import io
import re
import textwrap
import tokenize
import types

__all__ = ["source", "code_lines", "count_lines", "concepts", "changed_lines", "measure", "render_code", "StepView"]

#: statements a reader must know how to write, counted as concepts under these names
_STATEMENTS = {
    ast.For: "for loop",
    ast.While: "while loop",
    ast.If: "if",
    ast.With: "with block",
    ast.Try: "try/except",
    ast.Break: "break",
    ast.Continue: "continue",
    ast.Raise: "raise",
    ast.AugAssign: "+= (accumulate)",
    ast.Lambda: "lambda",
    ast.ClassDef: "class",
    ast.FunctionDef: "def",
    ast.ListComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
}


def source(fn) -> str:
    """The dedented source of a function or class (or a string of code, returned dedented).

    Works for classes defined in a notebook cell too, where ``inspect.getsource`` cannot find them: the
    cell is located through one of the class's methods.
    """
    if isinstance(fn, str):
        return textwrap.dedent(fn)
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        if not inspect.isclass(fn):
            raise
    return textwrap.dedent(_class_source(fn))


def _class_source(cls) -> str:
    import linecache

    for value in vars(cls).values():
        code = getattr(getattr(value, "__func__", value), "__code__", None)
        if code is None:
            continue
        lines = linecache.getlines(code.co_filename)
        if not lines:
            continue
        text = "".join(lines)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.name == cls.__name__ \
                    and node.lineno <= code.co_firstlineno <= node.end_lineno:
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                return "".join(lines[start - 1:node.end_lineno])
    raise OSError(f"could not find the source of class {cls.__name__}")


def _definition(src: str):
    tree = ast.parse(src)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return node
    raise ValueError("expected the source of a function or class (a `def` or `class`)")


def _function_node(src: str) -> ast.FunctionDef:
    node = _definition(src)
    if isinstance(node, ast.ClassDef):
        raise ValueError("expected the source of a function (a `def`), got a class")
    return node


def _docstring_lines(node) -> set:
    """Line numbers of the docstrings of ``node`` and of every function or class inside it."""
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub.body:
            first = sub.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                out.update(range(first.lineno, first.end_lineno + 1))
    return out


def code_lines(fn) -> list[str]:
    """The lines of a function's (or class's) body that hold code.

    Not counted: the ``def``/``class`` line, docstrings, blank lines and comment-only lines.
    Continuation lines of a long statement count (they are what you read and type).
    """
    src = source(fn)
    node = _definition(src)
    lines = src.splitlines()
    skip = _docstring_lines(node)
    body = node.body
    if not body:
        return []
    first, last = body[0].lineno, max(n.end_lineno for n in body)
    # comment-only lines, found with the tokenizer (a '#' inside a string is not a comment)
    comment_only = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT and not lines[tok.start[0] - 1][: tok.start[1]].strip():
            comment_only.add(tok.start[0])
    out = []
    for i in range(first, last + 1):
        text = lines[i - 1]
        if i in skip or i in comment_only or not text.strip():
            continue
        out.append(text.rstrip())
    return out


def count_lines(fn) -> int:
    """How many lines of code a function's body has (see :func:`code_lines`)."""
    return len(code_lines(fn))


def _is_framework_object(obj) -> bool:
    """A callable or module a reader has to know about (not a number, array or string)."""
    if isinstance(obj, types.ModuleType):
        return True
    return callable(obj) and not isinstance(obj, (int, float, str, bytes))


def concepts(fn, namespace: dict | None = None) -> set[str]:
    """The concepts a function's body uses, by a fixed, countable rule.

    * a library name it calls or refers to: ``Learner``, ``torch.optim.SGD``, ``keras.callbacks.EarlyStopping``
      (a dotted path from a module counts once, as the whole path);
    * a method or attribute of one of its own objects: ``.backward``, ``.zero_grad``, ``.fit``;
    * a keyword argument: ``momentum=``, ``validation_data=``;
    * a string option passed to a call: ``"accuracy"``, ``"val_loss"``;
    * a statement you have to write: ``for loop``, ``if``, ``with block``, ``+= (accumulate)``, ``break`` ...

    Not counted: Python built-ins (``print``, ``range``, ``len`` ...), the function's own variables, and
    plain data such as hyperparameter constants (``EPOCHS``, ``LR``).  Globals are looked up in
    ``namespace`` (default: the function's own globals) to tell a library object from a constant.
    """
    src = source(fn)
    node = _function_node(src)
    if namespace is None:
        namespace = getattr(fn, "__globals__", {}) if not isinstance(fn, str) else {}
    local = {a.arg for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs}
    if node.args.vararg:
        local.add(node.args.vararg.arg)
    if node.args.kwarg:
        local.add(node.args.kwarg.arg)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            local.add(sub.id)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            local.add(sub.name)
        elif isinstance(sub, (ast.FunctionDef, ast.ClassDef)) and sub is not node:
            local.add(sub.name)
        elif isinstance(sub, ast.arg) and sub is not node:
            local.add(sub.arg)
    found: set[str] = set()
    inner_attrs = set()  # Attribute nodes that are part of a longer chain already handled
    chain_roots = set()  # Name nodes at the root of a chain (counted with the chain)

    def chain(attr: ast.Attribute):
        parts, cur = [], attr
        while isinstance(cur, ast.Attribute):
            parts.append(cur.attr)
            inner_attrs.add(id(cur))
            cur = cur.value
        return cur, parts[::-1]

    body_nodes = [n for stmt in node.body for n in ast.walk(stmt)]
    for sub in body_nodes:
        if isinstance(sub, ast.Attribute) and id(sub) not in inner_attrs:
            root, parts = chain(sub)
            if isinstance(root, ast.Name) and root.id not in local and isinstance(namespace.get(root.id), types.ModuleType):
                chain_roots.add(id(root))
                found.add(".".join([root.id] + parts))
            else:
                found.update("." + p for p in parts)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in local \
                and id(sub) not in chain_roots:
            if sub.id in namespace:
                if _is_framework_object(namespace[sub.id]):
                    found.add(sub.id)
            elif not hasattr(builtins, sub.id):
                found.add(sub.id)  # unknown global: count it rather than hide it
        elif isinstance(sub, ast.keyword) and sub.arg:
            found.add(sub.arg + "=")
        elif isinstance(sub, ast.Call):
            for arg in list(sub.args) + [k.value for k in sub.keywords]:
                items = arg.elts if isinstance(arg, (ast.List, ast.Tuple)) else [arg]
                for item in items:
                    if isinstance(item, ast.Constant) and isinstance(item.value, str):
                        found.add(repr(item.value).replace("'", '"'))
        for kind, name in _STATEMENTS.items():
            if isinstance(sub, kind):
                found.add(name)
    return found


def changed_lines(old, new) -> tuple[list[int], int]:
    """Compare two versions: ``(indexes of new's code lines that are new or changed, number of lines removed)``.

    Lines are compared without indentation, so re-indenting a line is not a change.
    """
    a = [ln.strip() for ln in code_lines(old)]
    b = [ln.strip() for ln in code_lines(new)]
    changed, removed = [], 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            changed += list(range(j1, j2))
        if tag in ("replace", "delete"):
            removed += max(0, (i2 - i1) - (j2 - j1)) if tag == "replace" else i2 - i1
    return changed, removed


def measure(variants: dict) -> "pandas.DataFrame":  # noqa: F821
    """Measure ``{step: {framework: function}}``: one row per (step, framework).

    Columns: ``lines`` (code lines), ``changed`` (lines new or changed since the previous step of the
    same framework; every line for the first step), ``concepts`` (how many), ``new_concepts`` (the
    concepts not used by the previous step) and ``concept_names``.
    """
    import pandas as pd

    rows = []
    steps = list(variants)
    for k, step in enumerate(steps):
        for fw, fn in variants[step].items():
            prev = variants[steps[k - 1]].get(fw) if k else None
            names = concepts(fn)
            if prev is None:
                changed = len(code_lines(fn))
                new = names
            else:
                changed = len(changed_lines(prev, fn)[0])
                new = names - concepts(prev)
            rows.append({"step": step, "framework": fw, "lines": count_lines(fn), "changed": changed,
                         "concepts": len(names), "new_concepts": len(new),
                         "concept_names": ", ".join(sorted(names)), "function": fn.__name__})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the widget

_ADDED = "background:#e6ffec;border-left:3px solid #2da44e"
_SAME = "border-left:3px solid transparent"


def _highlight_lines(lines: list) -> list:
    """Syntax-highlighted HTML for each line (one Pygments pass; its HTML never spans a line break)."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:  # pragma: no cover
        return [html.escape(ln) or "&nbsp;" for ln in lines]
    out = highlight("\n".join(lines), PythonLexer(stripnl=False, ensurenl=True),
                    HtmlFormatter(nowrap=True, noclasses=True, nobackground=True)).split("\n")
    if len(out) < len(lines):  # pragma: no cover - defensive
        return [html.escape(ln) or "&nbsp;" for ln in lines]
    return [ln or "&nbsp;" for ln in out[: len(lines)]]


_DOT = '<span style="color: #666">.</span>'  # Pygments' attribute dot (default style, inline)


def _break_between_tokens(line_html: str) -> str:
    """Let a highlighted line wrap after ``(``/``[`` and before an attribute's ``.``, besides its spaces.

    Long dotted names (``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``) have no space to
    wrap at; without these ``<wbr>`` a narrow column would overflow or break inside a name.  Brackets
    outside any ``<span>`` are punctuation (strings and numbers are always inside one).
    """
    out, depth = [], 0
    for part in re.split(r"(<[^>]+>)", line_html.replace(_DOT, "<wbr>" + _DOT)):
        if part.startswith("<span"):
            depth += 1
        elif part.startswith("</span"):
            depth -= 1
        elif not part.startswith("<") and depth == 0:
            part = part.replace("(", "(<wbr>").replace("[", "[<wbr>")
        out.append(part)
    return "".join(out)


def _tidy_continuations(lines: list) -> list:
    """Re-indent the continuation lines of long calls to 4 spaces past their statement (narrow columns)."""
    depth_at_start, depth = [], 0
    try:
        text = textwrap.dedent("\n".join(lines)) + "\n"
        starts = {}
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            row = tok.start[0]
            if row not in starts:
                starts[row] = depth
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
        depth_at_start = [starts.get(i + 1, 0) for i in range(len(lines))]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return lines
    out, base = [], ""
    for ln, d in zip(lines, depth_at_start):
        if d > 0:
            out.append(base + "    " + ln.lstrip())
        else:
            base = ln[: len(ln) - len(ln.lstrip())]
            out.append(ln)
    return out


def render_code(fn, previous=None, title: str = "", highlight: bool = True) -> str:
    """HTML for one version: a caption with its measurements and its code, changed lines highlighted."""
    lines = code_lines(fn)
    indent = min((len(ln) - len(ln.lstrip()) for ln in lines), default=0)
    if previous is not None:
        changed, removed = changed_lines(previous, fn)
    else:
        changed, removed = list(range(len(lines))), 0
    changed_set = set(changed) if (highlight and previous is not None) else set()
    n_concepts = len(concepts(fn))
    caption = (f"<b>{html.escape(title)}</b> &nbsp;<span style='color:#555'>{len(lines)} lines · "
               f"{n_concepts} concepts")
    if previous is not None:
        caption += f" · <span style='color:#1a7f37'>+{len(changed)} new/changed</span>"
        if removed:
            caption += f" · <span style='color:#cf222e'>−{removed} removed</span>"
    caption += "</span>"
    rows = []
    tidy = _tidy_continuations([ln[indent:] for ln in lines])
    for i, (raw, ln) in enumerate(zip(tidy, _highlight_lines(tidy))):
        style = _ADDED if i in changed_set else _SAME
        # A line too long for its column wraps only between tokens (never inside a name, number or string),
        # and its continuation is indented 4 characters past the line's own indentation.
        lead = len(raw) - len(raw.lstrip())
        ln = _break_between_tokens(ln[lead:] if ln.startswith(" " * lead) else ln)
        rows.append(f"<div style='{style};padding-left:calc(0.4em + {lead + 4}ch);text-indent:-4ch'>{ln}</div>")
    code = "".join(rows)
    return (f"<div style='flex:1 1 300px;min-width:0;margin:0 6px 8px'>{caption}"
            f"<div style='font-family:monospace;font-size:11px;white-space:pre-wrap;word-break:normal;"
            f"overflow-wrap:normal;overflow-x:auto;line-height:1.35;border:1px solid #ddd;border-radius:4px;"
            f"padding:4px 0'>{code}</div></div>")


class StepView:
    """Draw one step of an experiment, all its versions side by side — the ``draw`` of an Explorer.

    ``variants`` is ``{step: {framework: function}}`` (every step has the same frameworks)::

        view = StepView(VARIANTS)
        widgets.Explorer(view, step=widgets.choice("step", list(VARIANTS)),
                         version=widgets.choice("version", view.versions),
                         highlight=widgets.toggle("highlight changes", True))

    ``version`` is ``"all three"`` (every framework, side by side) or one framework; with ``highlight``
    the lines that are new or changed since the previous step are marked in green.  The last HTML drawn is
    kept in ``view.html`` and the step/version it showed in ``view.shown`` (for tests).
    """

    def __init__(self, variants: dict):
        if not variants:
            raise ValueError("StepView needs at least one step")
        self.variants = variants
        self.steps = list(variants)
        self.frameworks = list(variants[self.steps[0]])
        missing = [(s, fw) for s in self.steps for fw in self.frameworks if fw not in variants[s]]
        if missing:
            raise ValueError(f"every step needs every framework; missing {missing}")
        n = len(self.frameworks)
        self.everything = "all three" if n == 3 else f"all {n}"
        self.html = ""
        self.shown: tuple = ()

    @property
    def versions(self) -> list:
        """The options of the version control: everything, then each framework."""
        return [self.everything] + self.frameworks

    def render(self, step, version=None, highlight: bool = True) -> str:
        if step not in self.variants:
            raise ValueError(f"unknown step {step!r}; choose one of {self.steps}")
        version = version or self.everything
        if version != self.everything and version not in self.frameworks:
            raise ValueError(f"unknown version {version!r}; choose one of {self.versions}")
        k = self.steps.index(step)
        shown = self.frameworks if version == self.everything else [version]
        cols = []
        for fw in shown:
            prev = self.variants[self.steps[k - 1]][fw] if k else None
            cols.append(render_code(self.variants[step][fw], prev, title=fw, highlight=highlight))
        note = "" if k else ("<div style='color:#555;margin:2px 6px'>The first step: nothing to compare with "
                             "yet.</div>")
        self.shown = (step, tuple(shown))
        # side by side while each column gets at least 300 px; below that the columns wrap onto new rows
        return note + "<div style='display:flex;flex-wrap:wrap;align-items:flex-start'>" + "".join(cols) + "</div>"

    def __call__(self, step, version=None, highlight: bool = True):
        from IPython.display import HTML, display

        self.html = self.render(step, version, highlight)
        display(HTML(self.html))
