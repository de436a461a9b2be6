"""The `r1track` command line: parses, calls the library, prints.

Expected user errors print one line on stderr and exit with code 2; other known failures
(a server that stays down, grounding that finds nothing) one line and code 1.
"""

from __future__ import annotations

import argparse
import errno
import re
import sys

from r1track.cli import app, data, dev, evaluate, track, train
from r1track.cli.common import _error_message, _tracker_config
from r1track.errors import R1TrackError, UserError, shorten
from r1track.interrupts import Terminated

__all__ = ["_join_negative_values", "_tracker_config", "build_parser", "main"]

_NEGATIVE_LIST = re.compile(r"^-\d[\d.eE+-]*(,[\d.eE+ -]*)+$")  # -10,-5,40,30


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), not a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        if len(message) > 200:  # argparse echoes what was typed (a pasted page, say)
            message = message[:200] + "..."
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="r1track", description="Visual object tracking with a multimodal LLM.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (track, evaluate, data, train, dev, app):  # the order `r1track --help` lists them
        group.add_parser(commands)
    return parser


# errno values of an OSError that mean a path the user gave cannot be used (exit 2, not 1).
PATH_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.EROFS,
}


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--bbox -10,-5,40,30` as `--bbox=-10,-5,40,30`: argparse takes a value that starts with
    `-` and is not a plain number for an option, and then says the flag lacks its value."""
    joined: list[str] = []
    for arg in argv:
        flag = joined[-1] if joined else ""
        if flag.startswith("--") and "=" not in flag and _NEGATIVE_LIST.match(arg):
            joined[-1] = f"{flag}={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _join_negative_values(sys.argv[1:] if argv is None else list(argv))
    args, extra = parser.parse_known_args(argv)
    if extra:
        # KEY=VALUE overrides may come after options (`train sft --config F a.b=1`)
        train = getattr(args, "command", None) == "train"
        if train and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides += extra
        elif train and not any(e.startswith("-") for e in extra):
            bad = next(e for e in extra if "=" not in e)
            parser.error(f"override {shorten(bad)}: expected KEY=VALUE, e.g. optim.max_steps=4")
        else:
            if train:  # the overrides among them are fine: name only what is not one
                extra = [e for e in extra if e.startswith("-") or "=" not in e]
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except UserError as exc:
        print(f"r1track: error: {_error_message(exc, args)}", file=sys.stderr)
        return 2
    except R1TrackError as exc:
        print(f"r1track: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("r1track: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("r1track: terminated", file=sys.stderr)
        return Terminated.exit_code
    except OSError as exc:
        if exc.filename is None:  # not about a path: a bug, keep its traceback
            raise
        # a path the up-front checks could not foresee (/sys, a disk that filled up, ...)
        print(f"r1track: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2 if exc.errno in PATH_ERRNOS else 1
