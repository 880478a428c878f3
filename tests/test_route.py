"""Routing (Hybrid LLM): the ridge router against a naive least-squares reference, threshold
monotonicity (a larger share never sends fewer queries to the large configuration, and always the
highest predicted gains), the curve's end points and oracle, features, the `route` strategy on a
tiny model, and `qfocus route fit|curve` end to end with bad input as one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qfocus.cli import main
from qfocus.config import RouteConfig, SummarizeConfig
from qfocus.errors import InputError
from qfocus.evaluation.bootstrap import corpus_metrics
from qfocus.route import fit, load_router
from qfocus.route.curve import gains, routing_curve
from qfocus.route.features import SCALARS, feature_names, features
from tests.test_train import write_covidet


def problem(n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.arange(1, d + 1)
    y = 3.0 * X[:, 0] - 0.5 * X[:, 2] + 2.0 + 0.1 * rng.normal(size=n)
    return X, y


def test_ridge_equals_the_primal_solution_and_picks_the_loo_best_alpha():
    X, y = problem()
    router = fit(X, y, [f"f{i}" for i in range(5)], "small", "large", embedding=False)
    Z = (X - X.mean(0)) / X.std(0)
    w = np.linalg.solve(Z.T @ Z + router.alpha * np.eye(5), Z.T @ (y - y.mean()))  # the textbook form
    np.testing.assert_allclose(router.weights, w, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(router.predict(X), Z @ w + y.mean(), rtol=1e-8)
    # leave-one-out by refitting n times (the features standardised once, as the closed form does)
    predictions = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        Zc = Z[keep] - Z[keep].mean(0)  # the intercept refitted without pair i
        wi = np.linalg.solve(Zc.T @ Zc + router.alpha * np.eye(5), Zc.T @ (y[keep] - y[keep].mean()))
        predictions.append((Z[i] - Z[keep].mean(0)) @ wi + y[keep].mean())
    errors = (np.array(predictions) - y) ** 2
    assert router.info["loo_mse"][str(router.alpha)] == pytest.approx(round(float(np.mean(errors)), 4), abs=1e-4)
    np.testing.assert_allclose(router.training, np.sort(predictions), rtol=1e-8)
    assert router.alpha == min(map(float, router.info["loo_mse"]), key=lambda a: router.info["loo_mse"][str(a)])
    assert np.corrcoef(router.predict(X), y)[0, 1] > 0.99


def test_more_large_calls_never_drop_a_query_and_add_the_next_best():
    X, y = problem(n=80)
    router = fit(X, y, [f"f{i}" for i in range(5)], "small", "large", embedding=False)
    predicted = router.predict(X)
    shares = np.linspace(0, 1, 21)
    thresholds = [router.threshold(s) for s in shares]
    assert all(a >= b for a, b in zip(thresholds, thresholds[1:]))
    sent = [set(np.flatnonzero(predicted >= t)) for t in thresholds]
    assert sent[0] == set() and sent[-1] == set(range(80))
    for fewer, more in zip(sent, sent[1:]):
        assert fewer <= more
        if more - fewer and fewer:  # the added queries are predicted to gain less than any already sent
            assert max(predicted[list(more - fewer)]) <= min(predicted[list(fewer)])
    held_out = np.array(router.training)  # leave-one-out predictions: what new queries look like
    for share in (0.2, 0.5, 0.6, 0.9):  # on its training queries the share is what was asked
        assert np.mean(held_out >= router.threshold(share)) == pytest.approx(share, abs=1 / 80 + 1e-9)
    with pytest.raises(InputError, match="route share"):
        router.threshold(1.5)


def scores(rng, n, shift):
    return [{"rouge1": 30 + shift + rng.normal(), "rouge2": 8 + shift / 3 + rng.normal(), "rougeLsum": 25 + shift + rng.normal()}
            for _ in range(n)]


def test_curve_end_points_oracle_and_random():
    rng = np.random.default_rng(0)
    small, large = scores(rng, 50, 0.0), scores(rng, 50, 2.0)
    true = gains(small, large)
    rows = routing_curve(small, large, predicted=true, resamples=200)
    metric = lambda rows_: round(float(corpus_metrics(np.array([[r[m] for m in ("rouge1", "rouge2", "rougeLsum")] for r in rows_]))[3]), 3)
    assert rows[0]["router"]["geometric_mean"] == metric(small) == rows[0]["random"]["geometric_mean"]
    assert rows[-1]["router"]["geometric_mean"] == metric(large) and rows[-1]["router_vs_all_large"]["geometric_mean"].startswith("+0.00")
    assert all(r["router"] == r["oracle"] for r in rows)  # routing by the true gain is the oracle
    assert all(r["large_calls"] == round(r["share"] * 50) for r in rows)
    # a useless router (reversed) is below random in the middle of the curve
    worst = routing_curve(small, large, predicted=-true, resamples=200)
    assert worst[5]["router"]["geometric_mean"] < worst[5]["random"]["geometric_mean"] < rows[5]["router"]["geometric_mean"]


def test_features_are_finite_and_see_retrievability():
    document = "\n".join(f"Speaker {i % 3}: we talked about item {i} and the weather today." for i in range(60))
    document += "\nSpeaker 1: the pumping station will be replaced in March by the county engineers."
    specific = features("When will the pumping station be replaced?", document, embedding=False)
    broad = features("Summarize the whole meeting.", document, embedding=False)
    assert specific.shape == broad.shape == (len(SCALARS),) and np.isfinite(specific).all()
    top = SCALARS.index("bm25_top5_share")
    assert specific[top] > broad[top]  # a specific query's BM25 mass sits in a few passages
    with_embedding = features("When?", document)
    assert with_embedding.shape == (len(feature_names(True)),)


def write_router(path, small: str, large: str, gain_sign: float = 1.0):
    X = np.random.default_rng(0).normal(size=(10, len(SCALARS)))
    y = gain_sign * X[:, 1]
    return fit(X, y, list(SCALARS), small, large, embedding=False).save(path)


def test_route_strategy_answers_with_the_chosen_configuration(tmp_path, tiny_lm):
    from conftest import long_text
    from qfocus.strategies import get_strategy

    router = write_router(tmp_path / "router.json", "truncate:adapter=none:head_fraction=1.0",
                          "truncate:adapter=none:head_fraction=0.0")
    document, query = long_text(400), "What was decided?"
    base = SummarizeConfig(model="unused", adapter="none", context_window=160)
    base.generation.max_new_tokens = 6
    answers = {}
    for share in (0.0, 1.0):
        config = SummarizeConfig(**{**base.__dict__, "strategy": "route", "route": RouteConfig(str(router), share)})
        summary = get_strategy("route", config).summarize(tiny_lm, document, query)
        answers[share] = summary
        assert summary.strategy == "route" and summary.routed["to"] == ("large" if share else "small")
        assert summary.routed["threshold"] is None  # no threshold at 0 and 1 (and no Infinity in JSON)
    # a share in between: the threshold decides, both ways
    for share in (0.1, 0.5, 0.9):
        config = SummarizeConfig(**{**base.__dict__, "strategy": "route", "route": RouteConfig(str(router), share)})
        strategy = get_strategy("route", config)
        routed = strategy.summarize(tiny_lm, document, query).routed
        assert routed["threshold"] == round(strategy.threshold, 3)
        assert routed["to"] == ("large" if routed["predicted_gain"] >= strategy.threshold else "small")
    with pytest.raises(InputError, match="empty"):
        strategy.summarize(tiny_lm, "   ", query)
    head = get_strategy("truncate", SummarizeConfig(**{**base.__dict__, "head_fraction": 1.0})).summarize(tiny_lm, document, query)
    tail = get_strategy("truncate", SummarizeConfig(**{**base.__dict__, "head_fraction": 0.0})).summarize(tiny_lm, document, query)
    assert answers[0.0].summary == head.summary and answers[1.0].summary == tail.summary
    assert "routed" in answers[1.0].to_dict() and "routed" not in head.to_dict()


def test_route_strategy_errors(tmp_path):
    from qfocus.strategies import get_strategy

    with pytest.raises(InputError, match="route needs --router"):
        get_strategy("route", SummarizeConfig(strategy="route"))
    with pytest.raises(InputError, match="no router here"):
        get_strategy("route", SummarizeConfig(strategy="route", route=RouteConfig(str(tmp_path / "none.json"))))
    looped = write_router(tmp_path / "loop.json", "route", "truncate")
    with pytest.raises(InputError, match="itself route"):
        get_strategy("route", SummarizeConfig(strategy="route", route=RouteConfig(str(looped))))
    with pytest.raises(InputError, match="route_share"):
        RouteConfig(str(looped), 1.2)


def write_run(folder, ids, rows):
    folder.mkdir(parents=True)
    with open(folder / "predictions.jsonl", "w") as out:
        for i, row in zip(ids, rows):
            out.write(json.dumps({"id": i, "scores": row}) + "\n")


def test_cli_fit_then_curve(capsys, tmp_path):
    from qfocus.data import load_dataset

    write_covidet(tmp_path)
    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        ids = [e.id for e in load_dataset("covidet", split, tmp_path)]
        write_run(tmp_path / split / "small", ids, scores(rng, len(ids), 0.0))
        write_run(tmp_path / split / "large", ids[:-1], scores(rng, len(ids) - 1, 1.0))  # pairs: the shared ids
    router = tmp_path / "router.json"
    assert main(["route", "fit", "--data", "covidet", "--data-dir", str(tmp_path), "--small-run", str(tmp_path / "train" / "small"),
                 "--large-run", str(tmp_path / "train" / "large"), "--no-embedding", "--out", str(router)]) == 0
    saved = load_router(router)
    assert saved.info["pairs"] == len(ids) - 1 and saved.small == "truncate:adapter=none" and not saved.embedding
    assert main(["route", "curve", "--data", "covidet", "--split", "val", "--data-dir", str(tmp_path), "--router", str(router),
                 "--small-run", str(tmp_path / "val" / "small"), "--large-run", str(tmp_path / "val" / "large"),
                 "--resamples", "100", "--out", str(tmp_path / "curve")]) == 0
    out = capsys.readouterr().out
    assert "| 60% |" in out
    curve = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert curve["n"] == len(ids) - 1 and len(curve["rows"]) == 11 and (tmp_path / "curve" / "curve.png").stat().st_size > 0


@pytest.mark.parametrize("argv, needle", [
    (["fit", "--small-run", "nowhere", "--large-run", "nowhere"], "nowhere: no predictions.jsonl"),
    (["fit", "--split", "test"], "train the router on train"),
    (["curve", "--router", "missing.json"], "no router here"),
    (["curve", "--resamples", "10"], "resamples is 10"),
    (["fit", "--large", "truncat"], "unknown strategy 'truncat'"),
])
def test_bad_input_is_one_line(capsys, tmp_path, argv, needle):
    from tests.test_cli import assert_one_line_error

    code = main(["route", *argv])
    assert_one_line_error(code, capsys.readouterr().err, needle)
