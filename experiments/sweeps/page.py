"""results.md of a sweep, rendered from its results.json alone: the claim, the table of
mean ± std over seeds, the best run per label value, the computed verdicts, the sweep's notes
with their figures filled in from results.json, the plots, and where, on what and from which
code the runs trained. Re-rendering a committed results.json therefore gives its results.md
(tested), and no figure on the page is typed by hand.

Notes (`Sweep.notes`) are Markdown prose; a figure in them is a placeholder `{{kind args}}`
(RUN is a row's name or `best:<label value>`, K a comparison's 1-based position):

    {{mean FIGURE RUN}}        0.6849 ± 0.0016, as in the table
    {{pct FIGURE RUN}}         68.5 ± 0.2%
    {{value FIGURE RUN}}       the mean alone, 4 significant digits
    {{count FIELD RUN}}        num_params or macs with thousands separators
    {{ratio FIGURE RUN BASE}}  mean(RUN) / mean(BASE), 3 significant digits
    {{diff K}} {{points K}}    comparison K's difference and 95% CI (points: in % points)
    {{verdict K}}              comparison K's verdict word
    {{best VALUE}}             the name of the best row for that label value
    {{seeds}}                  seeds per run

`hand_figures` finds what reads like a typed figure in prose (a number that is not part of a
name such as ResNet-20, a shape such as 3x3, or a year); the tests run it on every sweep's notes.
"""

from __future__ import annotations

import re
from typing import Any

from experiments.sweeps import verdicts
from experiments.sweeps.figures import best_aliases, mean_std
from experiments.sweeps.grid import Sweep

NOT_IN_GRID = "not in this grid"
NOT_RECORDED = "not recorded (these runs predate provenance records)"
# Said under the table of every result on these datasets.
DATASET_NOTES = {
    "cifar10": (
        "CIFAR-10 here is the shared copy whose pixels went through a JPEG re-encoding "
        "(slightly lossy) and whose order is shuffled: its accuracies are not directly "
        "comparable with results on the original pixels."
    ),
}


def fmt(mean: float | None, std: float | None) -> str:
    """A table cell: mean ± std, 4 decimals for figures in (0, 1], else 4 significant digits."""
    if mean is None:
        return "n/a"
    if 0 < abs(mean) <= 1:  # accuracies and most losses, 1.0 included
        return f"{mean:.4f} ± {std:.4f}"
    return f"{mean:.4g} ± {std:.2g}"


def fmt_epochs(values: list[float | None]) -> str:
    """Epochs to a target over seeds, saying how many seeds reached it."""
    reached = [v for v in values if v is not None]
    if not reached:
        return f"not reached (0/{len(values)})"
    mean, std = mean_std(reached)
    suffix = "" if len(reached) == len(values) else f" ({len(reached)}/{len(values)} seeds)"
    return f"{mean:.3g} ± {std:.2g}{suffix}"


def grid_position(row: dict, rows: list[dict], label: str, grid: str) -> str:
    """Where `row`'s value of the numeric label `grid` lies among the values tried for its
    value of `label`: 'interior', 'lowest tried', 'highest tried' or 'only value'."""
    tried = sorted(float(r[grid]) for r in rows if r[label] == row[label])
    value = float(row[grid])
    if len(tried) == 1:
        return "only value"
    if value == tried[0]:
        return "lowest tried"
    if value == tried[-1]:
        return "highest tried"
    return "interior"


