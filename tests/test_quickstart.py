"""`careerpath quickstart --fast`: the main job end to end on a small slice of the default data."""

import json

import pytest
from safetensors.torch import load_file

from careerpath.app.cli import main
from careerpath.core.catalog import load_catalog


@pytest.mark.slow
def test_quickstart_fast_end_to_end(tmp_path, capsys):
    out = tmp_path / "outputs"
    assert main(["quickstart", "--fast", "--users", "40", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for folder in ("data", "tiny_t5", "report"):
        assert (out / folder).is_dir(), folder
    weights = load_file(out / "tiny_t5" / "model.safetensors")
    assert weights and all(t.isfinite().all() for t in weights.values())
    assert len(load_catalog(out / "tiny_t5" / "catalog").jobs) == 136  # the bundled catalog travels with it
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert {"model", "baselines", "oracle", "ratio_to_ceiling"} <= set(metrics)
    assert "pathway to Machine Learning Engineer" in printed and "next courses" in printed
    assert "careerpath recommend --model" in printed
    # a second run reuses the dataset instead of rebuilding it
    assert main(["quickstart", "--fast", "--users", "40", "--out", str(out)]) == 0
    assert "reusing" in capsys.readouterr().out
