"""Kernel-integrity probe (a second line of defence): what the grader inspects inside the student's kernel.

The probe (:func:`grading.kernel_side._dlsbs_probe`, run between cells) captures the state that decides
how a test cell runs — IPython's input/AST transformers, event callbacks, method overrides on the
shell/kernel/display machinery, import hooks, ``sys`` hooks, builtins, the functions of the modules tests
call (helpers, NumPy, torch, TensorFlow, Keras, ...) and the identity of every global — as a JSON document
returned through ``user_expressions``.  :func:`diff` turns two snapshots into change keys; the grader
compares a run's changes, step by step, with the reference run's and *flags* the submission for review
when they differ.

Grades never depend on this: the judge (:mod:`grading.judge`) scores every test cell from the values its
checks send.  In-process detection is a race the grader cannot win; the probe only makes known tricks
visible to a reviewer.
"""
from __future__ import annotations

import json

from helpers.checks import RECORD_ENV

from . import kernel_side
from .paths import HIDDEN_BEGIN



def probe_code(nonce: str) -> tuple[str, dict]:
    """(code, user_expressions) for one probe; the result is under ``user_expressions[nonce]``."""
    var = f"_dlsbs_p_{nonce}"
    marker = f"{HIDDEN_BEGIN[:10]!r} + {HIDDEN_BEGIN[10:]!r}"  # the marker, but not in one piece in this code
    code = (_PROBE_SOURCE + f"\nget_ipython().user_ns[{var!r}] = _dlsbs_probe({nonce!r}, {marker})"
            f"\ndel _dlsbs_probe\n")
    return code, {nonce: f"get_ipython().user_ns.pop({var!r})"}


def _source(fn) -> str:
    import inspect

    return inspect.getsource(fn)


_PROBE_SOURCE = _source(kernel_side._dlsbs_probe)
#: run once in each kernel before any student code (see :func:`grading.kernel_side._dlsbs_setup`)
SETUP_CODE = _source(kernel_side._dlsbs_setup) + f"_dlsbs_setup({RECORD_ENV!r})\ndel _dlsbs_setup\n"


def parse_result(reply: dict | None, nonce: str) -> dict | None:
    """The probe's snapshot from an execute_reply, or None if it is missing or forged."""
    if not reply or reply.get("status") != "ok":
        return None
    ue = (reply.get("user_expressions") or {}).get(nonce)
    if not ue or ue.get("status") != "ok":
        return None
    text = ue.get("data", {}).get("text/plain", "")
    try:
        import ast

        snap = json.loads(ast.literal_eval(text))
    except Exception:
        return None
    if snap.get("nonce") != nonce:
        return None
    return snap


def _list_diff(prefix: str, a: list, b: list, out: set):
    if a == b:
        return
    ta, tb = [x.split(":")[0] for x in a], [x.split(":")[0] for x in b]
    added = [t for t in tb if t not in ta] or [t for x, t in zip(b, tb) if x not in a]
    removed = [t for t in ta if t not in tb] or [t for x, t in zip(a, ta) if x not in b]
    for t in added:
        out.add(f"{prefix}:+{t}")
    for t in removed:
        out.add(f"{prefix}:-{t}")
    if not added and not removed:
        out.add(f"{prefix}:changed")


def _map_diff(prefix: str, a: dict, b: dict, out: set, additions: bool = False):
    for k, v in a.items():
        if k not in b:
            out.add(f"{prefix}:-{k}")
        elif b[k] != v:
            out.add(f"{prefix}:~{k}")
    if additions:
        for k in b:
            if k not in a:
                out.add(f"{prefix}:+{k}")


def diff(a: dict, b: dict, workdir: str = "") -> set:
    """Change keys between two snapshots (``a`` before a step, ``b`` after it)."""
    out: set = set()
    for k in set(a["transformers"]) | set(b["transformers"]):
        _list_diff(f"transformers.{k}", a["transformers"].get(k, []), b["transformers"].get(k, []), out)
    for k in set(a["events"]) | set(b["events"]):
        _list_diff(f"events.{k}", a["events"].get(k, []), b["events"].get(k, []), out)
    for k in set(a["machinery"]) | set(b["machinery"]):
        _map_diff(f"machinery.{k}", a["machinery"].get(k, {}), b["machinery"].get(k, {}), out, additions=True)
    for k in set(a["sys"]) | set(b["sys"]):
        _list_diff(f"sys.{k}", a["sys"].get(k, []), b["sys"].get(k, []), out)

    def norm(p):
        return p.replace(workdir, "<work>") if workdir else p
    pa, pb = [norm(p) for p in a["sys_path"]], [norm(p) for p in b["sys_path"]]
    for p in pb:
        if p not in pa:
            out.add(f"sys.path:+{p}")
    if [p for p in pa if p in pb] != [p for p in pb if p in pa]:
        out.add("sys.path:reordered")
    _map_diff("builtins", a["builtins"], b["builtins"], out, additions=True)
    for name, m in a["modules"].items():
        if name in b["modules"]:
            _map_diff(f"module.{name}", m, b["modules"][name], out)
    for name in b["modules"]:
        if name not in a["modules"] and "<replaced>" in b["modules"][name]:
            out.add(f"module.{name}:replaced")
    _map_diff("global", a["globals"], b["globals"], out)
    return out


def describe(key: str) -> str:
    """A reviewer-readable sentence for a change key."""
    cat, _, what = key.partition(":")
    if cat.startswith("transformers."):
        return f"IPython input/AST transformer list '{cat.split('.', 1)[1]}' changed ({what})"
    if cat.startswith("events."):
        return f"IPython event callback '{cat.split('.', 1)[1]}' changed ({what})"
    if cat.startswith("machinery."):
        return f"kernel execution machinery patched: {cat.split('.', 1)[1]} {what[1:]}"
    if cat == "sys.path":
        return f"sys.path changed ({what})"
    if cat.startswith("sys."):
        return f"sys hook '{cat.split('.', 1)[1]}' changed ({what})"
    if cat == "builtins":
        return f"builtins changed: {what[1:]}"
    if cat.startswith("module."):
        return f"module {cat.split('.', 1)[1]} patched: {what[1:] if what[0] in '+-~' else what}"
    if cat == "global":
        return f"global '{what[1:]}' that the tests use was rebound"
    return key
