"""``dualstream COMMAND ...`` (or ``python -m engine COMMAND ...``): the command line without QGIS.

Commands live in their own modules (``COMMAND_MODULES``), each exposing ``COMMANDS``, a list of :class:`Command`.
Engine errors print one line (``error: ...``) and exit with code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import re
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable

from ..api import CanceledError, ConfigError, DualStreamError, __version__, printable
from .options import flag_name
from .progress import STOP_REQUESTED

COMMAND_MODULES = ("train", "info", "models", "segment", "compare", "polygons", "export", "imported", "suggest",
                   "label", "proposals")
EXIT_ERROR = 2
EXIT_CANCELED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what the shell reports for any tool whose reader went away
# Options whose value may start with "-" (``--label-map -1=255``: Sen1Floods11 labels "no data" -1). argparse
# takes such a value for an unknown option, so ``main`` joins it to its option first (``--label-map=-1=255``).
DASH_VALUE_OPTIONS = ("--label-map",)


@dataclass
class Command:
    """One subcommand: ``add_arguments(parser)`` fills its parser, ``run(args) -> int`` runs it."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]
    description: str | None = None


def available_commands() -> list[Command]:
    """Commands from every module in ``COMMAND_MODULES``, in that order."""
    return [c for name in COMMAND_MODULES for c in importlib.import_module(f".{name}", __package__).COMMANDS]


def join_dash_values(argv: list[str], options: tuple[str, ...] = DASH_VALUE_OPTIONS) -> list[str]:
    """``[..., "--label-map", "-1=255", ...]`` -> ``[..., "--label-map=-1=255", ...]`` for ``options``; only a value
    that cannot be an option itself is joined: "-" followed by a digit."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in options and len(arg) > 1 and arg[0] == "-" and arg[1].isdigit():
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def add_model_argument(p: argparse.ArgumentParser, help: str) -> None:
    """The bundle as ``MODEL`` or, as ``segment`` takes it, ``--model MODEL`` (read with :func:`model_argument`)."""
    p.add_argument("model", metavar="MODEL", nargs="?", default=argparse.SUPPRESS,
                   help=f"{help}; also as --model MODEL")
    p.add_argument("--model", dest="model_option", metavar="MODEL", help=argparse.SUPPRESS)


def model_argument(args: argparse.Namespace) -> str:
    """The bundle given to a command set up with :func:`add_model_argument`."""
    given, option = getattr(args, "model", None), args.model_option
    if given and option and given != option:
        raise ConfigError(f"Two model bundles given ('{given}' and --model '{option}'); give one.")
    model = given or option
    if not model:
        raise ConfigError(f"No model bundle given: dualstream {args.command} MODEL.dsmodel ...")
    return model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualstream",
        description="DualStream: multi-modal semantic segmentation of geospatial rasters (engine command line).")
    parser.add_argument("--version", action="version", version=f"dualstream {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in available_commands():
        # a docstring as a terminal shows it: ``code`` and :mod:`name` without their reST markup
        description = re.sub(r":\w+:`([^`]+)`", r"\1", command.description or command.help).replace("``", "")
        p = sub.add_parser(command.name, help=command.help, description=description,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show full tracebacks for errors")
        command.add_arguments(p)
        p.set_defaults(_run=command.run)
    return parser


def _memory_advice(parser: argparse.ArgumentParser, command: str) -> str:
    """What a command that ran out of memory can lower: only the options it has (``polygons`` has none)."""
    choices = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
    options = getattr(choices.get(command), "_option_string_actions", {})
    knobs = [flag for flag in ("--tile-size", "--batch-size", "--window") if flag in options]
    return f"lower {' or '.join(knobs)} (or free memory)" if knobs else "free memory or give a smaller input"


def _failure(exc: BaseException, parser: argparse.ArgumentParser, command: str) -> str:
    """The one line a failed run prints: an engine error's message, or what to do about memory or a file."""
    if isinstance(exc, CanceledError):
        return f"canceled: {_one_line(exc.render(flag_name))}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, DualStreamError):
        return f"error: {_one_line(exc.render(flag_name))}"
    if isinstance(exc, MemoryError):  # the resource checks should catch this before any work; the last resort
        return f"error: out of memory; {_memory_advice(parser, command)} and run again."
    # a file-system failure outside the engine's own checks: the file and the cause
    where = f" '{exc.filename}'" if exc.filename else ""
    return (f"error: file system error{where}: {_one_line(exc.strerror or exc)}; check the path, the free space and "
            f"the permissions.")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(join_dash_values(list(sys.argv[1:] if argv is None else argv)))
    _terminate_as_interrupt()
    try:
        code = args._run(args)
        sys.stdout.flush()  # here, so that a reader gone away is told apart below, not at the exit's flush
    except BrokenPipeError:  # stdout's reader stopped reading (`dualstream info M | head`): nothing went wrong here
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush must not fail again
        return EXIT_BROKEN_PIPE
    except (CanceledError, KeyboardInterrupt, DualStreamError, MemoryError, OSError) as exc:
        if getattr(args, "debug", False):
            raise
        print(_failure(exc, parser, args.command), file=sys.stderr)
        return EXIT_CANCELED if isinstance(exc, (CanceledError, KeyboardInterrupt)) else EXIT_ERROR
    finally:  # the run is over: a SIGTERM now ends the process plainly, not with a KeyboardInterrupt traceback
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return int(code or 0)


def run() -> None:
    """The process's entry point (``dualstream``, ``python -m engine``): :func:`main`, then exit with its code.

    A canceled run ends at once with 130. Python's own exit would not always: a Ctrl+C or SIGTERM that lands
    while a C extension runs Python code of its own (torch and GDAL do) marks the process as interrupted for
    good, and the interpreter then ends itself with SIGINT (status -2) although the run stopped cleanly."""
    code = main()
    torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if code == EXIT_CANCELED or torchrun:
        if code != EXIT_CANCELED:
            # a torchrun process whose work is done: its cleanup runs, the interpreter's teardown does not (gloo's
            # C++ threads outliving it aborted a finished rank: "terminate called without an active exception")
            atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _terminate_as_interrupt() -> None:
    """SIGTERM (``kill``, a job scheduler's timeout) ends the run like Ctrl+C: temp files and locks are cleaned
    up on the way out instead of the process vanishing mid-write."""
    if threading.current_thread() is not threading.main_thread():
        return

    def _handler(signum: int, frame: Any) -> None:
        STOP_REQUESTED.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _handler)


def say(text: str) -> None:
    """Print a result line with the names from files in it made inert (a control character shown as its escape)."""
    print(printable(text, lines=True))


def say_json(value: Any, sort_keys: bool = False) -> None:
    """Print ``value`` as a command's ``--json`` result: indented JSON, what JSON has no type for as text."""
    json.dump(value, sys.stdout, indent=2, default=str, sort_keys=sort_keys)
    sys.stdout.write("\n")


def _one_line(exc: Any) -> str:
    return printable(" ".join(str(exc).split()))  # a name in a message never drives the terminal
