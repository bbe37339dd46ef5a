"""Grading through a durable work queue: ``grade LESSON --queue URL`` and ``worker --broker URL``.

One more way to run the per-submission job of ``grade -j N`` (:func:`grading.grader.grade_job`), on
any number of machines: `Celery <https://docs.celeryq.dev>`_ over a RabbitMQ broker (see queue.md).

* **What travels.**  The enqueuing ``grade`` process reads every submission (as a local run does) and
  puts one message per submission on the durable queue ``dlsbs.grade``: the read submission (the
  notebook, the student's files, the content key), the limits and the run key; the reference run is
  one more job, sent first, beside them.  A worker needs no shared storage, only a checkout of the same
  course (grader, helpers, ``solutions/``, ``lessons/``): it refuses a job whose run key differs from
  its own.  It only runs the notebook (:func:`grading.grader.run_job`); what the sandbox recorded goes
  back as a persistent message on this run's own durable results queue, and the ``grade`` process
  judges it against the reference run (trusted code judges, on the instructor's machine).
* **A failed reference run stops the run.**  Nothing is stored, the results queue is deleted, and
  workers drop the run's remaining jobs without running them (they check the queue is still there).
* **Exactly once.**  Only the enqueuing process judges and stores results (:class:`grading.grader.Store`), each
  job's first result only, and only if the submission on disk still has the content key it was
  graded for; a redelivered job's second result is dropped.
* **Workers can die.**  ``task_acks_late`` + ``task_reject_on_worker_lost`` + prefetch 1: a job is
  acknowledged after its result is published, so a killed worker's job is redelivered.  Jobs run in
  threads of the worker process (the ``threads`` pool, as ``grade -j N``), so a sandbox's parent-death
  signal fires when the worker dies; the next job on the machine sweeps the dead worker's sandboxes.
"""
from __future__ import annotations

import base64
import os
import socket
import time
import uuid

JOBS = "dlsbs.grade"
TASK = "dlsbs.grade"
#: reconnecting to a broker that restarts: every 1, 2, ... 5 s, for as long as it takes
RETRY = {"max_retries": None, "interval_start": 1, "interval_step": 1, "interval_max": 5}
#: seconds without a result after which the grading process consumes its results on a new connection
QUIET_RECONNECT = 15
#: an unused results queue (its grading process died) is deleted by the broker after this many ms
RESULTS_EXPIRE_MS = 7 * 24 * 3600 * 1000


def app(url: str):
    """The Celery app for broker ``url`` (JSON messages only: a broker must not be able to run code)."""
    from celery import Celery
    from kombu import Queue

    a = Celery("dlsbs", broker=url, set_as_current=False)
    a.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                  task_serializer="json", accept_content=["json"], task_ignore_result=True,
                  task_default_queue=JOBS, task_queues=[Queue(JOBS, durable=True)], task_create_missing_queues=False,
                  broker_connection_retry_on_startup=True, broker_transport_options={"confirm_publish": True},
                  worker_hijack_root_logger=False, worker_cancel_long_running_tasks_on_connection_loss=False,
                  worker_enable_remote_control=False)
    a.task(name=TASK, bind=True)(_job)
    return a


# ----------------------------------------------------------------------------- the job (on a worker)


def _sub_to_wire(sub) -> dict:
    import nbformat

    return {"student": sub.student, "lesson": sub.lesson, "folder": str(sub.folder), "key": sub.key,
            "notebook": nbformat.writes(sub.notebook) if sub.notebook is not None else None,
            "files": {k: base64.b64encode(v).decode() for k, v in sub.files.items()},
            "notes": sub.notes, "flags": sub.flags, "failure": sub.failure}


def _sub_from_wire(d: dict):
    from pathlib import Path

    import nbformat

    from .submission import Submission

    return Submission(student=d["student"], lesson=d["lesson"], folder=Path(d["folder"]), key=d["key"],
                      notebook=nbformat.reads(d["notebook"], as_version=4) if d["notebook"] is not None else None,
                      files={k: base64.b64decode(v) for k, v in d["files"].items()}, notes=list(d["notes"]),
                      flags=list(d["flags"]), failure=d["failure"])


