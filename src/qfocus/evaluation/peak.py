"""Peak resident memory of this process while a block runs (sampled from /proc every 20 ms).

`resource.getrusage` only knows the process's lifetime peak; comparing strategies in one process
needs the peak of each one's own stretch. Where /proc is missing, the lifetime peak is reported.
"""

from __future__ import annotations

import resource
import threading
from pathlib import Path

_STATM = Path("/proc/self/statm")
_PAGE = resource.getpagesize()


def rss_mb() -> float:
    """Resident memory now, in MB (the lifetime peak where /proc is missing)."""
    if _STATM.is_file():
        return int(_STATM.read_text().split()[1]) * _PAGE / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRSS:
    """with PeakRSS() as peak: ...;  peak.mb is the highest RSS seen inside the block."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.mb = interval, 0.0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.mb = rss_mb()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.mb = max(self.mb, rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.mb = round(max(self.mb, rss_mb()), 1)
