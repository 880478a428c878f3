"""`route`: Hybrid LLM routing (DESIGN §13). A router trained with `qfocus route fit` predicts how
much the large configuration would gain on this (query, document); at or above the threshold that
sends `--route-share` of its training queries there, the large one answers, else the small one.

The two configurations are strategy specs (`truncate:adapter=none`, `retrieve`, ...) on the same
model; one whose adapter differs from the loaded model's gets its own model load, once.
"""

from __future__ import annotations

from qfocus.documents import check_query, check_text
from qfocus.errors import InputError
from qfocus.generation import Callbacks
from qfocus.models import LoadedModel, load_for
from qfocus.strategies.base import Strategy, Summary, get_strategy, register, strategy_config


@register
class Route(Strategy):
    name = "route"
    retrieval_settings = ("*",)
    description = "a trained router sends each query to a small or a large configuration (Hybrid LLM; --router, --route-share)"

    def __init__(self, config=None):
        super().__init__(config)
        from qfocus.route.router import load_router

        if not self.config.route.router:
            raise InputError("route needs --router FILE: train one with `qfocus route fit` (see `qfocus route --help`)")
        self.router = load_router(self.config.route.router)
        self.threshold = self.router.threshold(self.config.route.route_share)
        self.choices = {}
        for size, spec in (("small", self.router.small), ("large", self.router.large)):
            settings = strategy_config(self.config, spec)
            if settings.strategy == self.name:
                raise InputError(f"the router's {size} configuration is itself route: name another strategy")
            self.choices[size] = (spec, get_strategy(settings.strategy, settings))
        self._models: dict[str | None, LoadedModel] = {}

    def adapter_folder(self) -> str | None:
        return self.choices["large"][1].adapter_folder()

    def check_adapter(self, hyper: dict | None) -> None:
        """Each configuration checks its own adapter."""

    def choose(self, document: str, query: str) -> tuple[str, float]:
        """('small' or 'large', the predicted gain) for this pair."""
        from qfocus.route.features import features

        gain = float(self.router.predict(features(query, document, self.router.embedding))[0])
        return ("large" if gain >= self.threshold else "small"), gain

    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        check_text(document)
        query = check_query(query)
        size, gain = self.choose(document, query)
        spec, strategy = self.choices[size]
        summary = strategy.summarize(self._model(lm, strategy), document, query, callbacks)
        summary.strategy = self.name
        finite = abs(self.threshold) != float("inf")  # shares 0 and 1: no threshold (JSON has no infinity)
        summary.routed = {"to": size, "spec": spec, "predicted_gain": round(gain, 3),
                          "threshold": round(self.threshold, 3) if finite else None}
        return summary

    def _model(self, lm: LoadedModel, strategy: Strategy) -> LoadedModel:
        folder = strategy.adapter_folder()
        if folder == self.adapter_folder():
            return lm
        if folder not in self._models:
            self._models[folder] = load_for(self.config, folder)
        return self._models[folder]
