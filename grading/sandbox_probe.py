"""Kernel-integrity probe: code the grader runs inside the student's kernel between cells.

The probe captures the state that decides how a test cell runs and what it relies on — IPython's
input/AST transformers, event callbacks, method overrides on the shell/kernel/display machinery,
import hooks, ``sys`` hooks, builtins, the functions of the modules tests call (helpers, NumPy,
torch, TensorFlow, Keras, ...) and the identity of every global — as a JSON document returned
through ``user_expressions`` on the shell channel.  :func:`diff` turns two snapshots into a set of
change keys; the grader compares a student run's changes, step by step, with those of the
instructor's own solution (the *reference run*) and flags any change the solution did not make.

In-process checks cannot be perfect (student code runs in the same interpreter as the tests);
this makes every known way of faking a pass visible, and a canary cell before each test checks
that failing code still fails.  Anything unexpected is flagged for review, never silently scored.
"""
from __future__ import annotations

import json

from helpers.checks import RECORD_ENV

PROBE_TEMPLATE = r'''
def _dlsbs_probe(nonce, hidden_marker):
    import sys, types, linecache
    import builtins as _b
    from IPython.core.interactiveshell import InteractiveShell
    ip = InteractiveShell.instance()
    def tag(x):
        if isinstance(x, types.MethodType):  # bound methods are new objects on every access
            return type(x.__func__).__name__ + ":" + str(id(x.__func__)) + "@" + str(id(x.__self__))
        return type(x).__name__ + ":" + str(id(x))
    def ids(seq):
        try:
            return [tag(x) for x in seq]
        except Exception as e:
            return ["<unreadable " + type(e).__name__ + ">"]
    def clsmap(obj):
        out = {}
        for cls in type(obj).__mro__:
            if cls is object:
                continue
            for k, v in list(vars(cls).items()):
                out[cls.__name__ + "." + k] = id(v)
        out["__class__"] = id(type(obj))
        for k, v in list(vars(obj).items()) if hasattr(obj, "__dict__") else []:
            if callable(v) and not isinstance(v, type):
                out["instance." + k] = id(v)
        return out
    r = {"nonce": nonce}
    itm = ip.input_transformer_manager
    pm = ip.prefilter_manager
    r["transformers"] = {
        "cleanup": ids(ip.input_transformers_cleanup), "post": ids(ip.input_transformers_post),
        "mgr": [tag(itm)], "mgr_cleanup": ids(getattr(itm, "cleanup_transforms", [])),
        "mgr_line": ids(getattr(itm, "line_transforms", [])),
        "mgr_token": ids(getattr(itm, "token_transformers", [])), "ast": ids(ip.ast_transformers),
        "prefilter": ids(getattr(pm, "transformers", [])) + ids(getattr(pm, "checkers", [])) + ids(getattr(pm, "handlers", {}).values()),
    }
    r["events"] = {k: ids(v) for k, v in ip.events.callbacks.items()}
    kernel = getattr(ip, "kernel", None)
    objs = {"shell": ip, "kernel": kernel, "displayhook": ip.displayhook, "display_pub": ip.display_pub,
            "compile": ip.compile, "session": getattr(kernel, "session", None), "events": ip.events,
            "history": ip.history_manager, "itm": itm}
    r["machinery"] = {name: clsmap(o) for name, o in objs.items() if o is not None}
    if kernel is not None:
        r["machinery"]["shell_handlers"] = {k: id(v) for k, v in kernel.shell_handlers.items()}
    r["sys"] = {
        "meta_path": ids(sys.meta_path), "path_hooks": ids(sys.path_hooks), "excepthook": [tag(sys.excepthook)],
        "displayhook": [tag(sys.displayhook)], "trace": [tag(sys.gettrace())], "profile": [tag(sys.getprofile())],
        "breakpointhook": [tag(sys.breakpointhook)], "stdout": [type(sys.stdout).__name__], "stderr": [type(sys.stderr).__name__],
        "import": [tag(_b.__import__)], "modules_dict": [tag(sys.modules)],
    }
    r["sys_path"] = list(sys.path)
    # ipykernel installs a fresh ``input`` per request: not a tamper signal.
    r["builtins"] = {k: id(v) for k, v in vars(_b).items() if k not in ("_", "__", "___", "input", "raw_input")}
    watch = ("numpy", "numpy.testing", "torch", "tensorflow", "keras", "warnings", "math", "json", "re",
             "IPython.core.interactiveshell", "ipykernel.kernelbase", "ipykernel.ipkernel", "ipykernel.zmqshell",
             "ipykernel.iostream", "jupyter_client.session", "traceback", "linecache", "types")
    mods = {}
    for name, mod in list(sys.modules.items()):
        if not (name in watch or name == "helpers" or name.startswith("helpers.")):
            continue
        if not isinstance(mod, types.ModuleType):
            mods[name] = {"<replaced>": tag(mod)}
            continue
        m = {"<module>": id(mod)}
        for k, v in list(vars(mod).items()):
            if isinstance(v, types.ModuleType) or not callable(v):
                continue
            m[k] = id(v)
            if name.startswith("helpers") and isinstance(v, types.FunctionType):
                m[k + ".__code__"] = id(v.__code__)
                m[k + ".__defaults__"] = id(v.__defaults__)
                m[k + ".__kwdefaults__"] = id(v.__kwdefaults__)
                m[k + ".__globals__"] = id(v.__globals__)
            if name.startswith("helpers") and isinstance(v, type):
                for ck, cv in list(vars(v).items()):
                    if callable(cv) or isinstance(cv, (staticmethod, classmethod, property)):
                        m[k + "." + ck] = id(cv)
        mods[name] = m
    r["modules"] = mods
    skip = {"In", "Out", "get_ipython", "exit", "quit"}
    r["globals"] = {k: id(v) for k, v in list(ip.user_ns.items()) if not k.startswith("_") and k not in skip}
    # Hidden tests must not linger where later student code could read them.
    for k, v in list(linecache.cache.items()):
        try:
            if hidden_marker in "".join(v[2]):
                del linecache.cache[k]
        except Exception:
            pass
    import json as _json
    return _json.dumps(r)
'''


def probe_code(nonce: str) -> tuple[str, dict]:
    """(code, user_expressions) for one probe; the result is under ``user_expressions[nonce]``."""
    var = f"_dlsbs_p_{nonce}"
    code = (PROBE_TEMPLATE + f"\nget_ipython().user_ns[{var!r}] = _dlsbs_probe({nonce!r}, '### BEGIN ' + 'HIDDEN TESTS')"
            f"\ndel _dlsbs_probe\n")
    return code, {nonce: f"get_ipython().user_ns.pop({var!r})"}


SETUP_CODE = r'''
def _dlsbs_setup():
    import os, sys
    os.environ[RECORD_ENV] = "1"  # helpers.checks sends each check's values to the grader
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd) and not p.startswith(cwd + os.sep)]
_dlsbs_setup()
del _dlsbs_setup
'''.replace("RECORD_ENV", repr(RECORD_ENV))


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
