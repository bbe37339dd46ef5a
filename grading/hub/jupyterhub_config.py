"""JupyterHub configuration for the class (started by `make hub` / `python -m grading.hub start`).

Environment (all optional): HUB_STATE (state folder, default /srv/dl-side-by-side), HUB_IP (default
127.0.0.1: reachable from this machine only; put a TLS reverse proxy in front, or HUB_IP=0.0.0.0
with https), HUB_PORT (8000), HUB_API_PORT (8081; the proxy's API uses HUB_API_PORT+1).
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from grading import hub  # noqa: E402

c = get_config()  # noqa: F821 - provided by JupyterHub

st = hub.State()
info = st.load_class()
students = {s["id"] for s in info["students"]}
instructors = set(info["instructors"])
ip = os.environ.get("HUB_IP", "127.0.0.1")
port = int(os.environ.get("HUB_PORT", "8000"))
api_port = int(os.environ.get("HUB_API_PORT", "8081"))

# ---- the hub, its database and secrets: under HUB_STATE/hub, so a restart keeps everything
c.JupyterHub.ip = ip
c.JupyterHub.port = port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = api_port
c.JupyterHub.db_url = f"sqlite:///{st.hub / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(st.hub / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(st.hub / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = hub.chp_command()
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{api_port + 1}"
c.ConfigurableHTTPProxy.pid_file = str(st.hub / "proxy.pid")
# servers keep running while the hub restarts; the hub finds them again in its database
c.JupyterHub.cleanup_servers = os.environ.get("HUB_CLEANUP_SERVERS", "0") == "1"
c.JupyterHub.cleanup_proxy = True

# ---- who may log in: the roster and the instructors, with their system passwords (PAM).
# `python -m grading.hub setup` gave each account a random password (HUB_STATE/hub/passwords.csv).
# For a real class use your institution's log-in instead (see grading/hub/README.md: OAuth, LTI).
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allowed_users = students | instructors
c.Authenticator.admin_users = instructors
c.Authenticator.delete_invalid_users = True

# ---- each user's server runs as that system user (LocalProcessSpawner), in the course environment
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(hub.HERE / "singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 180
c.Spawner.start_timeout = 180
python = info["python"]
venv_bin = str(Path(python).parent)


def role_environment(spawner):
    """Students: their home, the student config (no instructor tools). Instructors: the course dir."""
    name = spawner.user.name
    common = str(hub.JUPYTER_DIR / "common")
    env = {
        "PATH": f"{venv_bin}:{hub.VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "DLSBS_PYTHON": python,
        # the copied interpreter's libpython (its RPATH points into the closed original)
        **({"LD_LIBRARY_PATH": str(st.root / "python" / "lib")} if (st.root / "python" / "lib").is_dir() else {}),
        "DLSBS_VENV": str(hub.VENV),
        "DLSBS_EXCHANGE_ROOT": str(st.exchange),
        "DLSBS_COURSE_ID": hub.COURSE_ID,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    if name in instructors:
        env.update({
            "JUPYTER_CONFIG_PATH": os.pathsep.join([str(hub.JUPYTER_DIR / "instructor"),
                                                    str(hub.REPO / "grading"), common]),
            "DLSBS_COURSE_ROOT": str(st.course),
            "DLSBS_UMASK": "007",
        })
        spawner.notebook_dir = str(st.course)
    else:
        env.update({
            "JUPYTER_CONFIG_PATH": os.pathsep.join([str(hub.JUPYTER_DIR / "student"), common]),
            "DLSBS_UMASK": "077",
        })
        spawner.notebook_dir = "~"
    # a new dict per spawner: the configured one is shared by every user's spawner
    spawner.environment = {**spawner.environment, **env}


c.Spawner.pre_spawn_hook = role_environment
c.Spawner.env_keep = []           # nothing of the hub's (root's) environment leaks into a user's server

services = []
# ---- an API token for scripts (the tests use it): only if HUB_API_TOKEN is set
if os.environ.get("HUB_API_TOKEN"):
    services.append({"name": "course-admin", "api_token": os.environ["HUB_API_TOKEN"]})
    c.JupyterHub.load_roles = [{"name": "course-admin", "services": ["course-admin"],
                                "scopes": ["admin:users", "admin:servers", "tokens", "access:servers",
                                           "list:users", "read:users"]}]

# ---- the exchange guard: a hub-managed service (root) that makes each new inbound submission
# readable by its owner and the instructors only (nbgrader leaves it world-readable by name).
guard = {
    "name": "exchange-guard",
    "command": [sys.executable, "-m", "grading.exchange", "guard", "--interval", "1"],
    "cwd": str(hub.REPO),
    "environment": {"HUB_STATE": str(st.root), "PYTHONPATH": str(hub.REPO)},
}
# HUB_EXCHANGE_GUARD=0 only where the guard runs elsewhere (e.g. its own pod on Kubernetes)
if os.environ.get("HUB_EXCHANGE_GUARD", "1") != "0":
    services.append(guard)
c.JupyterHub.services = services
