"""results.md is rendered from results.json alone, its notes hold no typed figure, and the
results README holds none outside its computed sections."""

import dataclasses
import json
import os
import re

import pytest

from experiments.sweeps import SWEEPS, overview, page, verdicts
from experiments.sweeps.verdicts import Comparison

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "experiments", "results")
COMMITTED = sorted(n for n in SWEEPS if os.path.isfile(os.path.join(RESULTS, n, "results.json")))


@pytest.mark.parametrize("name", COMMITTED)
def test_a_committed_results_md_is_the_rendering_of_its_results_json(name):
    sweep = SWEEPS[name].get_sweep(quick=False)
    results = json.load(open(os.path.join(RESULTS, name, "results.json")))
    rendered = page.render(sweep, results)
    hint = f"run: python -m experiments.sweep --sweep={name} --verdicts_only"
    assert open(os.path.join(RESULTS, name, "results.md")).read() == rendered, hint
    assert page.NOT_IN_GRID not in rendered  # every placeholder of the notes names a row
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", rendered):
        assert os.path.isfile(os.path.join(RESULTS, name, image)), image


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_notes_hold_no_typed_figure(name):
    sweep = SWEEPS[name].get_sweep(quick=False)
    assert page.hand_figures(sweep.notes) == [], "put the figure in a {{placeholder}}"


def test_hand_figures_finds_numbers_but_not_names_shapes_or_years():
    text = (
        "ResNet-20 on CIFAR-10 with 3x3 and 1-D convolutions (Long et al. 2015) at x2 reached "
        "61.1% after 10 epochs, 1,000 images and 10^-8.5, `--epochs=10`, {{pct acc a}}"
    )
    assert page.hand_figures(text) == ["61.1%", "10", "1,000", "10^-8.5"]


ROWS = [
    {"run": "a1", "opt": "a", "lr": "0.1", "num_params": 1234, "macs": 5000,
     "acc": [0.60, 0.62, 0.64]},
    {"run": "a2", "opt": "a", "lr": "0.3", "num_params": 1234, "macs": 5000,
     "acc": [0.70, 0.71, 0.72]},
    {"run": "b1", "opt": "b", "lr": "1", "num_params": 617, "macs": 2500,
     "acc": [0.50, 0.52, 0.54]},
]


def _tiny(notes):
    sweep = dataclasses.replace(
        SWEEPS["lenet"].get_sweep(quick=True),
        name="tiny",
        best_by=("opt", "acc"),
        grid="lr",
        notes=notes,
        comparisons=(Comparison("a beats b", "best:a", "b1", figure="acc"),),
    )
    results = {"rows": ROWS, "num_seeds": 3,
               "verdicts": verdicts.evaluate(sweep.comparisons, ROWS, {"best:a": "a2"})}
    return sweep, results


def test_placeholders_are_filled_from_the_rows_and_verdicts():
    sweep, results = _tiny("")
    text = (
        "{{mean acc a2}} | {{pct acc best:a}} | {{value acc b1}} | {{count num_params a1}} | "
        "{{ratio macs b1 a1}} | {{verdict 1}} | {{best a}} | {{seeds}} | {{points 1}}"
    )
    parts = page.fill(text, sweep, results).split(" | ")
    assert parts[:8] == [
        "0.7100 ± 0.0100", "71.0 ± 1.0%", "0.52", "1,234", "0.5", "yes", "a2", "3",
    ]
    assert parts[8].startswith("+19.0 points, 95% CI +")


def test_a_placeholder_that_cannot_be_filled_names_itself_and_a_missing_row_says_so():
    sweep, results = _tiny("")
    with pytest.raises(ValueError, match=r"sweep tiny: notes placeholder \{\{meen acc a1\}\}"):
        page.fill("{{meen acc a1}}", sweep, results)
    with pytest.raises(ValueError, match="takes 2 argument"):
        page.fill("{{pct acc}}", sweep, results)
    with pytest.raises(ValueError, match="no comparison '2'"):
        page.fill("{{diff 2}}", sweep, results)
    assert page.fill("{{pct acc zz}}", sweep, results) == f"(zz: {page.NOT_IN_GRID})"


def test_the_best_run_table_says_where_each_best_value_lies_in_its_grid():
    assert [page.grid_position(r, ROWS, "opt", "lr") for r in ROWS] == [
        "lowest tried", "highest tried", "only value",
    ]
    rows = ROWS + [{**ROWS[0], "run": "a3", "lr": "0.2"}]
    assert page.grid_position(rows[-1], rows, "opt", "lr") == "interior"


def test_the_results_readme_types_no_figure_outside_its_computed_sections():
    text = open(os.path.join(RESULTS, "README.md")).read()
    for begin, end in (
        (overview.CLAIMS_BEGIN, overview.CLAIMS_END),
        (verdicts.INDEX_BEGIN, verdicts.INDEX_END),
    ):
        text = verdicts.replace_between(text, begin, end, "")
    assert page.hand_figures(text) == []
