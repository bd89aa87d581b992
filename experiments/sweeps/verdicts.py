"""A sweep's claim as tests: each `Comparison` names two rows, a figure and a direction, and its
verdict follows from the per-seed figures by one rule, written once (RULE), never by hand.

For rows a and b with per-seed values x_a, x_b of the figure, the difference is
mean(x_a) - mean(x_b), with Welch's two-sided 95% confidence interval and p-value (unequal
variances: scipy.stats.ttest_ind(equal_var=False)). Three seeds a row give wide intervals, so
many verdicts here are "no difference detected": that is what three seeds can tell.

    verdicts.evaluate(sweep.comparisons, rows)  # -> [{statement, difference, ci, p, verdict}]
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, Sequence

import numpy as np
from scipy import stats

CLAIMS = ("higher", "lower", "similar", "not_lower")
WITH_MARGIN = ("similar", "not_lower")  # the claims that take a margin
LEVEL = 0.95
RULE = (
    "Verdicts follow from the per-seed figures by one rule (experiments/sweeps/verdicts.py): "
    "the difference of means (row minus baseline) and its 95% Welch confidence interval; for a "
    "claimed *higher* or *lower*, **yes** when the interval excludes zero in the claimed "
    "direction, **no** when it excludes zero the other way, **no difference detected** "
    "otherwise; for a claimed *similar* (within ± margin), **yes** when the interval lies "
    "inside the margin, **no** when it lies outside, **not settled** otherwise; for a claimed "
    "*not lower* (non-inferiority: at most the margin below), **yes** when the interval lies "
    "above −margin, **no** when it lies below, **not settled** otherwise."
)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One testable part of a claim: `run`'s `figure` is `claim` ('higher', 'lower',
    'similar' within ± `margin`, or 'not_lower': at most `margin` below) than `baseline`'s."""

    statement: str  # the part of the claim in words, e.g. "max pooling beats average pooling"
    run: str
    baseline: str
    figure: str = "test_accuracy"
    claim: str = "higher"
    margin: float = 0.0  # 'similar', 'not_lower': the largest difference that does not count

    def __post_init__(self):
        if self.claim not in CLAIMS:
            raise ValueError(f"claim {self.claim!r}: expected one of {', '.join(CLAIMS)}")
        if (self.claim in WITH_MARGIN) != (self.margin > 0):
            raise ValueError(
                "a margin > 0 goes with claim='similar' or 'not_lower', and only with them"
            )


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean(a) - mean(b), low and high ends of its 95% Welch interval, two-sided p-value).
    A side of one repeated value (a baseline row) has variance 0: the test is then a
    one-sample test of the other side against that value."""
    with warnings.catch_warnings():  # SciPy warns of identical values: a baseline's, exact
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        result = stats.ttest_ind(np.asarray(a, float), np.asarray(b, float), equal_var=False)
    interval = result.confidence_interval(LEVEL)
    return float(np.mean(a) - np.mean(b)), float(interval.low), float(interval.high), float(
        result.pvalue
    )


def verdict_word(claim: str, low: float, high: float, margin: float = 0.0) -> str:
    """RULE: the verdict of an interval [low, high] of the difference for a claim."""
    if claim == "similar":
        if -margin <= low and high <= margin:
            return "yes"
        if low > margin or high < -margin:
            return "no"
        return "not settled"
    if claim == "not_lower":
        if low >= -margin:
            return "yes"
        if high < -margin:
            return "no"
        return "not settled"
    sign = 1.0 if claim == "higher" else -1.0
    low, high = sorted((sign * low, sign * high))
    if low > 0:
        return "yes"
    if high < 0:
        return "no"
    return "no difference detected"


def _values(rows: dict[str, dict], run: str, figure: str) -> list[float] | None:
    """The per-seed figure of a row (None when the row is missing, diverged, or a seed lacks
    the figure)."""
    row = rows[run]
    values = row.get(figure)
    if row.get("diverged") or not values or any(v is None for v in values):
        return None
    return [float(v) for v in values]


def evaluate(
    comparisons: Sequence[Comparison],
    rows: Sequence[dict],
    aliases: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The verdict of each comparison on a results.json's rows (JSON-serialisable). `aliases`
    maps names a comparison may use for a row to the row's name (e.g. "best:adam" -> the best
    Adam row); a record then also names the rows it compared ("rows")."""
    aliases = aliases or {}
    by_name = {row["run"]: row for row in rows}
    out = []
    for c in comparisons:
        record = {**dataclasses.asdict(c), "difference": None, "ci": None, "p": None}
        run, baseline = aliases.get(c.run, c.run), aliases.get(c.baseline, c.baseline)
        if (run, baseline) != (c.run, c.baseline):
            record["rows"] = [run, baseline]
        if run not in by_name or baseline not in by_name:  # e.g. a --runs subset
            record["verdict"] = "n/a (a row is not in this grid)"
            out.append(record)
            continue
        a, b = _values(by_name, run, c.figure), _values(by_name, baseline, c.figure)
        if a is None or b is None or len(a) < 2 or len(b) < 2:
            record["verdict"] = "n/a (a row diverged or has fewer than 2 seeds)"
        else:
            diff, low, high, p = welch(a, b)
            word = verdict_word(c.claim, low, high, c.margin)
            record.update(difference=diff, ci=[low, high], p=p, verdict=word)
        out.append(record)
    return out


