"""Flag handling shared by the runners: one-line errors for bad overrides, and --print_config.

ml_collections raises a bare AttributeError or KeyError (a traceback) for a `--config.a.b=v`
override of a field that does not exist: while absl parses the flags, or already when the runner
defines its config flag if `--config` is not given (the default config is loaded, overrides and
all, at import time). Runners call `run(main)` instead of `absl.app.run(main)` and import this
module before defining their flags; either way the user gets one line on stderr, naming the flag,
the field and the valid fields, and exit status 2.

`--print_config` (defined here, so every runner has it) prints each field of the runner's config
flags after the overrides, one line each: `path = value  (type)  # meaning`, the meaning being
the field's trailing comment in `cnnjax.config.base_config` or in the config file. Then the
runner exits 0 without running; runners without a config flag ignore it.
"""

from __future__ import annotations

import inspect
import io
import os
import re
import sys
import tokenize
import traceback

from absl import app, flags
from ml_collections import ConfigDict
from ml_collections.config_flags.config_flags import is_config_flag

from cnnjax import provenance

FLAGS = flags.FLAGS

flags.DEFINE_bool(
    "print_config",
    False,
    "Print every field of the config (after --config.* overrides) with its value, type and "
    "meaning, then exit without running. Runners without a config flag ignore it.",
)


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


def field_comments(source: str) -> dict[str, str]:
    """The trailing comment of each `name.a.b = value  # comment` statement of Python `source`,
    by dotted path ('a.b'); the first such statement of a path wins."""
    comments: dict[str, str] = {}
    line: list[str] = []
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NEWLINE:
            path = _assigned_path(line)
            if path and previous.type == tokenize.COMMENT:
                comments.setdefault(path, previous.string.lstrip("#").strip())
            line = []
        elif token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
            line.append(token.string)
        previous = token
    return comments


def _assigned_path(line: list[str]) -> str | None:
    """'a.b' for the tokens of a `name.a.b = ...` statement, else None."""
    if "=" not in line:
        return None
    match = re.fullmatch(r"\w+((?:\.\w+)+)", "".join(line[: line.index("=")]))
    return match[1][1:] if match else None


def config_meanings(config_file: str) -> dict[str, str]:
    """Each field's meaning, by dotted path: its trailing comment in `base_config()`
    (cnnjax/config.py), else in `config_file`."""
    from cnnjax import config as config_lib  # imports every model: only for --print_config

    with open(config_file) as f:
        in_file = field_comments(f.read())
    return {**in_file, **field_comments(inspect.getsource(config_lib.base_config))}


def _fields(config: ConfigDict, prefix: str = ""):
    """(dotted path, value, type) of every field of `config` that holds no ConfigDict."""
    for key, value in config.items():
        if isinstance(value, ConfigDict):
            yield from _fields(value, f"{prefix}{key}.")
        else:
            yield prefix + key, value, config.get_type(key)


def config_lines(config: ConfigDict, meanings: dict[str, str]) -> list[str]:
    """`path = value  (type)  # meaning` for every field of `config` (no `# meaning` if none)."""
    lines = []
    for path, value, kind in _fields(config):
        line = f"{path} = {value!r}  ({kind.__name__})"
        lines.append(f"{line}  # {meanings[path]}" if path in meanings else line)
    return lines


def _config_file(flag) -> str:
    """The file of a config-file flag, without the `:argument` of a parameterised get_config."""
    name = flag.config_filename
    return name if os.path.isfile(name) else name.split(":", 1)[0]


@flags.validator("print_config")
def _print_config(requested: bool) -> bool:
    """--print_config: prints the fields of every config flag and exits 0.

    A validator, so that it runs once absl has parsed every flag (the overrides applied) and
    before absl reports the flags that fail validation, a missing required --workdir among them:
    absl runs every validator before it raises.
    """
    defined = [FLAGS[name] for name in FLAGS]
    configs = [flag for flag in defined if is_config_flag(flag)]
    if not (requested and configs):
        return True
    for flag in configs:
        print("\n".join(config_lines(flag.value, config_meanings(_config_file(flag)))))
    sys.exit(0)


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
    """`absl.app.run(main)`, turning overrides of config fields that do not exist into one line.
    The commit the process runs is read first (`provenance.code`), before anything can change
    the checkout."""
    provenance.code()
    app.run(main, flags_parser=_parse_flags)
