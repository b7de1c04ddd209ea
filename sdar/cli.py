"""The `sdar` command line. The only module that parses arguments, configures logging
and draws progress bars."""

from __future__ import annotations

import argparse
import sys

from sdar import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdar", description=__doc__)
    parser.add_argument("--version", action="version", version=f"sdar {__version__}")
    parser.add_subparsers(dest="command")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
