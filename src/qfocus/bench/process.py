"""Run a command in a child process and measure it as a user would see it: wall time and peak RSS."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass
class Child:
    returncode: int
    wall_s: float
    peak_rss_mb: float  # the child's own ru_maxrss; start children from a small parent (a fork inherits its RSS)
    stdout: str
    stderr: str


def run_child(command: list[str]) -> Child:
    """Run `command` to completion; output goes through temporary files so no pipe can fill up."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, ru_maxrss in KiB on Linux
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        return Child(process.returncode, wall, usage.ru_maxrss / 1024, out.read(), err.read())
