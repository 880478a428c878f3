"""qfocus.retrieval: passages tile the document, scorers find a planted passage, selection respects the
budget and document order, binary search and fusion equal naive loops."""

from __future__ import annotations

import numpy as np
import pytest

from qfocus.config import RetrievalConfig
from qfocus.retrieval import Query, document_index, gaps, score, select, split_passages, spread_order, tokenize
from qfocus.retrieval import binary
from qfocus.retrieval.fusion import reciprocal_rank_fusion
from qfocus.retrieval.select import MIN_PIECE, assemble

FILLER = [
    "Alice: I think the quarterly figures look fine and we can move on to the next item.",
    "Bob: Agreed, the marketing plan was covered last week in some detail by the team.",
    "Carol: Let us talk about the office move and the new desks for the design group.",
    "Dave: The printer on the second floor is broken again, somebody should call support.",
]
PLANTED = "Erin: The zebra vaccination programme will cost forty thousand euros, approved by the veterinary board."


def meeting(lines: int, planted_at: int | None = None) -> str:
    out = [FILLER[i % len(FILLER)] for i in range(lines)]
    if planted_at is not None:
        out[planted_at] = PLANTED
    return "\n".join(out)


@pytest.fixture(scope="module")
def tokenizer(tiny_lm):
    return tiny_lm.tokenizer


@pytest.mark.parametrize("size", [8, 40, 128])
def test_passages_tile_the_text_and_the_ids(tokenizer, size):
    long_line = " ".join(f"Sentence number {i} is here." for i in range(60)) + " " + "x" * 400
    text = "Intro line.\n\n" + meeting(30) + "\n" + long_line + "\nlast line without newline"
    doc = tokenize(tokenizer, text)
    passages = split_passages(doc, size)
    assert "".join(text[p.start : p.end] for p in passages) == text  # offsets round-trip
    assert passages[0].token_start == 0 and passages[-1].token_end == len(doc.ids)
    assert all(a.end == b.start and a.token_end == b.token_start for a, b in zip(passages, passages[1:]))
    assert [p.index for p in passages] == list(range(len(passages)))
    assert all(p.tokens <= size for p in passages)
    assert sum(p.tokens for p in passages) == len(doc.ids) == len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_passages_group_whole_lines(tokenizer):
    text = meeting(12)
    passages = split_passages(tokenize(tokenizer, text), 10_000)
    assert len(passages) == 1  # everything fits one group
    lines = split_passages(tokenize(tokenizer, text), 1)  # every line alone, then cut at tokens
    assert all(text[p.start : p.end].count("\n") <= 1 for p in lines)


@pytest.mark.parametrize("scorer", ["bm25", "dense", "hybrid"])
def test_scorers_put_the_planted_passage_first(tokenizer, scorer):
    text = meeting(80, planted_at=53)
    index = document_index(tokenizer, text, 150)  # the tiny tokenizer spends ~1 token per 2 characters
    scores = score(index, Query("How much will the zebra vaccinations cost?"), RetrievalConfig(scorer=scorer, rerank=8))
    best = index.passages[int(np.argmax(scores))]
    assert PLANTED in text[best.start : best.end]


def test_reach_is_the_share_of_passages_holding_a_query_word(tokenizer):
    index = document_index(tokenizer, meeting(80, planted_at=53), 40)
    assert index.reach(Query("zebra")) == 1 / len(index.passages)  # the planted line only
    holding = sum("printer" in text.lower() for text in index.texts)
    assert 1 < holding < len(index.passages) and index.reach(Query("printer")) == holding / len(index.passages)
    assert index.reach(Query("Summarize the whole meeting")) == 0.0


def test_dense_finds_a_paraphrase_bm25_cannot(tokenizer):
    text = meeting(40, planted_at=17)
    index = document_index(tokenizer, text, 150)
    query = Query("What will immunising the striped horses cost?")  # no word shared with the planted line
    dense = score(index, query, RetrievalConfig(scorer="dense"))
    assert PLANTED in text[index.passages[int(np.argmax(dense))].start : index.passages[int(np.argmax(dense))].end]


