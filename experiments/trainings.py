"""Finished trainings kept on disk, for runners that train many models in one invocation.

    record, reused = load_or_train(path, identity, train)

`identity` is a JSON-able dict of everything that changes a training's numbers (its config
fields, model, seed); `train()` returns the training's JSON-able record. If `path` holds a
record saved with an equal identity it is returned without training (an interrupted or
repeated invocation resumes with the next training); otherwise `train()` runs and its record
is saved to `path` (atomically) with the identity.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from cnnjax import report


def config_identity(config, fields: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    """The named top-level `fields` of an ml_collections config (sub-configs as dicts), and
    `extra`, normalised through JSON so that it compares equal to a saved copy."""
    values = {k: config[k] for k in fields}
    values = {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in values.items()}
    return json.loads(json.dumps({**values, **extra}))


def load_or_train(
    path: str, identity: dict[str, Any], train: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """(record, True) from `path` if saved there with `identity`, else (train(), False) after
    saving it there."""
    if os.path.isfile(path):
        saved = report.read_json(path)
        if saved.get("identity") == identity:
            return saved["record"], True
    record = train()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    report.write_json(path, {"identity": identity, "record": record})
    return record, False


def timing(records: list[dict[str, Any]], wall_seconds: float) -> str:
    """The results.md line on time: the trainings' own seconds (saved with them, so a rerun
    that reuses them still reports what they cost) and this invocation's wall time."""
    total = sum(r["seconds"] for r in records)
    return (
        f"Training time: {total / 60:.1f} min over {len(records)} trainings (this invocation: "
        f"{wall_seconds / 60:.1f} min)"
    )
