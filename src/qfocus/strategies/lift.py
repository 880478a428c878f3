"""`lift`: fine-tune the document into the model, then answer from its head and tail (LIFT, DESIGN §10).

The document is cut into overlapping segments (a quarter of the window, a new one every 3/8 of a
segment), each optionally preceded by head/tail context and a recite instruction; an adapter (LoRA
or Gated Memory, `qfocus.lift`) is trained on them with the language-model loss, and the answer is
decoded from the `truncate` prompt with the adapted weights. The weights are cached per (document,
model, settings), so later queries about the same document answer at once; `qfocus cache list`
shows the entries, `qfocus cache clear` frees them. A static HyperExpert (`--adapter` trained with
`--method lora|padapter|prompt`) stays attached: LIFT adapts on top of it and the answer uses both.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict

from qfocus.documents import check_query, check_text
from qfocus.errors import InputError
from qfocus.generation import Callbacks, generate
from qfocus.hyper.expert import model_identity
from qfocus.lift import cache
from qfocus.lift.adapt import Adapted, adapt
from qfocus.lift.adapters import attach_lift
from qfocus.lift.qa import qa_samples, write_pairs
from qfocus.lift.segments import RECITE, training_samples
from qfocus.models import LoadedModel
from qfocus.prompts import ELISION, PromptBuilder
from qfocus.strategies.base import Strategy, Summary, refuse_memory_adapter, register
from qfocus.strategies.truncate import Truncate


QA_SPAN = 256  # tokens of each passage the model writes a QA pair about


@register
class Lift(Strategy):
    name = "lift"
    description = "fine-tune an adapter on the document (cached per document), then answer from its head and tail"

    def check_adapter(self, hyper: dict | None) -> None:
        refuse_memory_adapter(self.name, hyper)
        if hyper is not None and hyper["method"].startswith("ideal-"):
            raise InputError(f"--strategy lift adapts weights to the document, but the adapter ({hyper['method']}) "
                             "generates weights from each query: use a static adapter (--method lora) or none")
        if hyper is not None and hyper["method"].endswith("prompt") and self.config.lift.lift_adapter == "gated":
            raise InputError("--lift-adapter gated wraps attention, which a prompt adapter already wraps: "
                             "use --lift-adapter lora with it")

    def shapes(self, lm: LoadedModel) -> tuple[int, int, int]:
        """(segment tokens, stride, context tokens) for this window."""
        config, window = self.config.lift, self.window(lm)
        segment = config.lift_segment or max(16, window // 4)
        context = config.lift_context
        if segment + context > window:
            raise InputError(f"--lift-segment {segment} plus {context} tokens of context exceed the {window}-token "
                             "window: pass a smaller --lift-segment or --lift-context")
        return segment, max(1, round(segment * config.lift_stride)), context

    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        start = time.perf_counter()
        check_text(document)
        query = check_query(query)
        self.adapter_of(lm)
        prompt = Truncate(self.config).prepare(lm, document, query)
        key, entry, hit = self.weights(lm, document, callbacks)
        adapter = attach_lift(lm.model, self.config.lift)
        try:
            adapter.load(entry.tensors)
            answer = generate(lm, prompt.input_ids, self.config.generation, callbacks, prompt.query_mask)
        finally:
            adapter.detach()
        training = {name: entry.meta.get(name) for name in ("steps", "planned", "loss_start", "loss_end", "seconds", "qa_pairs")}
        return Summary(summary=answer.text, strategy=self.name, model=lm.name, prompt_tokens=len(prompt),
                       document_tokens=prompt.document_tokens, truncated_tokens=prompt.truncated_tokens,
                       answer_tokens=answer.new_tokens, seconds=round(time.perf_counter() - start, 3),
                       training={**training, "cached": hit, "key": key})

    def weights(self, lm: LoadedModel, document: str, callbacks: Callbacks | None) -> tuple[str, cache.Entry, bool]:
        """(cache key, the adapted weights with their record, whether they came from the cache)."""
        builder = PromptBuilder(lm.tokenizer)
        document_ids = builder.encode(document)
        key = cache.cache_key(self.cache_parts(lm, document_ids))
        entry = cache.load(key)
        if entry is not None:
            return key, entry, True
        adapted, pairs, qa_seconds = self.adapt(lm, document_ids, builder, callbacks)
        meta = {**self.meta(lm, document_ids, adapted), "qa_pairs": pairs,
                "seconds": round(adapted.seconds + qa_seconds, 3), "qa_seconds": round(qa_seconds, 3)}
        cache.store(key, adapted.tensors, meta)
        return key, cache.Entry(adapted.tensors, meta), False

    def adapt(self, lm: LoadedModel, document_ids: list[int], builder: PromptBuilder,
              callbacks: Callbacks | None) -> tuple[Adapted, int, float]:
        """The adaptation, the auxiliary QA pairs trained on, and the seconds spent writing them."""
        config = self.config.lift
        segment, stride, context = self.shapes(lm)
        rng = random.Random(config.lift_seed)
        samples = training_samples(document_ids, segment, stride, context=context, elision=builder.encode(ELISION),
                                   instruction=builder.encode(RECITE), rng=rng)
        start, pairs = time.perf_counter(), []
        if config.lift_qa:
            if callbacks is not None and callbacks.on_progress is not None:
                callbacks.on_progress("writing QA pairs", 0, config.lift_qa)
            pairs = write_pairs(lm, document_ids, config.lift_qa, QA_SPAN, rng, self.config.generation)
            samples += qa_samples(builder, pairs, document_ids, self.window(lm), lm.tokenizer.eos_token_id)
        qa_seconds = time.perf_counter() - start
        on_step = callbacks.on_step if callbacks is not None else None
        return adapt(lm.model, samples, config, on_step), len(pairs), qa_seconds

    def cache_parts(self, lm: LoadedModel, document_ids: list[int]) -> dict:
        """Everything the adapted weights depend on."""
        expert = None
        if lm.expert is not None:
            weights = lm.expert.named_adapter_parameters().values()
            expert = {"config": lm.expert.config.to_dict(),
                      "checksum": round(sum(float(p.detach().double().abs().sum()) for p in weights), 6)}
        return {"document": cache.document_digest(document_ids), "model": model_identity(lm.model),
                "dtype": str(next(lm.model.parameters()).dtype), "window": self.window(lm),
                "lift": asdict(self.config.lift), "expert": expert}

    def meta(self, lm: LoadedModel, document_ids: list[int], adapted: Adapted) -> dict:
        return {"model": lm.name, "document_tokens": len(document_ids), "settings": asdict(self.config.lift),
                "steps": adapted.steps, "planned": adapted.planned, "losses": [round(x, 4) for x in adapted.losses],
                "loss_start": round(adapted.loss_start, 4), "loss_end": round(adapted.loss_end, 4),
                "seconds": round(adapted.seconds, 3)}
