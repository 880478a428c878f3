"""`qfocus serve`: the HTTP service and web page over one loaded model (DESIGN.md §12).

    from qfocus.service import ServeConfig, create_app
    app = create_app(ServeConfig(model="smollm2"))   # any ASGI server: uvicorn.run(app)
"""

from qfocus.service.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def create_app(config: ServeConfig, load=None):
    """The FastAPI app (imported on first use, so that `qfocus --help` stays free of torch)."""
    from qfocus.service.app import create_app as _create

    return _create(config, load)
