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


def read_qmsum(path: str | Path) -> Iterator[Example]:
    """Examples of one QMSum split file (e.g. `qmsum/val.jsonl`), general queries first per meeting."""
    for number, meeting in read_jsonl(path):
        where = f"{path}:{number}"
        document = format_transcript(require(meeting, "meeting_transcripts", where), where)
        for kind in ("general", "specific"):
            for index, item in enumerate(require(meeting, f"{kind}_query_list", where)):
                yield Example(
                    id=f"{Path(path).stem}-{number}-{kind}-{index}",
                    query=require(item, "query", where).strip(),
                    document=document,
                    references=(require(item, "answer", where).strip(),),
                )