def _job(task, job: dict) -> None:
    """Run one submission (or the reference) and publish what it found to the job's results queue."""
    from . import grader
    from .lesson import Lesson
    from .results import make_result
    from .sandbox import Limits, sweep

    sweep()  # sandboxes of a worker on this machine that was killed (their owner is dead)
    if not _wanted(task.app, job["reply"]):  # the grading run that sent it is over (its reference run failed)
        from celery.utils.log import get_task_logger

        get_task_logger(__name__).info("job %s dropped: the grading run that sent it has stopped", job["job"])
        return
    lesson = Lesson(job["lesson"])
    limits = Limits(**job["limits"])
    mine = grader.run_key(lesson, limits)
    if job["kind"] == "reference":
        try:
            out = {"result": grader.run_reference(lesson, limits)}
        except Exception as exc:  # e.g. no sandbox on this machine: the grading stops and says why
            out = {"result": {"key": mine, "ok": False, "problems": [
                f"the instructor's solution could not be run on worker {socket.gethostname()}: {exc}"]}}
    else:
        sub = _sub_from_wire(job["sub"])
        if mine != job["base_key"]:
            out = {"result": make_result(lesson, sub, "error", file=job["file"], reason=(
                f"worker {socket.gethostname()} has a different grader, helpers/ or lesson source than the "
                f"grading machine: update its checkout and restart it"))}
        else:
            out = grader.run_job(lesson, sub, job["file"], limits)
    body = {"job": job["job"], "kind": job["kind"], "worker": task.request.hostname, **out}
    with task.app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=None)  # a broker restart: wait for it, then publish
        producer = conn.Producer(serializer="json")
        producer.publish(body, routing_key=job["reply"], delivery_mode=2, retry=True, retry_policy=RETRY)


def _wanted(app, reply: str) -> bool:
    """Whether the grading run that sent a job still waits for it (its results queue exists)."""
    from amqp.exceptions import NotFound

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=None)
            channel = conn.channel()
            try:
                channel.queue_declare(queue=reply, passive=True)
            finally:
                try:
                    channel.close()
                except Exception:
                    pass
    except NotFound:
        return False
    except Exception:  # the broker is unsure (a restart): do the job rather than lose it
        return True
    return True


def worker(url: str, concurrency: int | None = None, hostname: str | None = None) -> int:
    """``python -m grading worker --broker URL``: grade jobs from the queue, ``concurrency`` at a time."""
    from .sandbox import missing_protections, sweep

    stale = sweep()
    if stale:
        print(f"removed {stale} sandbox(es) left behind by a grader or worker that was killed", flush=True)
    for m in missing_protections():
        print("WARNING, sandbox protection NOT active: " + m, flush=True)
    n = max(1, concurrency or os.cpu_count() or 1)
    argv = ["worker", "--pool", "threads", "--concurrency", str(n), "--queues", JOBS, "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--hostname", hostname or f"dlsbs-{os.getpid()}@%h"]
    app(url).worker_main(argv)
    return 0


# ----------------------------------------------------------------------------- the grading process


class _Stored(Exception):
    """Storing a result failed (raised past the reconnecting loop)."""


class _Results:
    """This run's durable results queue on the broker, consumed by one consumer that is made again
    when the broker restarts (results not yet acknowledged then come again)."""

    def __init__(self, url: str):
        from kombu import Queue

        self.url = url
        self.name = f"dlsbs.results.{uuid.uuid4().hex}"
        self.queue = Queue(self.name, durable=True, auto_delete=False, routing_key=self.name,
                           queue_arguments={"x-expires": RESULTS_EXPIRE_MS})
        self.conn = None
        self.handler = lambda body: None

    def _message(self, body, message):
        try:
            self.handler(body)
        except Exception as exc:
            raise _Stored(exc) from exc  # storing failed: not the broker's problem, stop with it
        message.ack()  # after it is stored: a result lost with this process comes again

    def connect(self):
        from kombu import Connection

        if self.conn is not None:
            try:
                self.conn.release()
            except Exception:
                pass
        self.conn = Connection(self.url, heartbeat=30)
        self.conn.ensure_connection(max_retries=None, interval_start=1, interval_step=1, interval_max=5)
        self.conn.Consumer([self.queue], accept=["json"], prefetch_count=64, callbacks=[self._message]).consume()

    def drain(self, timeout: float) -> None:
        """Hand the results that come in within ``timeout`` seconds to ``self.handler``."""
        try:
            self.conn.heartbeat_check()
            self.conn.drain_events(timeout=timeout)
        except socket.timeout:
            pass
        except _Stored as exc:
            raise exc.__cause__
        except Exception:  # the broker went away (a restart): a new connection to the same durable queue
            time.sleep(1)
            self.connect()

    def close(self):
        try:
            self.queue.bind(self.conn.default_channel).delete()
        except Exception:
            pass
        self.conn.release()


