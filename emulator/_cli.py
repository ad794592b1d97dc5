"""Command line: ``image-search-emulator [serve flags]``, ``... ready [flags]``,
``... record [flags]`` and ``... fixtures check [--secrets] DIR``.

Every serve flag comes from :data:`emulator._config.OPTIONS`, with an ``EMULATOR_*``
variable and a config-file key of the same name; see docs/configuration.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from . import _logs
from ._config import CONFIG_ENV, OPTIONS, Config, ConfigError, Option, resolve
from ._server import default_fixtures, serve, start_failure
from .core import FixtureError, load_fixtures

DESCRIPTION = ("Local emulator of the Yandex Search API's image search (v2 gRPC and REST, "
               "v1 XML). Every flag can also be set as an EMULATOR_* variable or in a config "
               "file; flags win over the environment, which wins over the file. Also: "
               "'image-search-emulator ready', 'image-search-emulator record' (a recording proxy "
               "in front of the real APIs) and 'image-search-emulator fixtures check "
               "[--secrets] DIR'.")


def _flag_type(option: Option):
    def parse(text: str):
        try:
            return option.from_text(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help=f"TOML (.toml) or JSON config file (also ${CONFIG_ENV})")
    for option in OPTIONS:
        env = f" [${option.env}]"
        if option.kind == "bool":
            parser.add_argument(option.flag, action=argparse.BooleanOptionalAction, default=None,
                                help=option.help + env)
            continue
        parser.add_argument(option.flag, type=_flag_type(option), default=None,
                            metavar=option.metavar, help=option.help + env)


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="image-search-emulator", description=DESCRIPTION)
    _add_options(parser)
    return parser


def _config(args: argparse.Namespace) -> Config:
    flags = {option.name: getattr(args, option.name) for option in OPTIONS}
    return resolve(flags, os.environ, args.config)


def _check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="image-search-emulator fixtures check",
                                     description="Check a fixture directory without serving.")
    parser.add_argument("directory", type=Path, nargs="?", default=None,
                        help="fixture directory (default: the built-in set)")
    parser.add_argument("--secrets", action="store_true",
                        help="also fail when a value a recording saw as a secret (listed as "
                             "salted digests in its recording.json) appears in the directory")
    args = parser.parse_args(argv)
    directory = args.directory or default_fixtures()
    if args.secrets:
        from .record import CheckError, find_secrets

        try:
            found = find_secrets(directory)
        except CheckError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for name, placeholder in found:
            print(f"error: {directory / name}: holds the secret written elsewhere as "
                  f"{placeholder}", file=sys.stderr)
        if found:
            return 1
    try:
        store = load_fixtures(directory)
    except FixtureError as exc:
        print(f"error: {exc.located(directory)}", file=sys.stderr)
        return 1
    print(f"ok: {directory}: {len(store.documents)} documents, "
          f"{len(store.rules.image_rules)} image rules, {len(store.rules.query_rules)} query rules, "
          f"{len(store.urls)} URLs, {len(store.engines)} catalog engines "
          f"({sum(len(e.catalog) for e in store.engines.values())} items)")
    return 0


def _ready(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="image-search-emulator ready",
        description="Exit 0 if the emulator configured as these flags, EMULATOR_* variables "
                    "and config file say answers /readyz and gRPC health; 1 if not.")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per check")
    _add_options(parser)
    args = parser.parse_args(argv)
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from . import _probe  # only the ready check needs an HTTP and a gRPC client

    found = _probe.problems(config, args.timeout)
    for problem in found:
        print(f"not ready: {problem}", file=sys.stderr)
    if not found:
        print("ready")
    return 1 if found else 0


def _serve(argv: list[str]) -> int:
    args = _serve_parser().parse_args(argv)
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop_logs = _logs.configure(config.log_format, config.log_level)
    try:
        if config.workers > 1:
            from . import _workers

            return _workers.run(config)
        asyncio.run(serve(config))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        reason = start_failure(exc, config)
        if reason is None:
            raise
        print(f"error: cannot start: {reason}", file=sys.stderr)
        return 1
    finally:
        stop_logs()
    return 0


def _record(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="image-search-emulator record",
        description="Forward the Yandex (v2 REST and gRPC, v1 XML) and Doofinder v6 calls "
                    "clients send "
                    "here to the real APIs, answer with what they answer, and write the "
                    "answers as fixtures (credentials redacted). See docs/recording.md.")
    _add_options(parser)
    parser.add_argument("--out", dest="out", type=Path, default=None, metavar="DIR",
                        help="the same as --record-out")
    args = parser.parse_args(argv)
    if args.out is not None:
        args.record_out = args.out
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if config.record_out is None:
        print("error: record needs --out DIR (or --record-out, $EMULATOR_RECORD_OUT)",
              file=sys.stderr)
        return 2
    if config.yandex_upstream is None and config.doofinder_upstream is None \
            and config.yandex_grpc_upstream is None:
        print("error: record needs --yandex-upstream URL, --doofinder-upstream URL, "
              "--yandex-grpc-upstream HOST:PORT or several of them",
              file=sys.stderr)
        return 2
    from . import record

    stop_logs = _logs.configure(config.log_format, config.log_level)
    try:
        asyncio.run(record.serve(config))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_logs()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["record"]:
        return _record(argv[1:])
    if argv[:1] == ["fixtures"]:
        if argv[1:2] != ["check"]:
            print("usage: image-search-emulator fixtures check [DIR]", file=sys.stderr)
            return 2
        return _check(argv[2:])
    if argv[:1] == ["ready"]:
        return _ready(argv[1:])
    return _serve(argv)