def table(
    rows: list[dict],
    label_keys: list[str],
    figures: list[str],
    extra: dict[str, list[str]] | None = None,
    trained_on: str = "not recorded",
) -> str:
    """A Markdown table of rows: labels, size, figures (mean ± std), where each trained
    (`trained_on` for rows from before that was recorded per row), and `extra` columns (header
    -> one cell per row)."""
    extra = extra or {}
    header = ["run", *label_keys, "params", "MACs", *figures, "trained on", *extra]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        # A '|' inside a label (e.g. "1x1 | 3x3") would split its cell: Markdown escapes it.
        cells = [row["run"], *(str(row.get(k, "")).replace("|", r"\|") for k in label_keys)]
        if row.get("diverged"):
            cells += ["diverged"] * (3 + len(figures))
        else:
            cells += [f"{row['num_params']:,}", f"{row['macs']:,}"]
            cells += [
                fmt_epochs(row[f]) if f == "epochs_to_target" else fmt(*mean_std(row[f]))
                for f in figures
            ]
            cells.append(row.get("trained_on", trained_on))
        cells += [column[i] for column in extra.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")


class MissingRow(LookupError):
    """A placeholder names a row that this grid lacks (a QUICK grid, a --runs subset)."""


def _placeholder(
    words: list[str], rows: dict[str, dict], aliases: dict[str, str], results: dict
) -> str:
    kind, args = words[0], words[1:]

    def row(name: str) -> dict:
        found = rows.get(aliases.get(name, name))
        if found is None:
            raise MissingRow(name)
        return found

    def stats(figure: str, name: str) -> tuple[float, float]:
        value = row(name)[figure]
        if not isinstance(value, list):  # num_params, macs
            return float(value), 0.0
        mean, std = mean_std(value)
        if mean is None:
            raise ValueError(f"row {name!r} has no {figure} for every seed")
        return mean, std

    def comparison(k: str) -> dict:
        found = results.get("verdicts") or []
        if not k.isdigit() or not 1 <= int(k) <= len(found):
            raise ValueError(f"no comparison {k!r} (there are {len(found)})")
        return found[int(k) - 1]

    arity = {"mean": 2, "pct": 2, "value": 2, "count": 2, "ratio": 3, "diff": 1, "points": 1,
             "verdict": 1, "best": 1, "seeds": 0}
    if kind not in arity:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(arity)})")
    if len(args) != arity[kind]:
        raise ValueError(f"{kind} takes {arity[kind]} argument(s), got {len(args)}")
    if kind == "mean":
        return fmt(*stats(*args))
    if kind == "pct":
        mean, std = stats(*args)
        return f"{100 * mean:.1f} ± {100 * std:.1f}%"
    if kind == "value":
        return f"{stats(*args)[0]:.4g}"
    if kind == "count":
        return f"{int(stats(*args)[0]):,}"
    if kind == "ratio":
        return f"{stats(args[0], args[1])[0] / stats(args[0], args[2])[0]:.3g}"
    if kind in ("diff", "points"):
        v = comparison(args[0])
        if v["difference"] is None:
            return "n/a"
        scale, unit = (100, " points") if kind == "points" else (1, "")
        d, (low, high) = scale * v["difference"], (scale * x for x in v["ci"])
        digits = 1 if kind == "points" else 4
        return (
            f"{d:+.{digits}f}{unit}, 95% CI {low:+.{digits}f} to {high:+.{digits}f}, "
            f"p = {v['p']:.2g}"
        )
    if kind == "verdict":
        return comparison(args[0])["verdict"]
    if kind == "best":
        name = f"best:{args[0]}"
        if name not in aliases:
            raise MissingRow(name)
        return aliases[name]
    return str(results["num_seeds"])  # seeds


def fill(text: str, sweep: Sweep, results: dict[str, Any]) -> str:
    """`text` with every {{placeholder}} replaced by its figure from `results`: NOT_IN_GRID
    for a row this grid lacks, ValueError naming the sweep and the placeholder for any other
    that cannot be filled (an unknown kind, a figure a row lacks)."""
    rows = {r["run"]: r for r in results["rows"]}
    aliases = best_aliases(results["rows"], sweep.best_by)

    def one(match: re.Match) -> str:
        try:
            return _placeholder(match.group(1).split(), rows, aliases, results)
        except MissingRow as e:
            return f"({e.args[0]}: {NOT_IN_GRID})"
        except (ValueError, KeyError, IndexError, TypeError) as e:
            where = f"sweep {sweep.name}: notes placeholder {match.group()}"
            raise ValueError(f"{where}: {e}") from None

    return PLACEHOLDER.sub(one, text)


TOKEN = re.compile(r"[\w.,^%+\-]+")
# Digits that are not figures: in a name (ResNet-20, x2, FCN-8s), a shape (3x3, 32x32x3),
# "1-D"/"2-D", or a year (2015, 1998).
NOT_A_FIGURE = re.compile(r"[A-Za-z][\w\-]*|\d+(?:x\d+)+|\d-D|(?:19|20)\d\d[a-z]?")


