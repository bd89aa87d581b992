"""The computed parts of experiments/results/README.md: one row per committed result (its
claim, where its runs trained, its verdicts counted) and the index of every verdict, both read
from the committed results.json files; `rewrite` puts them between their markers.
"""

from __future__ import annotations

import collections
import os
from typing import Any, Mapping

from cnnjax import report
from experiments.sweeps import verdicts

CLAIMS_BEGIN = "<!-- claims: computed from every results.json -->"
CLAIMS_END = "<!-- /claims -->"


def _results(results_root: str, name: str) -> dict[str, Any] | None:
    path = os.path.join(results_root, name, "results.json")
    return report.read_json(path) if os.path.isfile(path) else None


def verdict_index(results_root: str, sweeps: Mapping[str, Any]) -> str:
    """The verdict index (verdicts.index) of the verdicts stored in every committed
    <results_root>/<sweep>/results.json of `sweeps` (name -> module)."""
    judged = []
    for name in sorted(sweeps):
        found = (_results(results_root, name) or {}).get("verdicts")
        if found:
            judged.append((name, sweeps[name].get_sweep(quick=False).claim, found))
    return verdicts.index(judged)


def _where(results: dict[str, Any]) -> str:
    runs_on = results.get("trained_on") or {}
    where = ", ".join(f"{n} on {k}" for k, n in sorted(runs_on.items())) or "not recorded"
    mixed = len(results.get("setups") or runs_on) > 1
    return where + (" (**mixed setups**)" if mixed else "")


def _count(found: list[dict[str, Any]]) -> str:
    words = collections.Counter(v["verdict"] for v in found)
    return ", ".join(f"{word}: {n}" for word, n in sorted(words.items())) or "no comparisons"


def claims(results_root: str, sweeps: Mapping[str, Any]) -> str:
    """The claims table: for each committed result, its claim, where its runs trained and
    its verdicts counted by word (between the CLAIMS markers)."""
    lines = [
        CLAIMS_BEGIN,
        "| result | claim | runs trained on | verdicts |",
        "|---|---|---|---|",
    ]
    for name in sorted(sweeps):
        results = _results(results_root, name)
        if results is not None:
            claim = sweeps[name].get_sweep(quick=False).claim
            lines.append(
                f"| [`{name}`]({name}/results.md) | {claim} | {_where(results)} | "
                f"{_count(results.get('verdicts') or [])} |"
            )
    return "\n".join(lines + [CLAIMS_END])


def rewrite(results_root: str, sweeps: Mapping[str, Any]) -> None:
    """Rewrites the claims table and the verdict index of <results_root>/README.md."""
    path = os.path.join(results_root, "README.md")
    text = open(path).read()
    for begin, end, section in (
        (CLAIMS_BEGIN, CLAIMS_END, claims(results_root, sweeps)),
        (verdicts.INDEX_BEGIN, verdicts.INDEX_END, verdict_index(results_root, sweeps)),
    ):
        text = verdicts.replace_between(text, begin, end, section)
    with open(path, "w") as f:
        f.write(text)
