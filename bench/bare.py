"""The ceiling: a bare aiohttp handler and a bare ``grpc.aio`` handler in one process.

    python bench/bare.py --canned DIR/canned.json --http-port P [--grpc-port G]

Each handler reads the whole request, as the emulator does, and answers the canned body
(and headers) the emulator answered to the same request, picked by path and request size:
same bytes on the wire, none of the work. Nothing else is imported (gRPC only when asked
for), so its start-up is what a Python process serving aiohttp costs at the least.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from aiohttp import web


def _table(entries: list[dict], base: Path) -> dict[tuple[str, int], dict]:
    """(path, request bytes) -> the canned answer; request bytes -1 matches any size."""
    return {(e["path"], e["request_bytes"]): {**e, "body": (base / e["body_file"]).read_bytes()}
            for e in entries}


def _pick(table: dict[tuple[str, int], dict], path: str, size: int) -> dict | None:
    return table.get((path, size)) or table.get((path, -1))


def http_app(table: dict[tuple[str, int], dict]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        canned = _pick(table, request.path, len(body))
        if canned is None:
            return web.Response(status=404)
        return web.Response(body=canned["body"], status=canned["status"],
                            content_type=canned["content_type"],
                            headers=[tuple(h) for h in canned["headers"]])

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def grpc_server(table: dict[tuple[str, int], dict], address: str):
    import grpc

    class Generic(grpc.GenericRpcHandler):
        def service(self, details):
            if not any(path == details.method for path, _ in table):
                return None
            method = details.method

            async def handle(raw: bytes, context) -> bytes:
                canned = _pick(table, method, len(raw))
                await context.send_initial_metadata([tuple(m) for m in canned["headers"]])
                return canned["body"]

            return grpc.unary_unary_rpc_method_handler(handle)  # bytes in, bytes out

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 * 1024 * 1024),
                                      ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((Generic(),))
    server.add_insecure_port(address)
    await server.start()
    return server


async def serve(args: argparse.Namespace) -> None:
    manifest = json.loads(args.canned.read_text())
    base = args.canned.parent
    runner = web.AppRunner(http_app(_table(manifest["http"], base)), access_log=None,
                           handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.http_port).start()
    grpc = None
    if args.grpc_port:
        grpc = await grpc_server(_table(manifest["grpc"], base), f"{args.host}:{args.grpc_port}")
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    if grpc is not None:
        await grpc.stop(grace=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canned", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, default=0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
