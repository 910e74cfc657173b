"""Hand-made cases with answers worked out on paper."""

import math

import numpy as np
import pytest

from careerpath.core import metrics as M


def test_rank_and_mrr_of_known_ranking():
    scores = np.array(
        [
            [0.1, 0.9, 0.5, 0.3],  # order: 1, 2, 3, 0
            [0.1, 0.9, 0.5, 0.3],
            [0.1, 0.9, 0.5, 0.3],
        ]
    )
    gold = [1, 3, 0]  # ranks 1, 3, 4
    assert M.rank_of_gold(scores, gold).tolist() == [1, 3, 4]
    out = M.ranking_metrics(scores, gold, ks=(1, 2, 3))
    assert out["acc@1"] == pytest.approx(1 / 3)
    assert out["hit@3"] == pytest.approx(2 / 3)
    assert out["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 4) / 3)
    assert out["n"] == 3


def test_exclusion_mask_moves_gold_up_and_never_hides_gold():
    scores = np.array([[0.9, 0.8, 0.1]])
    mask = np.array([[True, False, False]])  # item 0 already taken
    assert M.rank_of_gold(scores, [1]).tolist() == [2]
    assert M.rank_of_gold(scores, [1], mask).tolist() == [1]
    # a mask covering the gold itself does not make it unrankable
    assert M.rank_of_gold(scores, [0], mask).tolist() == [1]
    assert M.top_k(scores, 2, mask).tolist() == [[1, 2]]


def test_ties_are_pessimistic_by_default_and_average_on_request():
    scores = np.zeros((1, 4))  # a constant scorer
    assert M.rank_of_gold(scores, [2]).tolist() == [4]
    assert M.rank_of_gold(scores, [2], ties="average").tolist() == [2.5]
    assert M.ranking_metrics(scores, [2])["acc@1"] == 0.0
    # excluded items are not counted as ties
    mask = np.array([[True, True, False, False]])
    assert M.rank_of_gold(scores, [2], mask).tolist() == [2]
    # -inf gold (zero probability) ranks last among allowed items only
    s = np.array([[0.0, -np.inf, -np.inf, -1.0]])
    assert M.rank_of_gold(s, [1], np.array([[False, False, True, False]])).tolist() == [3]


def test_rows_without_gold_are_skipped():
    scores = np.array([[0.2, 0.8], [0.9, 0.1]])
    out = M.ranking_metrics(scores, [1, -1])
    assert out["n"] == 1 and out["acc@1"] == 1.0
    assert math.isnan(M.ranking_metrics(scores, [-1, -1])["mrr"])


def test_top_k_pads_when_too_few_items_and_breaks_ties_by_index():
    scores = np.array([0.5, 0.5, 0.9])
    assert M.top_k(scores, 3).tolist() == [2, 0, 1]
    assert M.top_k(scores, 3, np.array([False, True, False])).tolist() == [2, 0, -1]


def test_hit_at_k_curve():
    scores = np.array([[3.0, 2.0, 1.0]] * 3)
    curve = M.hit_at_k_curve(scores, [0, 1, 2], max_k=4)
    assert curve.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])


def test_log_loss_value_and_renormalisation():
    p = np.array([[0.5, 0.25, 0.25]])
    assert M.log_loss(np.log(p), [1]) == pytest.approx(math.log(4))
    # excluding item 0 leaves 0.25 / 0.5 for the gold
    assert M.log_loss(np.log(p), [1], np.array([[True, False, False]])) == pytest.approx(math.log(2))
    # a zero-probability gold is clipped, not infinite
    z = np.array([[0.0, -np.inf]])
    assert M.log_loss(z, [1], eps=1e-6) == pytest.approx(-math.log(1e-6))
    # unnormalised scores are treated as logits
    assert M.log_loss(np.log(p) + 7.0, [1]) == pytest.approx(math.log(4))


def test_set_prf_micro():
    out = M.set_prf([["a", "b"], ["c"]], [["a"], ["c", "d"]])
    # tp = 2, predicted 3, gold 3
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["f1"] == pytest.approx(2 / 3)
    assert M.set_prf([[]], [["x"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert M.set_prf([[]], [[]])["f1"] == 1.0


def test_bleu_and_exact_match():
    refs = ["next_course: Advanced Machine Learning | skills_gained: Machine Learning | next_job: stay"]
    assert M.corpus_bleu(refs, refs) == pytest.approx(100.0)
    assert M.corpus_bleu(["completely different words here"], refs) < 10
    assert M.exact_match([" a ", "b"], ["a", "c"]) == 0.5


def test_validity():
    catalog = ["Data Analyst", "ML Engineer"]
    assert M.validity(["data analyst", "Astronaut"], catalog) == 0.5
    assert M.validity(["stay", "ML  Engineer"], catalog) == 0.5
    assert M.validity(["stay", "ML  Engineer"], catalog, allow_stay=True) == 1.0


def test_gini_and_coverage():
    assert M.gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert M.gini([0, 0, 0, 8]) == pytest.approx(3 / 4)
    assert 0 < M.gini([1, 2, 3, 10]) < 3 / 4
    assert M.coverage([[0, 1], [1, -1]], n_items=4) == 0.5
