"""Command line: `python -m fastki info | bench | scale`.

Each subcommand's module is imported only when that subcommand runs: `info` needs nothing
beyond fastki itself, so it works wherever fastki imports (no POSIX-only module such as
`resource`); `bench` lives in fastki/bench/fills.py and `scale` in fastki/bench/scale.py, which share
their timing rule through fastki/bench/timing.py and never import each other.
`bench --scale` is kept as an alias of `scale`.
"""
import argparse
import json
import sys

_COMMANDS = {
    "info": "print what fastki.info() returns",
    "bench": "time fastki's fills against NumPy and peers (PyTorch, JAX, Keras)",
    "scale": "initialization at scale: a GPT-2-small-sized model and a multi-GiB Dask->Zarr "
             "write (needs torch, dask and zarr)",
}


def _add_info_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print JSON")


def _arguments_of(command):
    """The function that adds the command's arguments; imports its module."""
    if command == "info":
        return _add_info_arguments
    if command == "bench":
        from .bench.fills import add_arguments
    else:
        from .bench.scale import add_arguments
    return add_arguments


def _command_of(argv):
    """The subcommand named in argv (the first word that is not an option), or None."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in _COMMANDS else None
    return None


def _parser(command):
    """The parser, with the arguments of `command` only (None: no subcommand's module)."""
    parser = argparse.ArgumentParser(prog="python -m fastki", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,bench,scale}")
    for name, help_text in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            _arguments_of(name)(p)
    return parser


def _info(args):
    import fastki

    info = fastki.info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    if command == "bench" and "--scale" in argv:
        # the alias: `bench --scale [scale options]` is `scale [scale options]`
        argv = ["scale" if a == "bench" else a for a in argv if a != "--scale"]
        command = "scale"
    args = _parser(command).parse_args(argv)
    if args.command == "info":
        return _info(args)
    if args.command == "bench":
        from .bench.fills import run
    else:
        from .bench.scale import run
    return run(args)
