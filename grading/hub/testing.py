"""A throw-away class hub for the tests: real JupyterHub, proxy, system users, on 127.0.0.1.

    with TestHub(tmp_path, students=["a", "b"], instructors=["t"]) as hub:
        hub.start(); hub.server("a"); hub.post("a", "assignments/fetch", ...); hub.run_in_kernel("b", code)

Everything it creates (accounts, homes, processes, the state folder) is removed by ``close()``.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

from . import CHP, REPO, State, remove_users


def skip_reason() -> str | None:
    """Why the hub tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "the hub creates system users: run the tests as root"
    if not CHP.exists():
        return "configurable-http-proxy is not installed: run `make hub-deps`"
    return None


def free_port(n: int = 1) -> int:
    """A port p with p..p+n-1 free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p + n < 65000 and all(_free(p + i) for i in range(n)):
            return p
    raise RuntimeError("no free ports")


def _free(p: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False


class TestHub:
    __test__ = False  # not a pytest class

    def __init__(self, tmp: Path, students: list[str], instructors: list[str]):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        os.chmod(self.tmp, 0o755)
        self.state = State(self.tmp / "state")
        self.students, self.instructors = students, instructors
        self.roster = self.tmp / "roster.csv"
        self.roster.write_text("id,name\n" + "".join(f"{s},Student {s}\n" for s in students))
        self.port = free_port(2)
        self.api_port = free_port(2)
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = self.tmp / "hub.log"
        self.user_tokens: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle

    def env(self) -> dict:
        e = dict(os.environ, HUB_STATE=str(self.state.root), HUB_PORT=str(self.port),
                 HUB_API_PORT=str(self.api_port), HUB_API_TOKEN=self.token)
        e.pop("DLSBS_COURSE_ROOT", None)
        return e

    def cli(self, module: str, *args: str, timeout: int = 900, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", module, "--state", str(self.state.root), *args], cwd=REPO,
                              env=self.env(), text=True, capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"python -m {module} {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def setup(self):
        return self.cli("grading.hub", "setup", "--roster", str(self.roster), "--instructors",
                        ",".join(self.instructors), timeout=300)

    def start(self, timeout: float = 120):
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "grading.hub", "--state", str(self.state.root), "start"],
                                     cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the hub exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                status, _ = self.request("GET", "/hub/api/")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the hub did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self):
        """Stop the hub and its proxy (users' servers keep running, as on a real restart)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        remove_users(self.students + self.instructors)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"

    # ------------------------------------------------------------------ HTTP

    def request(self, method: str, path: str, token: str | None = None, json_body=None, form=None,
                timeout: float = 300, headers: dict | None = None):
        data, hdrs = None, {"Authorization": f"token {token or self.token}", **(headers or {})}
        if json_body is not None:
            data, hdrs["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                self.last_headers = r.headers
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            self.last_headers = e.headers
            return e.code, e.read().decode()

    def user_token(self, user: str) -> str:
        if user not in self.user_tokens:
            status, body = self.request("POST", f"/hub/api/users/{user}/tokens",
                                        json_body={"note": "tests", "expires_in": 7200})
            assert status in (200, 201), (status, body)
            self.user_tokens[user] = json.loads(body)["token"]
        return self.user_tokens[user]

    def server(self, user: str, timeout: float = 240) -> None:
        """Start ``user``'s server (if needed) and wait until it answers."""
        self.request("POST", f"/hub/api/users/{user}/server")
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, body = self.request("GET", f"/hub/api/users/{user}")
            if status == 200 and json.loads(body).get("servers", {}).get("", {}).get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{user}'s server did not start:\n{self.log_tail()}")

    def stop_server(self, user: str):
        self.request("DELETE", f"/hub/api/users/{user}/server")
        for _ in range(120):
            status, body = self.request("GET", f"/hub/api/users/{user}")
            if not json.loads(body).get("servers"):
                return
            time.sleep(0.5)

    def user_api(self, user: str, method: str, path: str, **kw):
        return self.request(method, f"/user/{user}/{path}", token=self.user_token(user), **kw)

    def assignment(self, user: str, action: str, lesson: str, course: str = "dl-side-by-side") -> dict:
        """What the Assignment List's Fetch / Submit / Fetch Feedback buttons post."""
        status, body = self.user_api(user, "POST", f"assignments/{action}",
                                     form={"course_id": course, "assignment_id": lesson})
        assert status == 200, (status, body[-2000:])
        return json.loads(body)

    def assignments(self, user: str, course: str = "dl-side-by-side") -> dict:
        status, body = self.user_api(user, "GET", f"assignments?course_id={course}")
        assert status == 200, (status, body[-2000:])
        return json.loads(body)

    # ------------------------------------------------------------------ kernels

    def run_in_kernel(self, user: str, code: str, timeout: float = 120) -> str:
        """Run ``code`` in a fresh kernel of ``user``'s server (over its websocket); returns stdout."""
        import websocket  # websocket-client, a jupyter_server dependency

        status, body = self.user_api(user, "POST", "api/kernels", json_body={"name": "python3"})
        assert status == 201, (status, body)
        kid = json.loads(body)["id"]
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{self.port}/user/{user}/api/kernels/{kid}/channels",
            header=[f"Authorization: token {self.user_token(user)}"], timeout=timeout)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({"header": {"msg_id": msg_id, "username": user, "session": uuid.uuid4().hex,
                                           "msg_type": "execute_request", "version": "5.3"},
                                "parent_header": {}, "metadata": {}, "channel": "shell",
                                "content": {"code": code, "silent": False, "store_history": False,
                                            "user_expressions": {}, "allow_stdin": False}}))
            out, deadline = [], time.time() + timeout
            while time.time() < deadline:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    out.append("\n".join(msg["content"]["traceback"]))
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    break
            return "".join(out)
        finally:
            ws.close()
            self.user_api(user, "DELETE", f"api/kernels/{kid}")


@contextmanager
def published_hub(lesson: str, students: list[str], instructors: list[str], prefix: str, log: Path,
                  log_lines: int = 200):
    """A started :class:`TestHub` with ``lesson`` published; removed at the end, its log's tail kept in ``log``."""
    # not under pytest's tmp_path: /tmp/pytest-of-root is 0700, and the students' servers run from here
    h = TestHub(Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp")), students=students, instructors=instructors)
    try:
        remove_users(students + instructors)   # leftovers of an interrupted run
        h.setup()
        h.cli("grading.exchange", "publish", lesson, timeout=600)
        h.start()
        yield h
    finally:
        tail = h.log_tail(log_lines)
        h.close()
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(tail)
        shutil.rmtree(h.tmp, ignore_errors=True)
