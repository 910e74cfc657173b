"""careerpath_set_f1: micro precision / recall / F1 of predicted sets (skills gained).

    import evaluate
    f1 = evaluate.load("careerpath/eval/metric_modules/careerpath_set_f1")
    f1.compute(predictions=[["Python", "SQL"]], references=[["Python"]])

The arithmetic lives in ``careerpath.core.metrics.set_prf``.
"""

import datasets
import evaluate

from careerpath.core import metrics

_DESCRIPTION = "Micro-averaged precision, recall and F1 of predicted item sets against gold sets."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of lists of strings (predicted set per row).
    references: list of lists of strings (gold set per row).
Returns:
    precision, recall, f1.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CareerpathSetF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references):
        return metrics.set_prf(predictions, references)
