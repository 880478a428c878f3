"""CovidET (Zhan et al., 2022): Reddit posts and emotion-trigger summaries, the emotion as the query.

A JSON object keyed by index; each value has `Reddit Post` and `Annotations: {annotator:
[{Emotion, Abstractive}]}`. Items whose emotion is "NA" carry no summary and are skipped. One
example per (post, emotion), with the summaries of every annotator who chose that emotion as its
references (DESIGN §3: the query is "Write a summary from the {emotion} perspective").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from qfocus.data.example import Example, require
from qfocus.errors import InputError


def covidet_query(emotion: str) -> str:
    return f"Write a summary from the {emotion} perspective"


def read_covidet(path: str | Path) -> Iterator[Example]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file: pass the folder holding the dataset's files")
    try:
        posts = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    for key, post in posts.items():
        where = f"{path}: post {key}"
        by_emotion: dict[str, list[str]] = {}
        for items in require(post, "Annotations", where).values():
            for item in items:
                emotion = require(item, "Emotion", where).strip()
                if emotion.upper() == "NA":
                    continue
                by_emotion.setdefault(emotion, []).append(require(item, "Abstractive", where).strip())
        for emotion, summaries in by_emotion.items():
            yield Example(id=f"{path.stem}-{key}-{emotion}", query=covidet_query(emotion),
                          document=require(post, "Reddit Post", where).strip(), references=tuple(summaries))
