"""Instructor tooling: nbgrader configuration and the course's release/grading commands."""
