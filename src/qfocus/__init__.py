"""qfocus: query-focused summaries of documents far longer than an LLM's context window.

>>> import qfocus
>>> lm = qfocus.load_model("smollm2")
>>> result = qfocus.summarize(open("meeting.md").read(), "What was decided?", lm)
>>> print(result.summary)
"""

from __future__ import annotations

from qfocus.config import GenerationConfig, SummarizeConfig
from qfocus.errors import DocumentTooLong, InputError, ModelNotAvailable, QfocusError

__version__ = "0.1.0"

__all__ = [
    "DocumentTooLong", "GenerationConfig", "InputError", "ModelNotAvailable", "QfocusError",
    "SummarizeConfig", "load_model", "summarize",
]


def load_model(name_or_path: str = "smollm2", adapter: str | None = "default", **kwargs):
    """Load an embedded model by name or a local checkpoint by path (see `qfocus.models.load_model`).

    `adapter`: default attaches the adapter shipped for an embedded model (`qfocus.shipped`), none or
    None loads the model alone (zero-shot), a folder attaches that adapter.
    """
    from qfocus.models import load_model as _load
    from qfocus.shipped import resolve_adapter

    return _load(name_or_path, adapter=resolve_adapter(adapter, name_or_path), **kwargs)


def summarize(document: str, query: str, model="smollm2", strategy: str | None = None,
              config: SummarizeConfig | None = None, callbacks=None):
    """Answer `query` about `document`; `model` is a name, a path or a `LoadedModel`."""
    from qfocus.models import LoadedModel
    from qfocus.strategies import get_strategy

    config = config or SummarizeConfig()
    chosen = get_strategy(strategy or config.strategy, config)
    if not isinstance(model, LoadedModel):
        model = load_model(model, dtype=config.dtype, adapter=chosen.adapter_folder(),
                           decode_weights=config.decode_weights)
    return chosen.summarize(model, document, query, callbacks)
