"""Report figures are written as real PNG files."""

from careerpath.eval.plots import plot_group_bars, plot_hit_at_k

PNG = b"\x89PNG\r\n\x1a\n"


def test_hit_at_k_plot(tmp_path):
    curves = {"popularity": [0.1, 0.2, 0.3], "gru": [0.5, 0.7, 0.8]}
    path = plot_hit_at_k(curves, tmp_path / "sub" / "hit.png", ceiling=[0.6, 0.8, 0.9])
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000


def test_group_bar_chart(tmp_path):
    values = {"markov": {"data": 0.4, "software": 0.3}, "gru": {"data": 0.6}}
    path = plot_group_bars(values, tmp_path / "families.png", counts={"data": 10, "software": 3})
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000
