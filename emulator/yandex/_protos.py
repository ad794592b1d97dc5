"""The Yandex protobuf types, compiled from ``protos/`` when the emulator starts.

``protos/`` is the single source: no generated code is kept anywhere, so nothing can go
stale, and the code always matches the installed protobuf runtime. The descriptors live in
a private pool, so they never clash with the vendor's own generated modules (the official
SDKs) imported into the same process.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from typing import Any
from functools import lru_cache
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from .._resources import bundled
from ..core import _diskcache

PACKAGE = "yandex.cloud.searchapi.v2"
SERVICE = f"{PACKAGE}.ImageSearchService"
PROTO_FILES = (
    "yandex/cloud/searchapi/v2/search_query.proto",
    "yandex/cloud/searchapi/v2/img_search_service.proto",
)


def compile_protos(root: Path | None = None) -> descriptor_pb2.FileDescriptorSet:
    """Run protoc (in-process, from grpcio-tools) over ``protos/``; the descriptor set it
    writes is kept in the start-up cache under the digest of every ``.proto`` file and of the
    protoc and protobuf versions, so a later launch neither imports protoc (some 60 ms) nor
    runs it."""
    root = root or bundled("protos")
    key = _descriptor_key(root)
    cached = _diskcache.load(_CACHE_KIND, key)
    if cached is not None:
        with contextlib.suppress(DecodeError):
            return descriptor_pb2.FileDescriptorSet.FromString(cached)
    from grpc_tools import protoc  # only on a first launch: importing it costs some 60 ms

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "descriptors.pb"
        status = protoc.main(["protoc", f"--proto_path={root}", f"--descriptor_set_out={out}",
                              "--include_imports", *PROTO_FILES])
        if status != 0:
            raise RuntimeError(f"protoc failed on {root} (exit {status})")
        data = out.read_bytes()
    _diskcache.store(_CACHE_KIND, key, data)
    return descriptor_pb2.FileDescriptorSet.FromString(data)


_CACHE_KIND = "protos"


def _descriptor_key(root: Path) -> str:
    """What protoc's output depends on: the sources (the well-known types come from the
    grpcio-tools release, named by its version) and the two versions."""
    from google.protobuf import __version__ as protobuf_version
    from grpc_tools.grpc_version import VERSION as protoc_version  # a constant, no protoc

    sources = sorted(root.rglob("*.proto"))
    return _diskcache.key_of(protoc_version.encode(), protobuf_version.encode(),
                             *(part for path in sources for part in (
                                 path.relative_to(root).as_posix().encode(), path.read_bytes())))


@dataclass(frozen=True)
class Protos:
    pool: descriptor_pool.DescriptorPool
    # message classes made at start-up from the descriptors, so their fields are not typed
    ImageSearchRequest: Any
    ImageSearchResponse: Any
    ImageSearchByImageRequest: Any
    ImageSearchByImageResponse: Any
    ImageSpec: Any
    SearchQuery: Any

    def add_file(self, file) -> None:
        """Make another file's services and types (health, reflection, google.rpc) visible
        to reflection through this pool; ``file`` is a FileDescriptor, dependencies first."""
        try:
            self.pool.FindFileByName(file.name)
            return
        except KeyError:
            pass
        for dependency in file.dependencies:
            self.add_file(dependency)
        self.pool.Add(descriptor_pb2.FileDescriptorProto.FromString(file.serialized_pb))


@lru_cache(maxsize=1)
def load() -> Protos:
    pool = descriptor_pool.DescriptorPool()
    for file in compile_protos().file:
        pool.Add(file)

    def message(name: str) -> type:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))

    return Protos(
        pool=pool,
        ImageSearchRequest=message("ImageSearchRequest"),
        ImageSearchResponse=message("ImageSearchResponse"),
        ImageSearchByImageRequest=message("ImageSearchByImageRequest"),
        ImageSearchByImageResponse=message("ImageSearchByImageResponse"),
        ImageSpec=message("ImageSpec"),
        SearchQuery=message("SearchQuery"),
    )
