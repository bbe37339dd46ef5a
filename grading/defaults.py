"""The one default per grading limit (``grade``, ``doctor``, the CLI's help and the README use these)."""
DEFAULT_CELL_TIMEOUT = 180.0      # seconds of wall time for one cell
DEFAULT_NOTEBOOK_TIMEOUT = 900.0  # seconds of wall time for the whole notebook
DEFAULT_MEMORY_GIB = 4.0          # per kernel
