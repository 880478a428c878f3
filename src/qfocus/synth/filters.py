"""InstructDS's query filter (DESIGN §13): the rules that drop a generated question, each with its
reason, so that a run can say how many questions each rule took.

Rules, cheapest first: the text is not a question; it leaks the answer (copies a run of the
anchoring summary's words); it nearly repeats a question already kept for the same document
(word-set Jaccard); the teacher cannot answer it from the summary (its answer is empty, a refusal,
or not made of the summary's words). Only the last needs a teacher call.
"""

from __future__ import annotations

import re

NOT_A_QUESTION, LEAKS, DUPLICATE, UNANSWERABLE, EMPTY_SUMMARY = (
    "not a question", "leaks the answer", "near duplicate", "unanswerable from the summary", "empty summary")
REASONS = (NOT_A_QUESTION, LEAKS, DUPLICATE, UNANSWERABLE, EMPTY_SUMMARY)

LEAK_RUN = 8  # a question that repeats this many consecutive words of the summary hands over the answer
DUPLICATE_JACCARD = 0.6  # word sets this similar ask the same thing
GROUNDED = 0.5  # share of the answer's content words that must come from the summary
MIN_WORDS, MAX_WORDS = 3, 40
REFUSAL = "not answered"  # what the check's prompt asks the teacher to write when it cannot answer

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_NUMBERING = re.compile(r"^\s*(?:[-*\u2022]|\(?\d+[.):]|q\d*[.:]|question\s*\d*[.:])\s*", re.IGNORECASE)
_ASKING = ("what", "why", "how", "who", "whom", "whose", "which", "when", "where", "did", "does", "do", "is", "are",
           "was", "were", "can", "could", "should", "would", "will", "summarize", "summarise", "describe", "explain",
           "discuss", "list", "give", "identify", "outline")
_STOP = frozenset("a an the of to in on for and or but is are was were be been it its this that these those with as at by "
                  "from about what why how who which when where did does do so if not no they them their he she his her "
                  "we our you your i me my".split())


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP}


def parse_questions(text: str) -> list[str]:
    """The questions of a generated list: one per non-blank line, numbering and bullets removed."""
    lines = (_NUMBERING.sub("", line).strip().strip('"').strip() for line in text.splitlines())
    return [line for line in lines if line]


def is_question(text: str) -> bool:
    """A question or a summarisation request of sensible length (ends with ?, or opens with an asking word)."""
    found = words(text)
    if not MIN_WORDS <= len(found) <= MAX_WORDS:
        return False
    return text.rstrip().endswith("?") or found[0] in _ASKING


def longest_shared_run(a: str, b: str) -> int:
    """Length in words of the longest run of consecutive words `a` and `b` share."""
    x, y = words(a), words(b)
    best, previous = 0, [0] * (len(y) + 1)
    for i in range(1, len(x) + 1):
        current = [0] * (len(y) + 1)
        for j in range(1, len(y) + 1):
            if x[i - 1] == y[j - 1]:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def leaks(question: str, summary: str) -> bool:
    return longest_shared_run(question, summary) >= LEAK_RUN


def jaccard(a: str, b: str) -> float:
    x, y = set(words(a)), set(words(b))
    return len(x & y) / len(x | y) if x | y else 1.0


def near_duplicate(question: str, kept: list[str]) -> bool:
    return any(jaccard(question, other) >= DUPLICATE_JACCARD for other in kept)


def answerable(answer: str, summary: str) -> bool:
    """Whether the teacher's answer from the summary is an answer: not empty, not the refusal, and
    mostly made of the summary's content words."""
    said = content(answer)
    if not said or REFUSAL in " ".join(words(answer)):
        return False
    return len(said & content(summary)) / len(said) >= GROUNDED


def precheck(question: str, summary: str, kept: list[str]) -> str | None:
    """The reason to drop `question` without asking the teacher, or None."""
    if not is_question(question):
        return NOT_A_QUESTION
    if leaks(question, summary):
        return LEAKS
    if near_duplicate(question, kept):
        return DUPLICATE
    return None
