"""The local ``evaluate`` modules load offline and give the same numbers as careerpath.core.metrics."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from careerpath.core import metrics as M

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "careerpath" / "eval" / "metric_modules"

SCORES = [[0.1, 0.9, 0.5, 0.3], [0.4, 0.2, 0.2, 0.8], [0.0, 0.0, 0.0, 0.0]]
GOLD = [2, 1, 3]
EXCLUDE = [[1], [], [0, 1]]
PRED_SETS = [["Python", "SQL"], ["Statistics"], []]
GOLD_SETS = [["Python"], ["Statistics", "R"], ["Git"]]
HYPS = ["next_course: Intro to SQL | next_job: stay", "next_course: Deep Learning | next_job: Data Scientist"]
REFS = ["next_course: Intro to SQL | next_job: stay", "next_course: Machine Learning | next_job: stay"]

SCRIPT = f"""
import json, evaluate
m = {str(MODULES)!r}
out = {{
    "ranking": evaluate.load(m + "/careerpath_ranking").compute(
        predictions={SCORES!r}, references={GOLD!r}, exclude={EXCLUDE!r}, ks=[1, 2, 10]),
    "set_f1": evaluate.load(m + "/careerpath_set_f1").compute(predictions={PRED_SETS!r}, references={GOLD_SETS!r}),
    "bleu": evaluate.load(m + "/careerpath_bleu").compute(predictions={HYPS!r}, references={REFS!r}),
}}
print("RESULT" + json.dumps(out))
"""


# every test here reads the modules through one `evaluate` subprocess (several seconds)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def offline_results(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf_home")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(home))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=str(home), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT") :])


def test_ranking_module_matches_direct(offline_results):
    mask = np.zeros((3, 4), dtype=bool)
    for i, items in enumerate(EXCLUDE):
        mask[i, items] = True
    direct = M.ranking_metrics(np.array(SCORES), GOLD, mask, ks=(1, 2, 10))
    assert offline_results["ranking"] == pytest.approx(direct)
    # and the numbers are the hand-computed ones: ranks 1 (item 1 hidden), 4 (the tie counts against), 2
    assert direct["acc@1"] == pytest.approx(1 / 3)
    assert direct["mrr"] == pytest.approx((1 + 1 / 4 + 1 / 2) / 3)


def test_set_f1_module_matches_direct(offline_results):
    assert offline_results["set_f1"] == pytest.approx(M.set_prf(PRED_SETS, GOLD_SETS))


def test_bleu_module_matches_direct(offline_results):
    assert offline_results["bleu"]["bleu"] == pytest.approx(M.corpus_bleu(HYPS, REFS))
    assert offline_results["bleu"]["exact_match"] == 0.5
