"""The command line, `python -m fastki info | bench | scale`.

Each subcommand's module is imported only when that subcommand runs: `info` needs nothing
beyond fastki itself, so it works wherever fastki imports (no POSIX-only module such as
`resource`); `bench` lives in fastki/bench/fills.py (its --busy part in busy.py) and `scale`
in fastki/bench/scale.py, which share their timing rule through fastki/bench/timing.py and
never import each other. `bench --scale` is kept as an alias of `scale`.

A bad command line is one line on stderr, `python -m fastki bench: error: argument --size:
...`, and exit status 2: never a traceback.
"""
import argparse
import json
import sys
from typing import Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

_PROG = "python -m fastki"

_DESCRIPTION = """\
fastki: fast, reproducible weight initializers. The same seed gives the same bytes on every
machine, thread count and SIMD path.

commands:
  info    what this installation runs: version, SIMD path, threads, stream version
  bench   time fastki's fills against NumPy (and PyTorch, JAX, Keras where installed)
          and check that every SIMD path and thread count gives the same bytes
  scale   initialize a GPT-2-small-sized PyTorch model and write a multi-GiB tensor to
          Zarr through Dask (needs torch, dask and zarr)
"""

_EXAMPLES = {
    None: """\
examples:
  python -m fastki info                  # is the compiled kernel loaded? which SIMD path?
  python -m fastki info --json
  python -m fastki bench                 # about a minute on a laptop
  python -m fastki bench --help          # the options of one command
""",
    "info": """\
examples:
  python -m fastki info
  python -m fastki info --json           # the same as fastki.info(), as JSON
""",
    "bench": """\
examples:
  python -m fastki bench                                   # 2**25 elements per fill
  python -m fastki bench --size 1000000 --repeat 3 --no-peers
  OMP_NUM_THREADS=4 python -m fastki bench --json > bench.json
  python -m fastki bench --busy --only-busy --splits       # threads on a busy machine

The exit status is 1 when some SIMD path or thread count gives other bytes than the NumPy
backend (that is a bug: please report it with the output of `python -m fastki info`).
""",
    "scale": """\
examples:
  python -m fastki scale                          # a 4 GiB tensor in a temporary directory
  python -m fastki scale --scale-gib 0.5 --scale-dir /tmp/fastki-scale --json
""",
}

_COMMANDS = {
    "info": "print what fastki.info() returns",
    "bench": "time fastki's fills against NumPy and peers (PyTorch, JAX, Keras)",
    "scale": "initialization at scale: a GPT-2-small-sized model and a multi-GiB Dask->Zarr "
             "write (needs torch, dask and zarr)",
}


class _Parser(argparse.ArgumentParser):
    """argparse's parser with errors on one line: `PROG: error: MESSAGE (see PROG --help)`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _arguments_of(command: str) -> Callable[[argparse.ArgumentParser], None]:
    """The function that adds the command's arguments; imports its module."""
    if command == "info":
        return _add_info_arguments
    if command == "bench":
        from .bench.fills import add_arguments
    else:
        from .bench.scale import add_arguments
    return add_arguments


def _command_of(argv: List[str]) -> Optional[str]:
    """The subcommand named in argv (the first word that is not an option), or None."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in _COMMANDS else None
    return None


def _parser(command: Optional[str]) -> Tuple[_Parser, Dict[str, _Parser]]:
    """The parser, with the arguments of `command` only (None: no subcommand's module), and
    the parser of each subcommand by name."""
    parser = _Parser(prog=_PROG, description=_DESCRIPTION, epilog=_EXAMPLES[None],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,bench,scale}",
                                parser_class=_Parser)
    subparsers: Dict[str, _Parser] = {}
    for name, help_text in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           epilog=_EXAMPLES[name],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == command:
            _arguments_of(name)(p)
        subparsers[name] = p
    return parser, subparsers


def _check(args: argparse.Namespace, parser: _Parser) -> None:
    """What argparse cannot see alone: options that need another option, values that
    fastki.options refuses, modules a command needs. Calls parser.error (exit 2)."""
    if args.command == "bench":
        from .bench.busy import flag_missing_busy

        flag = flag_missing_busy(args)
        if flag is not None:
            parser.error(f"argument {flag}: needs --busy")
        if args.threads is not None:
            import fastki

            try:
                with fastki.options(num_threads=args.threads):
                    pass
            except ValueError as exc:   # above the kernel's limit; fastki's own message
                parser.error(f"argument --threads: {exc}")
    elif args.command == "scale":
        import importlib.util

        from .bench.scale import NEEDS

        missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
        if missing:
            parser.error(f"scale needs {', '.join(NEEDS)}; not installed: {', '.join(missing)}")


def _info(args: argparse.Namespace) -> int:
    import fastki

    info = fastki.info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line on argv (default sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    if command == "bench" and "--scale" in argv:
        # the alias: `bench --scale [scale options]` is `scale [scale options]`
        argv = ["scale" if a == "bench" else a for a in argv if a != "--scale"]
        command = "scale"
    parser, subparsers = _parser(command)
    args = parser.parse_args(argv)
    sub = subparsers[args.command]
    _check(args, sub)
    if args.command == "info":
        return _info(args)
    if args.command == "bench":
        from .bench.fills import run
    else:
        from .bench.scale import run
    try:
        return run(args)
    except MemoryError as exc:
        print(f"{sub.prog}: error: out of memory ({exc}); try a smaller size", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{sub.prog}: interrupted", file=sys.stderr)
        return 130
