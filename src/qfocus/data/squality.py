"""SQuALITY v1.3 (Wang et al., 2022): questions about Project Gutenberg stories, 4 references each.

One JSON object per story: `document`, `questions: [{question_text, question_number, responses:
[{response_text, ...}]}]`. Every (story, question) is one example with all its references; scoring
takes the best-matching reference, training uses each reference as its own target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from qfocus.data.example import Example, read_jsonl, require


def read_squality(path: str | Path) -> Iterator[Example]:
    for number, story in read_jsonl(path):
        where = f"{path}:{number}"
        document = require(story, "document", where).strip()
        for question in require(story, "questions", where):
            references = tuple(require(r, "response_text", where).strip() for r in require(question, "responses", where))
            yield Example(
                id=f"{Path(path).stem}-{number}-q{require(question, 'question_number', where)}",
                query=require(question, "question_text", where).strip(),
                document=document,
                references=references,
            )
