"""Code the grader runs *inside* the student's kernel (sent as source text: the sandbox cannot import
``grading``).  Real functions, so they are linted and readable; :mod:`grading.sandbox_probe` sends them.

* :func:`_dlsbs_setup` runs first: it turns on the checks' records (``helpers.checks.RECORD_ENV``) and
  removes the working directory from ``sys.path`` (a student file must not shadow a module).
* :func:`_dlsbs_probe` captures the state that decides how a test cell runs (see sandbox_probe).

Each function imports what it needs itself: it is executed on its own, without this module's globals.
"""
# flake8: noqa


def _dlsbs_setup(record_env):
    import os, sys
    os.environ[record_env] = "1"  # helpers.checks sends each check's values to the grader
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd) and not p.startswith(cwd + os.sep)]


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
    # pyplot and its inline backend register their own post_execute hooks (_draw_all_if_interactive,
    # flush_figures) in whichever cell first imports pyplot: a library's registration, not a tamper signal
    r["events"] = {k: ids([x for x in v if not str(getattr(x, "__module__", "")).startswith(("matplotlib.", "matplotlib_inline."))])
                   for k, v in ip.events.callbacks.items()}
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
