import matplotlib.pyplot as plt
import pytest

from cnnjax.report import plots


def test_bars_draw_a_run_without_a_value_as_not_available(tmp_path, monkeypatch):
    texts = []
    save = plt.Figure.savefig

    def record(fig, path, **kwargs):
        texts.extend(t.get_text() for t in fig.axes[0].texts)
        save(fig, path, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", record)
    path = tmp_path / "bars.png"
    plots.plot_bars(str(path), ["a", "b (diverged)"], [0.9, None], [0.01, None], "accuracy")
    assert path.stat().st_size > 0
    assert texts == ["0.9", "n/a"]


@pytest.mark.parametrize("n", [3, 10, 15, 40])
def test_no_two_lines_of_a_plot_look_alike(n):
    styles = [plots._line_style(i, n) for i in range(n)]
    assert len({(tuple(color), marker) for color, marker in styles}) == n