def hand_figures(text: str) -> list[str]:
    """The numbers in Markdown prose that read as typed figures, outside code spans,
    placeholders and link targets."""
    text = re.sub(r"`[^`]*`", " ", text)
    text = PLACEHOLDER.sub(" ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    found = []
    for match in TOKEN.finditer(text):
        token = match.group().strip(".,+-")
        if any(ch.isdigit() for ch in token) and not NOT_A_FIGURE.fullmatch(token):
            found.append(token)
    return found


def _provenance_lines(sweep: Sweep, results: dict[str, Any]) -> list[str]:
    rows = [r for r in results["rows"] if not r.get("diverged")]
    machine = results["machine"]
    runs_on = results.get("trained_on") or {}
    lines = [
        f"Command: `{results['command']}`  ",
        f"Aggregated on: {machine['processor']}, {machine['cores']} cores, "
        f"{machine['device']}, jax {machine['jax']}  ",
        "Runs trained on: "
        + (", ".join(f"{n} on {where}" for where, n in sorted(runs_on.items())) or "none")
        + "  ",
    ]
    setups = results.get("setups")
    if setups is None:
        lines.append(f"Setup of each run: {NOT_RECORDED}  ")
        if len(runs_on) > 1:
            lines.append(
                "**Mixed setups: these rows trained on more than one device kind or library "
                "version, so a comparison between them is confounded with the machine.**  "
            )
    elif len(setups) > 1:
        lines.append(
            f"**Mixed setups, on purpose: {sweep.mixed_setups}** Setups: "
            + "; ".join(f"{k}: {', '.join(v)}" for k, v in setups.items())
            + "  "
        )
    else:
        lines.append(f"Setup of every run: {next(iter(setups), '?')}  ")
    codes = sorted({r.get("code", "not recorded") for r in rows if not r.get("baseline")})
    lines.append(f"Code: {', '.join(codes) if codes != ['not recorded'] else NOT_RECORDED}  ")
    images = sorted({tuple(r["images"]) for r in rows if "images" in r})
    if images:
        sizes = "; ".join(" / ".join(f"{n:,}" for n in sizes) for sizes in images)
        own = {r.get("subset_per_seed", False) for r in rows}
        own = "yes" if own == {True} else "no" if own == {False} else "some runs"
        lines.append(
            f"Images per run (training / validation / test): {sizes}; each seed its own "
            f"training subset: {own}  "
        )
    lines.append(
        f"Wall time: {results['wall_seconds'] / 60:.1f} min (this invocation); training time "
        f"of all runs: {results['train_seconds'] / 60:.1f} min"
    )
    return lines


def standard_plots(sweep: Sweep) -> list[str]:
    """The plots every sweep gets: a bar per run of its first figure, then each curve."""
    return [f"{sweep.figures[0]}.png"] + [f"{m}.png" for m in sweep.curves]


BASELINE_NOTE = (
    "Rows *computed, not trained* are baselines without a network, computed by the sweep's "
    "aggregation on the data of the run they stand beside; a baseline does not depend on a "
    "seed, so it repeats its one value for that run's seeds (a row of several runs: one value "
    "per run), and a comparison with it tests the network's seeds against it."
)


GROUP_NOTE = (
    "A row of several runs (their names under `parts` in results.json) joins their seeds: its "
    "± and its comparisons are over all of them."
)


def _seeds_per_row(rows: list[dict], sweep: Sweep) -> str:
    """The seeds a row's figures are over ('3', or '2 to 6' when rows of groups differ)."""
    counts = sorted({len(r[sweep.figures[0]]) for r in rows}) or [0]
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"


def render(sweep: Sweep, results: dict[str, Any]) -> str:
    """The results.md of `results` (a results.json's contents) for `sweep`."""
    rows = results["rows"]
    figures = list(sweep.figures) + (["epochs_to_target"] if sweep.has_target else [])
    label_keys = list(
        dict.fromkeys(k for run in (*sweep.runs, *sweep.baselines) for k in run.labels)
    )
    datasets = results["datasets"]
    runs_on = results.get("trained_on") or {}
    where = next(iter(runs_on)) if len(runs_on) == 1 else "not recorded"
    md = [
        f"# Sweep `{sweep.name}`",
        "",
        f"**Claim.** {sweep.claim}",
        "",
        f"Mean ± standard deviation over {_seeds_per_row(rows, sweep)} seeds "
        f"(dataset{'s' * (len(datasets) > 1)} {', '.join(f'`{d}`' for d in datasets)}).",
        "",
        table(rows, label_keys, figures, trained_on=where),
        "",
        *(f"{DATASET_NOTES[d]}\n" for d in datasets if d in DATASET_NOTES),
    ]
    if any(r.get("baseline") for r in rows):
        md += [BASELINE_NOTE, ""]
    if any(r.get("parts") for r in rows):
        md += [GROUP_NOTE, ""]
    if results.get("best_runs"):
        best = [next(r for r in rows if r["run"] == name) for name in results["best_runs"]]
        label, figure = sweep.best_by
        extra = {}
        if sweep.grid:
            extra[f"{sweep.grid} in grid"] = [
                grid_position(r, rows, label, sweep.grid) for r in best
            ]
        md += [
            f"Best run of each {label} by {figure}:",
            "",
            table(best, label_keys, figures, extra, trained_on=where),
            "",
        ]
    if sweep.comparisons:
        md += [verdicts.markdown(results["verdicts"]), ""]
    if sweep.notes:
        md += ["## What it shows", "", fill(sweep.notes.strip(), sweep, results), ""]
    plots = results.get("plots") or standard_plots(sweep)
    md += [f"![{p}]({p})" for p in plots]
    md += ["", *_provenance_lines(sweep, results), ""]
    return "\n".join(md)
