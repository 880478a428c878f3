"""QMSum (Zhong et al., 2021): meeting transcripts with general and specific queries.

One JSON object per meeting: `meeting_transcripts: [{speaker, content}]`, `general_query_list` and
`specific_query_list` of `{query, answer}`. Every (meeting, query) pair is one example. The
transcript becomes "speaker: utterance" turns with noise tags such as `{vocalsound}` removed
(DESIGN §3).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from qfocus.data.example import Example, read_jsonl, require
from qfocus.errors import InputError

_NOISE = re.compile(r"\{\s*\w+\s*\}")
_SPACES = re.compile(r"\s+")


def clean_utterance(text: str) -> str:
    """Drop noise tags ({vocalsound}, {disfmarker}, ...) and collapse whitespace."""
    return _SPACES.sub(" ", _NOISE.sub(" ", text)).strip()


def format_transcript(turns: list[dict], where: str = "transcript") -> str:
    """'speaker: utterance' lines, skipping turns left empty by cleaning."""
    lines = []
    for turn in turns:
        content = clean_utterance(require(turn, "content", where))
        if content:
            lines.append(f"{require(turn, 'speaker', where)}: {content}")
    return "\n".join(lines)


def read_qmsum(path: str | Path, gold_spans: bool = False) -> Iterator[Example]:
    """Examples of one QMSum split file (e.g. `qmsum/val.jsonl`), general queries first per meeting.

    `gold_spans=True` gives the reference's short-input variant: a specific query's document is
    only the turns in its `relevant_text_span` ranges (inclusive turn indices); general queries keep
    the whole meeting.
    """
    for number, meeting in read_jsonl(path):
        where = f"{path}:{number}"
        turns = require(meeting, "meeting_transcripts", where)
        document = format_transcript(turns, where)
        for kind in ("general", "specific"):
            for index, item in enumerate(require(meeting, f"{kind}_query_list", where)):
                text = document
                if gold_spans and kind == "specific":
                    text = format_transcript(_span_turns(turns, require(item, "relevant_text_span", where), where), where)
                yield Example(
                    id=f"{Path(path).stem}-{number}-{kind}-{index}",
                    query=require(item, "query", where).strip(),
                    document=text,
                    references=(require(item, "answer", where).strip(),),
                )


def _span_turns(turns: list[dict], spans: list, where: str) -> list[dict]:
    selected = []
    for span in spans:
        try:
            start, end = int(span[0]), int(span[1])
        except (TypeError, ValueError, IndexError):
            raise InputError(f"{where}: field 'relevant_text_span' holds {span!r}, not a [start, end] pair") from None
        selected.extend(turns[start : end + 1])
    return selected
