"""fastai's fast path (private fastai internals, isolated here): used by :mod:`helpers.fastai_side`.

Stock fastai spends ~1 ms of Python per batch on its machinery, more than the forward and backward
pass of a lesson-sized model.  The subclasses here compute stock fastai's numbers bit for bit
(``tests/test_training_paths.py``) with less overhead:

* :func:`learner_class` — ``Learner`` with a per-event list of the callbacks that handle it
  (overrides ``__call__`` / ``_call_one``) and a ``_set_device`` that skips batches already there;
* :func:`optimizer_class` — fastai's ``Optimizer`` with ``step`` / ``zero_grad`` as plain loops
  (calls fastai's private ``_update``); installed by swapping ``__class__`` (:func:`lean_optimizer`);
* :func:`recorder_class` — ``Recorder.after_batch`` rewritten (a copy of fastai's logic);
* :func:`plain_tensors` — replaces ``BaseLoss._contiguous`` so the loss stays a plain tensor.

They rely on fastai/torch internals, so :func:`enabled` allows them only on :data:`TESTED_VERSIONS`
(and not with ``DLSBS_FAST_PATHS=0``); otherwise the twin uses stock ``Learner`` and says so once.
"""
from __future__ import annotations

import functools

import torch

from .twin import fast_path_allowed

#: the versions ``tests/test_training_paths.py`` held this path to stock fastai on
TESTED_VERSIONS = {"fastai": "2.8.12", "torch": "2.14.1"}

#: the classes keep the names they had when they lived in helpers.fastai_side (pickles of learn.export)
_PUBLIC_MODULE = "helpers.fastai_side"


def installed_versions() -> dict:
    import fastai

    return {"fastai": fastai.__version__, "torch": torch.__version__}


def enabled() -> bool:
    """Is the fast path allowed here (tested versions, not switched off)?  Prints one notice if not."""
    return fast_path_allowed("fastai", TESTED_VERSIONS, installed_versions())


def lean_optimizer(opt_func, params, **kwargs):
    """``opt_func(params, **kwargs)`` (a fastai ``Optimizer``) with the step loop of :func:`optimizer_class`."""
    opt = opt_func(params, **kwargs)
    opt.__class__ = optimizer_class()
    return opt


@functools.lru_cache(maxsize=None)
def optimizer_class():
    """fastai's ``Optimizer`` with ``step``/``zero_grad`` as plain loops: the same callbacks on the same
    parameters in the same order (so the same math, bit for bit), without building fastcore ``L`` lists
    of (param, group, state, hypers) tuples on every call, which costs more than the update itself
    for a lesson-sized model."""
    from fastai.optimizer import Optimizer, _update

    class Optimizer(Optimizer):  # noqa: F811 - the same name in reprs
        def _with_grad(self):
            for pg, hyper in zip(self.param_lists, self.hypers):
                for p in pg:
                    if getattr(p, "grad", None) is not None:
                        yield p, hyper

        def zero_grad(self):
            for p, _ in self._with_grad():
                p.grad.detach_()
                p.grad.zero_()

        def step(self, closure=None):
            if closure is not None:
                raise NotImplementedError("fastai optimizers currently do not support closure")
            for p, hyper in self._with_grad():
                state = self.state[p]
                for cb in self.cbs:
                    state = _update(state, cb(p, **{**state, **hyper}))
                self.state[p] = state

    Optimizer.__module__, Optimizer.__qualname__ = _PUBLIC_MODULE, "Optimizer"
    return Optimizer


@functools.lru_cache(maxsize=None)
def recorder_class():
    """fastai's ``Recorder`` with a leaner training ``after_batch``: the same records (``losses``, ``lrs``,
    ``values``, ``learn.smooth_loss``), but the list of training metrics is built once per epoch instead
    of on every batch, and the smoothed loss is computed once per batch instead of twice."""
    from fastai.learner import Recorder

    class Recorder(Recorder):  # noqa: F811 - learn.recorder, as with the stock one
        def before_train(self):
            super().before_train()
            self._train_now = super()._train_mets

        def after_batch(self):
            learn = self.learn
            if not learn.training or getattr(self, "cancel_train", False) or "_train_now" not in vars(self):
                return super().after_batch()
            if len(learn.yb) == 0:
                return
            for met in self._train_now:
                met.accumulate(learn)
            self.lrs.append(learn.opt.hypers[-1]["lr"])
            value = self.smooth_loss.value
            self.losses.append(value)
            learn.smooth_loss = value

    Recorder.__module__, Recorder.__qualname__ = _PUBLIC_MODULE, "Recorder"
    return Recorder


