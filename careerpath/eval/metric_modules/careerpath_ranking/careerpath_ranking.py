"""careerpath_ranking: Acc@1, Hit@k and MRR of full-catalog scores, as an ``evaluate`` module.

Load it offline from the repository (no Hub access needed)::

    import evaluate
    ranking = evaluate.load("careerpath/eval/metric_modules/careerpath_ranking")
    ranking.compute(predictions=[[0.1, 0.9, 0.5]], references=[2], exclude=[[1]])

The arithmetic lives in ``careerpath.core.metrics``; this file only adapts its inputs.
"""

import datasets
import evaluate
import numpy as np

from careerpath.core import metrics

_DESCRIPTION = """Rank of the gold item among every catalog item (no sampled negatives). Ties count
pessimistically: the gold is ranked below items with the same score."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of score lists, one score per catalog item (all rows the same length).
    references: gold item index per row (-1: no gold, the row is skipped).
    exclude: optional list of item-index lists to hide per row (e.g. courses already taken).
    ks: cut-offs for Hit@k, default (1, 5, 10); k=1 is reported as acc@1.
Returns:
    acc@1, hit@k for each k, mrr, n (rows scored).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CareerpathRanking(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Value("int64"),
                }
            ),
        )

    def _compute(self, predictions, references, exclude=None, ks=(1, 5, 10)):
        scores = np.asarray(predictions, dtype=np.float64)
        mask = None
        if exclude is not None:
            mask = np.zeros(scores.shape, dtype=bool)
            for i, items in enumerate(exclude):
                mask[i, list(items)] = True
        return metrics.ranking_metrics(scores, references, mask, ks=tuple(ks))
