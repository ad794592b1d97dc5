"""Command line: ``image-search-emulator [serve flags]`` and ``... fixtures check DIR``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from ._server import Config, default_fixtures, serve
from .core import FixtureError, load_fixtures
from .core._journal import JOURNAL_SIZE
from .core._reload import DEFAULT_INTERVAL_S


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-search-emulator",
        description="Local emulator of the Yandex Search API's image search (v2 gRPC and "
                    "REST, v1 XML). Also: 'image-search-emulator fixtures check DIR'.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--http-port", type=int, default=8080, help="HTTP port (default %(default)s)")
    parser.add_argument("--grpc-port", type=int, default=50051, help="gRPC port (default %(default)s)")
    parser.add_argument("--fixtures", type=Path, metavar="DIR",
                        help="fixture directory (default: the built-in set)")
    parser.add_argument("--rate-limits", action=argparse.BooleanOptionalAction, default=None,
                        help="enforce the vendors' rate limits (default: as the fixtures say)")
    parser.add_argument("--journal-size", type=int, default=JOURNAL_SIZE, metavar="N",
                        help="requests the journal keeps (default %(default)s)")
    parser.add_argument("--admin-token", metavar="TOKEN",
                        default=os.environ.get("EMULATOR_ADMIN_TOKEN"),
                        help="require 'Authorization: Bearer TOKEN' on the admin API "
                             "(default: env EMULATOR_ADMIN_TOKEN, else none)")
    parser.add_argument("--reload-interval", type=float, default=DEFAULT_INTERVAL_S,
                        metavar="SECONDS",
                        help="check the fixture files for changes this often; 0 turns "
                             "watching off (default %(default)s)")
    return parser


def _check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="image-search-emulator fixtures check",
                                     description="Check a fixture directory without serving.")
    parser.add_argument("directory", type=Path, nargs="?", default=None,
                        help="fixture directory (default: the built-in set)")
    args = parser.parse_args(argv)
    directory = args.directory or default_fixtures()
    try:
        store = load_fixtures(directory)
    except FixtureError as exc:
        print(f"error: {exc.located(directory)}", file=sys.stderr)
        return 1
    print(f"ok: {directory}: {len(store.documents)} documents, "
          f"{len(store.rules.image_rules)} image rules, {len(store.rules.query_rules)} query rules, "
          f"{len(store.urls)} URLs")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fixtures"]:
        if argv[1:2] != ["check"]:
            print("usage: image-search-emulator fixtures check [DIR]", file=sys.stderr)
            return 2
        return _check(argv[2:])
    args = _serve_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.journal_size < 1:
        print("error: --journal-size must be at least 1", file=sys.stderr)
        return 2
    config = Config(host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
                    fixtures=args.fixtures, rate_limits=args.rate_limits,
                    journal_size=args.journal_size, admin_token=args.admin_token or None,
                    reload_interval=args.reload_interval or None)
    try:
        asyncio.run(serve(config))
    except FixtureError as exc:
        print(f"error: cannot start: {exc.located(config.fixtures or default_fixtures())}",
              file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