@functools.lru_cache(maxsize=None)
def learner_class():
    """fastai's ``Learner`` with an event dispatch that skips callbacks which do not handle the event.

    Stock ``Learner`` calls every callback for each of the ~10 events of a batch, re-sorting them every
    time, and each call looks the handler up through ``GetAttr`` delegation (~1 ms per batch in all):
    more than the forward and backward pass of a lesson-sized model.  This subclass computes, per event,
    the ordered list of callbacks that define a handler (cached until the callbacks change) and then calls
    them exactly as ``Learner`` does (``Callback.__call__``: ``run``/``run_train``/``run_valid`` and
    exception wrapping unchanged).  ``after_fit`` still reaches every callback (it resets ``run``).
    ``tests/test_training_paths.py`` checks the weights equal stock ``Learner.fit``'s bit for bit.
    """
    from fastai.callback.core import event
    from fastai.learner import Learner

    class Learner(Learner):  # noqa: F811 - the same name in reprs and error messages
        def __call__(self, event_name):
            if isinstance(event_name, str):
                self._call_one(event_name)
            else:
                super().__call__(event_name)

        def _call_one(self, event_name):
            cbs = self.cbs.items  # the list inside fastcore's L
            cache = self.__dict__.get("_dispatch")
            if cache is None or cache[0] != cbs:  # callbacks added or removed since: start over
                cache = self.__dict__["_dispatch"] = (list(cbs), {})
            handlers = cache[1].get(event_name)
            if handlers is None:
                if not hasattr(event, event_name):
                    raise Exception(f"missing {event_name}")
                handlers = cache[1][event_name] = [cb for cb in self.cbs.sorted("order") if _handles(cb, event_name)]
            for cb in handlers:
                cb(event_name)

        def _set_device(self, b):
            device = next(self.model.parameters()).device
            if all(isinstance(t, torch.Tensor) and t.device == device for t in b):
                return b
            return super()._set_device(b)

    Learner.__module__, Learner.__qualname__ = _PUBLIC_MODULE, "Learner"  # picklable as helpers.fastai_side.Learner
    return Learner


def _handles(cb, event_name: str) -> bool:
    """Does callback ``cb`` define a handler for ``event_name`` (on its class or, via kwargs, on itself)?"""
    return (event_name == "after_fit" or event_name in vars(cb)
            or any(event_name in vars(k) for k in type(cb).__mro__))


def _contiguous_plain(axis, x):
    return x.transpose(axis, -1).contiguous() if isinstance(x, torch.Tensor) else x


def plain_tensors(loss):
    """fastai's flattened loss, computed on plain tensors.

    ``BaseLoss`` wraps its inputs in ``TensorBase``, whose Python-level ``__torch_function__`` then runs for
    every later operation on the loss (clone, backward, the Recorder's smoothing): ~40 % of a tiny
    model's step.  The math (flatten, float targets, activation/decodes for ``get_preds``) is unchanged.
    """
    loss._contiguous = functools.partial(_contiguous_plain, loss.axis)
    return loss


def learner(dls, model, *, loss_func, opt_func, lr, path):
    """The fast ``Learner``: fastai's default callbacks with the leaner ``Recorder``."""
    from fastai.learner import Recorder
    from fastcore.basics import defaults

    cbs = [recorder_class() if cb is Recorder else cb for cb in defaults.callbacks]
    return learner_class()(dls, model, loss_func=plain_tensors(loss_func),
                           opt_func=functools.partial(lean_optimizer, opt_func), lr=lr, cbs=cbs, default_cbs=False,
                           path=path)