def _num(x: float) -> str:
    return f"{x:+.4f}" if abs(x) < 10 else f"{x:+.4g}"


BEGIN, END = "<!-- verdicts: computed from results.json -->", "<!-- /verdicts -->"


def markdown(verdicts: Sequence[dict[str, Any]]) -> str:
    """The verdicts as a Markdown section (between the BEGIN and END markers): a table, then
    RULE."""
    lines = [
        BEGIN,
        "## Verdicts",
        "",
        "| part of the claim | row | baseline | figure | claimed | difference | 95% CI | p "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        claimed = {
            "similar": f"similar (± {v['margin']:g})",
            "not_lower": f"not lower (by at most {v['margin']:g})",
        }.get(v["claim"], v["claim"])
        if v["difference"] is None:
            figures = ["n/a", "n/a", "n/a"]
        else:
            low, high = v["ci"]
            p = v["p"]
            figures = [
                _num(v["difference"]),
                f"[{_num(low)}, {_num(high)}]",
                "n/a" if math.isnan(p) else f"{p:.2g}",
            ]
        names = [f"`{v['run']}`", f"`{v['baseline']}`"]
        if "rows" in v:  # aliases such as best:adam, with the rows they stand for
            names = [n if n == f"`{r}`" else f"{n} = `{r}`" for n, r in zip(names, v["rows"])]
        cells = [v["statement"], *names, v["figure"], claimed]
        lines.append("| " + " | ".join(cells + figures + [f"**{v['verdict']}**"]) + " |")
    return "\n".join(lines + ["", RULE, END])


def replace_between(text: str, begin: str, end: str, section: str) -> str:
    """`text` with what stands from `begin` to `end` (markers included) replaced by `section`,
    or with `section` appended when `text` has no `begin`."""
    if begin not in text:
        return text.rstrip("\n") + "\n\n" + section + "\n"
    head, rest = text.split(begin, 1)
    return head + section + rest.split(end, 1)[1]


def section_of(text: str, begin: str = BEGIN, end: str = END) -> str | None:
    """The section of `text` from `begin` to `end`, markers included (None if it has none):
    by default a results.md's verdict section."""
    if begin not in text:
        return None
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end


INDEX_BEGIN = "<!-- verdict index: computed from every results.json -->"
INDEX_END = "<!-- /verdict index -->"


def index(judged: Sequence[tuple[str, str, Sequence[dict[str, Any]]]]) -> str:
    """The verdict index of the results README: for each (sweep, claim, verdicts), one row per
    part of the claim (between the INDEX markers)."""
    lines = [
        INDEX_BEGIN,
        "| sweep | part of the claim | difference (95% CI) | verdict |",
        "|---|---|---|---|",
    ]
    for name, _, found in judged:
        for v in found:
            if v["difference"] is None:
                figure = "n/a"
            else:
                low, high = v["ci"]
                figure = f"{_num(v['difference'])} [{_num(low)}, {_num(high)}] ({v['figure']})"
            lines.append(f"| `{name}` | {v['statement']} | {figure} | **{v['verdict']}** |")
    return "\n".join(lines + ["", RULE, INDEX_END])
