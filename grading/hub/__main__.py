"""python -m grading.hub setup|start|remove-users (see grading/hub/README.md)."""
from __future__ import annotations

import argparse
import os
import sys

from . import HERE, REPO, State, HubError, chp_command, remove_users, setup


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grading.hub", description="The class hub on one server.")
    p.add_argument("--state", help="state folder (default $HUB_STATE or /srv/dl-side-by-side)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup", help="create the accounts (roster + instructors), the exchange and course folders")
    s.add_argument("--roster", required=True, help="CSV: id,name (one student per line)")
    s.add_argument("--instructors", required=True, help="comma-separated instructor account names")
    s.add_argument("--no-lock", action="store_true", help="do not close solutions/ etc. of this repository")
    sub.add_parser("start", help="run JupyterHub in the foreground (HUB_IP, HUB_PORT)")
    sub.add_parser("remove-users", help="delete every class account and its home (the state folder stays)")
    a = p.parse_args(argv)
    if a.state:
        os.environ["HUB_STATE"] = a.state
    st = State(a.state)
    if a.cmd == "setup":
        r = setup(a.roster, a.instructors.split(","), a.state, lock=not a.no_lock)
        print(f"class hub state: {r['state']}")
        print(f"  {r['students']} students, instructors: {', '.join(r['instructors'])}; new accounts: "
              f"{len(r['created'])}")
        print(f"  initial passwords (give each person theirs): {r['passwords']}")
        if r["locked"]:
            print(f"  closed to students in {REPO}: {', '.join(r['locked'])}")
    elif a.cmd == "start":
        if os.geteuid() != 0:
            raise HubError("the hub starts each user's server as that user: run it as root")
        st.load_class()
        chp_command()
        os.chdir(st.hub)
        cmd = [sys.executable, "-m", "jupyterhub", "-f", str(HERE / "jupyterhub_config.py")]
        ip, port = os.environ.get("HUB_IP", "127.0.0.1"), os.environ.get("HUB_PORT", "8000")
        print(f"JupyterHub for the class on http://{ip}:{port}/ (state in {st.root}; Ctrl-C stops it)", flush=True)
        os.execv(sys.executable, cmd)
    elif a.cmd == "remove-users":
        info = st.load_class()
        names = [s["id"] for s in info["students"]] + info["instructors"]
        remove_users(names)
        print(f"removed {len(names)} accounts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
