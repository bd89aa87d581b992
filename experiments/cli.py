"""One-line errors for `--config.a.b=v` overrides of config fields that do not exist.

ml_collections raises a bare AttributeError or KeyError (a traceback) for such an override: while
absl parses the flags, or already when the runner defines its config flag if `--config` is not
given (the default config is loaded, overrides and all, at import time). Runners call `run(main)`
instead of `absl.app.run(main)` and import this module before defining their flags; either way the
user gets one line on stderr, naming the flag, the field and the valid fields, and exit status 2.
"""

from __future__ import annotations

import os
import re
import sys
import traceback

from absl import app, flags
from ml_collections import ConfigDict
from ml_collections.config_flags.config_flags import is_config_flag

FLAGS = flags.FLAGS


def missing_field(config, path: str) -> str | None:
    """Why the dotted `path` names no field of `config`; None if it does (or if it can't tell)."""
    node, walked = config, []
    for field in path.split("."):
        if node is None:  # a placeholder, which ml_collections fills in
            return None
        fields = node.keys() if isinstance(node, (ConfigDict, dict)) else None
        if fields is None or field not in fields:
            owner = ".".join(walked) or "the config"
            what = (
                f"it holds a value of type {type(node).__name__}"
                if fields is None
                else f"its fields: {', '.join(sorted(fields))}"
            )
            return f"{owner} has no field {field!r}; {what}"
        node = node[field]
        walked.append(field)
    return None


def _argument(argv: list[str], flag) -> object:
    """The flag's argument: the last `--name=V` or `--name V` in argv, else its default."""
    value = None
    for i, arg in enumerate(argv):
        match = re.match(rf"--?{re.escape(flag.name)}(=(.*))?$", arg)
        if match and (match[1] or i + 1 < len(argv)):
            value = match[2] if match[1] else argv[i + 1]
    return flag.default_unparsed if value is None else value


def _overrides(argv: list[str], name: str):
    """(the flag as written, dotted path) of each `--name.a.b[=v]` in argv (`--noname.a.b` too)."""
    for i, arg in enumerate(argv):
        match = re.match(rf"--?(?:no)?{re.escape(name)}\.([^=]+)(=.*)?$", arg)
        if match:
            spaced = not match[2] and i + 1 < len(argv) and not argv[i + 1].startswith("-")
            yield (f"{arg} {argv[i + 1]}" if spaced else arg), match[1]


def bad_override(argv: list[str], config_flags) -> str | None:
    """The error line for the first override, by argv, of a missing field of one of config_flags."""
    argv = FLAGS.read_flags_from_files(argv, force_gnu=False)
    for flag in config_flags:
        config = flag.parser.parse(_argument(argv, flag))  # the config as loaded, before overrides
        for written, path in _overrides(argv, flag.name):
            problem = missing_field(config, path)
            if problem:
                return f"error: {written}: {problem}"
    return None


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing (and its usage message for flags.Error), bad overrides in one line."""
    try:
        return app.parse_flags_with_usage(argv)
    except (AttributeError, KeyError):
        defined = [FLAGS[name] for name in FLAGS]
        message = bad_override(argv, [f for f in defined if is_config_flag(f)])
        if message is None:
            raise
        print(message, file=sys.stderr)
        sys.exit(2)


def _excepthook(kind, error, tb, previous=sys.excepthook) -> None:
    """A bad override of a default config fails as its flag is defined: explain that one too."""
    if issubclass(kind, (AttributeError, KeyError)) and not FLAGS.is_parsed():
        selves = [frame.f_locals.get("self") for frame, _ in traceback.walk_tb(tb)]
        found = dict.fromkeys(s for s in selves if is_config_flag(s))
        message = bad_override(sys.argv, found)
        if message:
            print(message, file=sys.stderr, flush=True)
            os._exit(2)  # an exception hook cannot set the exit status otherwise
    previous(kind, error, tb)


sys.excepthook = _excepthook


def run(main) -> None:
    """`absl.app.run(main)`, turning overrides of config fields that do not exist into one line."""
    app.run(main, flags_parser=_parse_flags)
