"""`qfocus serve`: the HTTP service and web page over one loaded model (DESIGN.md §12)."""

from qfocus.service.app import create_app
from qfocus.service.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]
