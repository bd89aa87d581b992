"""What a run leaves for people: metrics.jsonl, summary.json, TensorBoard events, curves.png.

Everything here is derived from the epoch history, so a resumed run rewrites it whole and the
files always match the checkpoint.
"""

from cnnjax.report.files import (
    format_table,
    read_json,
    write_hparams,
    write_json,
    write_metrics,
    write_tensorboard,
)
from cnnjax.report.plots import (
    plot_bars,
    plot_confusion,
    plot_curves,
    plot_lines,
    plot_metric_by_run,
    plot_panels,
)

__all__ = [
    "read_json",
    "write_hparams",
    "write_json",
    "write_metrics",
    "write_tensorboard",
    "format_table",
    "plot_curves",
    "plot_metric_by_run",
    "plot_bars",
    "plot_confusion",
    "plot_panels",
    "plot_lines",
]
