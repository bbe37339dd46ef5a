"""nbgrader for an instructor's server on the class hub (loaded before grading/nbgrader_config.py).

The course directory is the hub's (DLSBS_COURSE_ROOT, read by grading/nbgrader_config.py); only the
exchange moves to the hub's shared one.
"""
import os

c = get_config()  # noqa: F821

c.Exchange.root = os.environ.get("DLSBS_EXCHANGE_ROOT", "/srv/dl-side-by-side/exchange")
c.Exchange.path_includes_course = True
