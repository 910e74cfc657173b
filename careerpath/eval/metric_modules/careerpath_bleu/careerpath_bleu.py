"""careerpath_bleu: corpus BLEU of generated targets with sacrebleu, no Hub download.

``evaluate.load("sacrebleu")`` fetches its script from the Hub and fails offline; this module is
loaded from the repository instead::

    import evaluate
    bleu = evaluate.load("careerpath/eval/metric_modules/careerpath_bleu")
    bleu.compute(predictions=["next_course: A | next_job: stay"], references=["next_course: A | next_job: stay"])

The arithmetic lives in ``careerpath.core.metrics.corpus_bleu`` / ``exact_match``.
"""

import datasets
import evaluate

from careerpath.core import metrics

_DESCRIPTION = "sacrebleu corpus BLEU (0-100, one reference per prediction) and exact match."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of generated strings.
    references: list of reference strings (one per prediction).
Returns:
    bleu (0-100), exact_match (0-1).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CareerpathBleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        return {
            "bleu": metrics.corpus_bleu(predictions, references),
            "exact_match": metrics.exact_match(predictions, references),
        }
