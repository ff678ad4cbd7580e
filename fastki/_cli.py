"""Command line: `python -m fastki info` and `python -m fastki bench`."""
import argparse
import json


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastki", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_info = sub.add_parser("info", help="print what fastki.info() returns")
    p_info.add_argument("--json", action="store_true", help="print JSON")
    p_bench = sub.add_parser("bench", help="time fastki's fills against NumPy and peers")
    from ._bench import add_arguments

    add_arguments(p_bench)
    args = parser.parse_args(argv)
    if args.command == "info":
        import fastki

        info = fastki.info()
        if args.json:
            print(json.dumps(info, indent=2))
        else:
            width = max(map(len, info))
            for key, value in info.items():
                print(f"{key:<{width}}  {value}")
        return 0
    from ._bench import run

    return run(args)