def test_mugi_query_balances_query_and_answers():
    q = Query("zebra cost?", ("The zebra programme costs forty thousand euros in total this year.",) * 3)
    assert q.lexical().count("zebra cost?") == max(1, len(" ".join(q.pseudo_answers)) // len(q.text) // 5)
    assert q.dense_texts()[0] == "zebra cost?" and len(q.dense_texts()) == 4
    assert Query("plain").lexical() == "plain"


def test_spread_order_prefixes_are_spread():
    for n in (1, 2, 7, 100):
        order = spread_order(n)
        assert sorted(order) == list(range(n))
    first4 = sorted(spread_order(100)[:4])
    assert first4[0] < 25 and first4[-1] >= 75  # four picks reach both ends


def _check_selection(chosen, n_tokens, budget, marker):
    spans = [(c.passage.token_start, c.passage.token_end) for c in chosen]
    assert spans == sorted(spans)  # document order
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no overlap
    used = sum(e - s for s, e in spans) + marker * gaps([c.passage for c in chosen], n_tokens)
    assert used <= budget  # never over
    assert used >= budget - (MIN_PIECE + 2 * marker)  # and (almost) exactly full
    return used


@pytest.mark.parametrize("coverage", [0.0, 0.25, 1.0])
@pytest.mark.parametrize("budget", [50, 137, 400])
def test_selection_fills_the_budget_in_document_order(tokenizer, coverage, budget):
    index = document_index(tokenizer, meeting(120, planted_at=90), 24)
    scores = score(index, Query("zebra vaccination cost"), RetrievalConfig(scorer="bm25"))
    chosen = select(index.passages, scores, len(index.doc.ids), budget, coverage, marker=3)
    _check_selection(chosen, len(index.doc.ids), budget, 3)
    if coverage < 1 and budget >= 137:
        assert any("zebra" in index.doc.text[c.passage.start : c.passage.end] for c in chosen)
    ids, assembled = assemble(chosen, index.doc, [7, 7, 7])
    assert len(ids) == _check_selection(chosen, len(index.doc.ids), budget, 3)
    for c in assembled:  # character spans match the token spans read
        assert index.doc.text[c.passage.start : c.passage.end].strip() in index.doc.text


def test_broad_query_selection_spans_the_document(tokenizer):
    index = document_index(tokenizer, meeting(200), 24)
    n = len(index.doc.ids)
    scores = score(index, Query("Summarize the whole meeting."), RetrievalConfig(scorer="bm25"))
    chosen = select(index.passages, scores, n, n // 5, 0.25, marker=3)
    starts = [c.passage.token_start for c in chosen if c.reason == "coverage"]
    assert min(starts) < n / 4 and max(starts) > 3 * n / 4


def test_a_document_that_fits_is_taken_whole(tokenizer):
    index = document_index(tokenizer, meeting(5), 24)
    chosen = select(index.passages, np.zeros(len(index.passages)), len(index.doc.ids), 10_000, 0.25, 3)
    ids, _ = assemble(chosen, index.doc, [7])
    assert ids == index.doc.ids and {c.reason for c in chosen} == {"whole"}


def test_hamming_and_binary_search_equal_naive_loops():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[123] + 0.05 * rng.normal(size=384).astype(np.float32)
    codes = binary.pack(vectors)
    assert codes.shape == (300, 48) and codes.dtype == np.uint8
    naive = [sum(bin(int(a) ^ int(b)).count("1") for a, b in zip(row, binary.pack(query[None])[0])) for row in codes]
    assert binary.hamming(codes, binary.pack(query[None])[0]).tolist() == naive
    scores = binary.search(codes, vectors, query, candidates=20)
    assert int(np.argmax(scores)) == 123 and np.isfinite(scores).sum() == 20
    kept = np.isfinite(scores)
    np.testing.assert_allclose(scores[kept], vectors[kept] @ query, rtol=1e-6)


def test_binary_path_is_used_above_the_passage_count(tokenizer, monkeypatch):
    index = document_index(tokenizer, meeting(80, planted_at=10), 150)
    calls = []
    original = binary.search
    monkeypatch.setattr(binary, "search", lambda *a: calls.append(a) or original(*a))
    config = RetrievalConfig(scorer="dense", binary_above=5, binary_candidates=10)
    scores = score(index, Query("How much will the zebra vaccinations cost?"), config)
    assert calls and np.isfinite(scores).sum() == 10
    assert PLANTED in index.doc.text[index.passages[int(np.argmax(scores))].start: index.passages[int(np.argmax(scores))].end]


def test_reciprocal_rank_fusion_equals_the_formula():
    a, b = np.array([3.0, 1.0, 2.0]), np.array([0.1, 0.9, -np.inf])
    fused = reciprocal_rank_fusion(a, b, k=60)
    expected = [1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62 + 0.0]
    np.testing.assert_allclose(fused, expected)


@pytest.mark.parametrize("setting, value", [("scorer", "tfidf"), ("passage_tokens", 4), ("coverage", 1.5),
                                            ("broad_below", -0.1), ("broad_reach", "some"), ("rerank", -1), ("specific_window", -2),
                                            ("mugi_answers", 0)])
def test_bad_retrieval_settings_are_one_clear_error(setting, value):
    from qfocus.errors import InputError

    with pytest.raises(InputError, match=f"^{setting} is "):
        RetrievalConfig(**{setting: value})


def test_content_terms_drop_the_words_that_name_the_document_or_ask():
    from qfocus.retrieval.lexical import content_terms

    assert content_terms("What is the plot of the story?") == []
    assert content_terms("Summarize the whole meeting.") == content_terms("What was discussed in the meetings?") == []
    assert content_terms("Summarize the discussion on the zebra vaccination") == ["zebra", "vaccin"]


def test_reach_counts_content_words_only_unless_told_otherwise(tokenizer):
    """"meeting" is on every line, "zebra" on one: a broad query reaches the passages holding "meeting" by
    all its words and none by its content words; a specific one reaches the planted passage's share."""
    text = "\n".join(f"{line} This meeting goes on." for line in meeting(60, planted_at=30).split("\n"))
    index = document_index(tokenizer, text, 40)
    broad, specific = Query("Summarize the whole meeting."), Query("What did the meeting say about zebras?")
    meetings = sum("meeting" in t for t in index.texts) / len(index.passages)
    assert index.reach(broad, "all") == pytest.approx(meetings) and meetings > 0.3
    assert index.reach(specific, "all") >= meetings
    holding = sum("zebra" in t for t in index.texts) / len(index.passages)
    assert index.reach(broad) == 0.0 and index.reach(specific) == pytest.approx(holding) and 0 < holding < 0.2


def test_broad_rules_on_a_long_document_with_a_needle(tokenizer):
    """More than 1,000 passages, the query's one content word in one of them: the content rule retrieves
    (a share threshold such as the first rule's would call it broad); a query with no content word is
    broad under it; broad_below 0 turns either rule off."""
    from dataclasses import replace

    from qfocus.strategies.retrieve import _broad

    index = document_index(tokenizer, meeting(1100, planted_at=550), 40)
    assert len(index.passages) > 1000
    content, first = RetrievalConfig(), RetrievalConfig(broad_reach="all", broad_below=0.01)
    needle, broad = "Zebra vaccination costs?", "Summarize the whole meeting."
    assert not _broad(index, needle, content) and _broad(index, needle, first)
    assert _broad(index, broad, content) and _broad(index, broad, first)
    assert not _broad(index, broad, replace(content, broad_below=0.0))
    assert not _broad(index, broad, replace(first, broad_below=0.0))
