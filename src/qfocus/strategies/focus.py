"""`focus`: FocusLLM's parallel decoding over chunks with candidate tokens (DESIGN.md §11).

The prompt (query, whole document, query again) is cut: its last `--focus-local` tokens are the
local context; the earlier ones are chunks of `--focus-chunk` tokens, each followed by the last
min(`--focus-prompt`, chunk, local) local tokens whose last is the chunk's candidate token, read
with the candidate's own q/k/v/o projections. The local context attends to every chunk's candidate
key/value, then to itself. Chunks are read `--focus-batch` at a time, so time grows linearly with
the document; `--focus-decode` chooses what each answer token costs (the chunks' caches kept,
every chunk read again, or the candidates frozen). Untrained, the candidate projections are the
model's own; `--focus-weights` loads trained ones. Reads on the base model: no HyperExpert adapter.
"""

from __future__ import annotations

import time

from qfocus.documents import check_query, check_text
from qfocus.errors import InputError
from qfocus.generation import Callbacks, generate, generate_with_focus
from qfocus.models import LoadedModel
from qfocus.prompts import PromptBuilder
from qfocus.strategies.base import Strategy, Summary, register


@register
class Focus(Strategy):
    name = "focus"
    description = "FocusLLM: chunks decoded in parallel, each with a candidate token the local context reads"

    def check_adapter(self, hyper: dict | None) -> None:
        if hyper is not None:
            raise InputError("--strategy focus reads with the base model and its candidate projections "
                             "(--focus-weights): pass --adapter none")

    def local(self, lm: LoadedModel) -> int:
        """Tokens of local context: --focus-local, else the window minus the answer."""
        return self.config.focus.focus_local or max(2, self.window(lm) - self.config.generation.max_new_tokens)

    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        from qfocus.focus import attach_focus

        start = time.perf_counter()
        self.adapter_of(lm)
        check_text(document)
        builder = PromptBuilder(lm.tokenizer)
        prompt = builder.build(check_query(query), builder.encode(document))
        focus, local = self.config.focus, self.local(lm)
        if len(prompt) <= local:  # it all fits: the model itself
            answer = generate(lm, prompt.input_ids, self.config.generation, callbacks, prompt.query_mask)
        else:
            handle = attach_focus(lm.model)
            try:
                if focus.focus_weights:
                    handle.load(focus.focus_weights)
                answer = generate_with_focus(lm, handle, prompt.input_ids, local, focus.focus_chunk, focus.focus_prompt,
                                             focus.focus_batch, self.config.generation, callbacks, focus.focus_decode)
            finally:
                handle.detach()
        return Summary(summary=answer.text, strategy=self.name, model=lm.name, prompt_tokens=len(prompt),
                       document_tokens=prompt.document_tokens, truncated_tokens=0, answer_tokens=answer.new_tokens,
                       seconds=round(time.perf_counter() - start, 3))