def _run_jobs(url: str, results: _Results, jobs: dict, on_result, log) -> None:
    """Publish ``jobs`` ({job id: payload}) and call ``on_result(job, body)`` once per job as the results
    come in (a redelivered job's second result is dropped here)."""
    a = app(url)
    with a.producer_or_acquire() as producer:
        for job_id, payload in jobs.items():
            a.send_task(TASK, args=[payload], task_id=job_id, queue=JOBS, producer=producer, retry=True,
                        retry_policy=RETRY)  # a broker restart: wait for it (a job sent twice is stored once)
    pending = dict(jobs)
    waited = time.monotonic()

    def on_message(body):
        nonlocal waited
        job = pending.pop(body.get("job"), None)
        if job is None:
            return  # a duplicate (the job was redelivered after its first result) or not this run's
        waited = time.monotonic()
        on_result(job, body)

    results.handler = on_message
    fresh = time.monotonic()
    while pending:
        results.drain(timeout=1.0)
        if time.monotonic() - max(waited, fresh) > QUIET_RECONNECT:
            # nothing for a while: consume on a new connection (a consumer lost in a broker restart
            # without an error on ours would otherwise wait forever; unread results are kept by the broker)
            results.connect()
            fresh = time.monotonic()
        if time.monotonic() - waited > 120:
            waited = time.monotonic()
            log(f"  waiting for {len(pending)} job(s) on {JOBS} (is a worker running? `python -m grading worker "
                f"--broker URL` on each grading machine)")


class _Stop(Exception):
    """The reference run failed: the grading stops (its results queue goes; workers drop its jobs)."""


def grade_through(url: str, lesson, todo: list[str], force: bool, limits, store, log) -> dict | None:
    """``grade LESSON --queue URL``: the reference run (unless cached) and one job per new or changed
    submission go to the workers together; each submission is judged here, against the reference run,
    as its run comes in (the ones that come before the reference wait for it), then stored.  Returns the
    reference run (None: no work)."""
    from . import grader
    from .results import result_name, shown

    base_key = grader.run_key(lesson, limits)
    subs = {}
    for sid in todo:
        sub = grader.to_grade(lesson, sid, base_key, force)
        if sub is None:
            store.unchanged(shown(sid))
        else:
            subs[sid] = sub
    if not subs:
        return None
    results = _Results(url)
    try:
        results.connect()
        common = {"lesson": lesson.name, "limits": dict(limits.__dict__), "base_key": base_key, "reply": results.name}
        box = {"ref": None if force else grader.cached_reference(lesson, limits)}
        jobs = {}
        if box["ref"] is None:  # first in the queue, so the first worker free runs it
            job_id = uuid.uuid4().hex
            jobs[job_id] = {**common, "kind": "reference", "job": job_id}
        for sid, sub in subs.items():
            job_id = uuid.uuid4().hex
            jobs[job_id] = {**common, "kind": "grade", "job": job_id, "sid": sid, "file": result_name(sid),
                            "sub": _sub_to_wire(sub)}
        early: list = []  # runs that came in before the reference run

        def judge_and_store(job, body):
            result = body.get("result") or grader.grade_job(lesson, subs[job["sid"]], job["file"], box["ref"], limits,
                                                            run=body["run"])
            if result is None:
                return
            now = grader.read_submission(lesson, job["sid"], base_key).key
            if result.get("key") != now:  # the submission changed meanwhile: the next run grades the new one
                log(f"  {result['student']}: submission changed while it was graded; not stored (grade again)")
                return
            store.add(result)

        def on_result(job, body):
            if job["kind"] == "reference":
                box["ref"] = grader.accept_reference(lesson, limits, body["result"])
                if not box["ref"].get("ok"):
                    raise _Stop()
                while early:
                    judge_and_store(*early.pop(0))
            elif box["ref"] is None:
                early.append((job, body))
            else:
                judge_and_store(job, body)

        try:
            _run_jobs(url, results, jobs, on_result, log)
        except _Stop:
            pass
        return box["ref"]
    finally:
        results.close()
