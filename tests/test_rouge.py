"""ROUGE against hand-computed values."""

from __future__ import annotations

import math

import pytest

from qfocus.evaluation import aggregate, rouge, sentence_lines


def test_hand_computed_unigram_bigram_and_lcs():
    # prediction 3 tokens, reference 6: P=1, R=1/2 → F=2/3; bigrams: P=2/2, R=2/5 → F=4/7; LCS=3 → 2/3
    scores = rouge("the cat sat", ["the cat sat on the mat"])
    assert scores["rouge1"] == pytest.approx(200 / 3)
    assert scores["rouge2"] == pytest.approx(400 / 7)
    assert scores["rougeLsum"] == pytest.approx(200 / 3)


def test_stemming_and_best_reference_per_metric():
    assert rouge("cats running", ["cat runs"])["rouge1"] == pytest.approx(100.0)
    scores = rouge("the cat sat", ["a dog barked", "the cat sat on the mat", "the cat sat"])
    assert scores["rouge1"] == pytest.approx(100.0)


def test_rouge_lsum_works_on_sentences():
    assert sentence_lines("The board met. It approved the budget!  Then it adjourned.") == (
        "The board met.\nIt approved the budget!\nThen it adjourned.")
    # summary-level LCS: sentence order does not matter for Lsum, but does for the union of LCS per sentence
    swapped = rouge("It rained. The board met.", ["The board met. It rained."])
    assert swapped["rougeLsum"] == pytest.approx(100.0)


def test_aggregate_means_and_geometric_mean():
    rows = [{"rouge1": 40.0, "rouge2": 10.0, "rougeLsum": 20.0}, {"rouge1": 20.0, "rouge2": 0.0, "rougeLsum": 10.0}]
    result = aggregate(rows)
    assert result["rouge1"] == 30.0 and result["rouge2"] == 5.0 and result["rougeLsum"] == 15.0
    assert result["geometric_mean"] == pytest.approx(math.prod([30.0, 5.0, 15.0]) ** (1 / 3))
