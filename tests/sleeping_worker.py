"""A benchmark worker that never answers: tests/test_worker_process.py runs it as `python -m`."""

import time

time.sleep(120)
