"""The query-focused prompt: query, document, query again, then the answer cue (DESIGN §3).

The reference (IDEAL, Alpaca style) puts the instruction before the document and repeats it after
the document; with an instruction-tuned model we keep that structure inside its chat template.
The prompt is assembled from separately tokenised pieces:

    [prefix][query][middle][document][suffix]

so counting is exact (the prompt is the concatenation of those ids, no re-tokenisation), the
document can be shortened by ids alone, and the first query's span is known exactly; it is
returned as `query_mask` for methods that encode the query (the HyperExpert reads it).
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

INSTRUCTION = "Read the document and answer the query about it in a few sentences."
ANSWER_CUE = "Answer the query using only the document."

# Sentinels that no template or tokenizer alters; the rendered text is split at them.
_QUERY = "\u2063QFOCUS-QUERY\u2063"
_DOCUMENT = "\u2063QFOCUS-DOCUMENT\u2063"


@dataclass(frozen=True)
class Prompt:
    """Token ids of one prompt and what they contain."""

    input_ids: list[int]
    query_mask: list[bool]  # True on the tokens of the query's first occurrence (before the document)
    document_tokens: int  # tokens of the whole document
    kept_document_tokens: int  # tokens of the document actually in the prompt (marker included)

    @property
    def truncated_tokens(self) -> int:
        return max(0, self.document_tokens - self.kept_document_tokens)

    def __len__(self) -> int:
        return len(self.input_ids)


def user_message(query: str, document: str) -> str:
    """The user turn: instruction, query, document, repeated query, answer cue."""
    return f"{INSTRUCTION}\n\nQuery:\n{query}\n\nDocument:\n{document}\n\nQuery:\n{query}\n\n{ANSWER_CUE}"


class PromptBuilder:
    """Builds `Prompt`s for one tokenizer, through its chat template when it has one."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.tokenizer = tokenizer
        self._bos = self._leading_bos(tokenizer)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` with no special tokens added (a template's own specials still parse)."""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def pieces(self, query: str) -> tuple[list[int], list[int], list[int], list[int]]:
        """(prefix, query, middle, suffix) ids; the document goes between middle and suffix."""
        text = self._render(user_message(_QUERY, _DOCUMENT))
        before_query, rest = text.split(_QUERY, 1)
        middle, rest = rest.split(_DOCUMENT, 1)
        suffix = rest.replace(_QUERY, query)
        prefix = self._bos + self.encode(before_query)
        return prefix, self.encode(query), self.encode(middle), self.encode(suffix)

    def overhead(self, query: str) -> int:
        """Prompt tokens that are not the document."""
        return sum(len(piece) for piece in self.pieces(query))

    def build(self, query: str, document_ids: list[int], document_tokens: int | None = None) -> Prompt:
        """Assemble the prompt around `document_ids` (already shortened if it had to be)."""
        prefix, query_ids, middle, suffix = self.pieces(query)
        ids = prefix + query_ids + middle + list(document_ids) + suffix
        mask = [False] * len(prefix) + [True] * len(query_ids) + [False] * (len(ids) - len(prefix) - len(query_ids))
        total = len(document_ids) if document_tokens is None else document_tokens
        return Prompt(ids, mask, document_tokens=total, kept_document_tokens=len(document_ids))

    def instruction(self, message: str, query: str) -> Prompt:
        """A prompt of one user turn, `message` with the query in place of its one `{query}` (no document)."""
        before, after = self._render(message.replace("{query}", _QUERY, 1)).split(_QUERY, 1)
        prefix, query_ids, suffix = self._bos + self.encode(before), self.encode(query), self.encode(after)
        mask = [False] * len(prefix) + [True] * len(query_ids) + [False] * len(suffix)
        return Prompt(prefix + query_ids + suffix, mask, document_tokens=0, kept_document_tokens=0)

    def _render(self, message: str) -> str:
        if self.tokenizer.chat_template:
            messages = [{"role": "user", "content": message}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{message}\n\nAnswer:\n"

    @staticmethod
    def _leading_bos(tokenizer: PreTrainedTokenizerBase) -> list[int]:
        """[bos] when the tokenizer would add one to plain text and a template does not write it."""
        bos = tokenizer.bos_token_id
        if bos is None:
            return []
        added = tokenizer("a", add_special_tokens=True)["input_ids"]
        if not added or added[0] != bos:
            return []
        template = tokenizer.chat_template or ""
        return [] if (tokenizer.bos_token or "\0") in template or "bos_token" in template else [bos]
