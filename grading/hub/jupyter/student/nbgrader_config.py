"""nbgrader for a student's server on the class hub: the class exchange, nothing of the instructor's.

Students never load grading/nbgrader_config.py (the instructor's course directory and grader).
"""
import os

c = get_config()  # noqa: F821

c.CourseDirectory.course_id = os.environ.get("DLSBS_COURSE_ID", "dl-side-by-side")
c.Exchange.root = os.environ.get("DLSBS_EXCHANGE_ROOT", "/srv/dl-side-by-side/exchange")
c.Exchange.path_includes_course = True
# fetched lessons go to the student's home: ~/01_intro_to_deep_learning/...
c.Exchange.assignment_dir = os.path.expanduser("~")
