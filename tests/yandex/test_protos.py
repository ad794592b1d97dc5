"""protos/ is the single source of the Yandex types: what the server reflects is a fresh
compile of protos/, no generated code is kept, and the messages match the contract tables."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from support.server import ROOT
from emulator.yandex import _protos

F = descriptor_pb2.FieldDescriptorProto

#: (message, field, number, type, label/oneof) from the vendor's API v2 reference
CONTRACT_FIELDS = [
    ("ImageSearchByImageRequest", "site", 1, F.TYPE_STRING, None),
    ("ImageSearchByImageRequest", "folder_id", 2, F.TYPE_STRING, None),
    ("ImageSearchByImageRequest", "url", 3, F.TYPE_STRING, "image"),
    ("ImageSearchByImageRequest", "data", 4, F.TYPE_BYTES, "image"),
    ("ImageSearchByImageRequest", "id", 5, F.TYPE_STRING, "image"),
    ("ImageSearchByImageRequest", "page", 6, F.TYPE_INT64, None),
    ("ImageSearchByImageRequest", "family_mode", 7, F.TYPE_ENUM, None),
    ("ImageSearchByImageResponse", "images", 1, F.TYPE_MESSAGE, None),
    ("ImageSearchByImageResponse", "page", 2, F.TYPE_INT64, None),
    ("ImageSearchByImageResponse", "max_page", 3, F.TYPE_INT64, None),
    ("ImageSearchByImageResponse", "id", 4, F.TYPE_STRING, None),
    ("ImageSearchByImageResponse.ImageInfo", "url", 1, F.TYPE_STRING, None),
    ("ImageSearchByImageResponse.ImageInfo", "format", 2, F.TYPE_ENUM, None),
    ("ImageSearchByImageResponse.ImageInfo", "width", 3, F.TYPE_INT64, None),
    ("ImageSearchByImageResponse.ImageInfo", "height", 4, F.TYPE_INT64, None),
    ("ImageSearchByImageResponse.ImageInfo", "passage", 5, F.TYPE_STRING, None),
    ("ImageSearchByImageResponse.ImageInfo", "host", 6, F.TYPE_STRING, None),
    ("ImageSearchByImageResponse.ImageInfo", "page_title", 7, F.TYPE_STRING, None),
    ("ImageSearchByImageResponse.ImageInfo", "page_url", 8, F.TYPE_STRING, None),
    ("ImageSearchRequest", "query", 1, F.TYPE_MESSAGE, None),
    ("ImageSearchRequest", "image_spec", 2, F.TYPE_MESSAGE, None),
    ("ImageSearchRequest", "site", 3, F.TYPE_STRING, None),
    ("ImageSearchRequest", "docs_on_page", 4, F.TYPE_INT64, None),
    ("ImageSearchRequest", "folder_id", 5, F.TYPE_STRING, None),
    ("ImageSearchRequest", "user_agent", 6, F.TYPE_STRING, None),
    ("ImageSearchResponse", "raw_data", 1, F.TYPE_BYTES, None),
    ("SearchQuery", "search_type", 1, F.TYPE_ENUM, None),
    ("SearchQuery", "query_text", 2, F.TYPE_STRING, None),
    ("SearchQuery", "family_mode", 3, F.TYPE_ENUM, None),
    ("SearchQuery", "page", 4, F.TYPE_INT64, None),
    ("SearchQuery", "fix_typo_mode", 5, F.TYPE_ENUM, None),
    ("ImageSpec", "format", 1, F.TYPE_ENUM, None),
    ("ImageSpec", "size", 2, F.TYPE_ENUM, None),
    ("ImageSpec", "orientation", 3, F.TYPE_ENUM, None),
    ("ImageSpec", "color", 4, F.TYPE_ENUM, None),
]

CONTRACT_ENUMS = {
    "ImageSpec.ImageFormat": ["UNSPECIFIED", "JPEG", "GIF", "PNG"],
    "ImageSpec.ImageOrientation": ["UNSPECIFIED", "VERTICAL", "HORIZONTAL", "SQUARE"],
    "ImageSpec.ImageSize": ["UNSPECIFIED", "ENORMOUS", "LARGE", "MEDIUM", "SMALL", "TINY",
                            "WALLPAPER"],
    "ImageSpec.ImageColor": ["UNSPECIFIED", "COLOR", "GRAYSCALE", "RED", "ORANGE", "YELLOW",
                             "GREEN", "CYAN", "BLUE", "VIOLET", "WHITE", "BLACK"],
    "SearchQuery.FamilyMode": ["UNSPECIFIED", "NONE", "MODERATE", "STRICT"],
    "SearchQuery.SearchType": ["UNSPECIFIED", "RU", "TR", "COM", "KK", "BE", "UZ"],
    "SearchQuery.FixTypoMode": ["UNSPECIFIED", "ON", "OFF"],
}
PREFIXES = {"ImageFormat": "IMAGE_FORMAT", "ImageOrientation": "IMAGE_ORIENTATION",
            "ImageSize": "IMAGE_SIZE", "ImageColor": "IMAGE_COLOR", "FamilyMode": "FAMILY_MODE",
            "SearchType": "SEARCH_TYPE", "FixTypoMode": "FIX_TYPO_MODE"}


def test_reflection_serves_a_fresh_compile_of_protos(server):
    fresh = {f.name: f for f in _protos.compile_protos(ROOT / "protos").file}
    with grpc.insecure_channel(server.grpc) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        served = database.FindFileContainingSymbol(_protos.SERVICE)
        assert served == fresh[served.name]
        for dependency in served.dependency:
            assert database.FindFileByName(dependency) == fresh[dependency]


def _compile_in_a_new_process(cache: str, root) -> tuple[bytes, bool]:
    """The serialized descriptor set another process compiles, and whether it imported protoc."""
    code = ("import sys; from pathlib import Path; from emulator.yandex import _protos; "
            "data = _protos.compile_protos(Path(sys.argv[1])).SerializeToString(); "
            "sys.stdout.write(repr(('grpc_tools.protoc' in sys.modules, data)))")
    done = subprocess.run([sys.executable, "-c", code, str(root)], cwd=ROOT, check=True,
                          capture_output=True, text=True,
                          env={**os.environ, "EMULATOR_CACHE_DIR": cache})
    imported, data = ast.literal_eval(done.stdout)
    return data, imported


def test_a_later_launch_reads_the_compiled_protos_from_the_start_up_cache(tmp_path):
    cache = str(tmp_path / "cache")
    first, ran_protoc = _compile_in_a_new_process(cache, ROOT / "protos")
    assert ran_protoc
    second, ran_again = _compile_in_a_new_process(cache, ROOT / "protos")
    assert second == first and not ran_again
    assert second == _protos.compile_protos(ROOT / "protos").SerializeToString()
    # another proto source is another key: protoc runs again, and its answer is not the old one
    changed = tmp_path / "protos"
    shutil.copytree(ROOT / "protos", changed)
    query = changed / "yandex/cloud/searchapi/v2/search_query.proto"
    query.write_text(query.read_text() + "\nmessage Extra { string note = 1; }\n")
    third, ran_for_change = _compile_in_a_new_process(cache, changed)
    assert ran_for_change and third != first
    # a damaged entry is compiled again, never served
    for entry in (tmp_path / "cache" / "protos").iterdir():
        entry.write_bytes(b"\xff not a descriptor set")
    fourth, ran_for_damage = _compile_in_a_new_process(cache, ROOT / "protos")
    assert ran_for_damage and fourth == first


def test_protos_compile_with_the_start_up_cache_off(tmp_path):
    data, ran_protoc = _compile_in_a_new_process("off", ROOT / "protos")
    assert ran_protoc and data == _protos.compile_protos(ROOT / "protos").SerializeToString()


def test_no_generated_code_is_kept_in_the_repository():
    kept = [p for p in ROOT.rglob("*_pb2*.py")
            if not {".venv", "site-packages", "build"} & set(p.parts)]
    assert kept == []


@pytest.mark.parametrize("message,field,number,kind,oneof", CONTRACT_FIELDS)
def test_fields_match_the_contract(message, field, number, kind, oneof):
    descriptor = _protos.load().pool.FindMessageTypeByName(f"{_protos.PACKAGE}.{message}")
    fd = descriptor.fields_by_name[field]
    assert (fd.number, fd.type) == (number, kind)
    assert (fd.containing_oneof.name if fd.containing_oneof else None) == oneof


@pytest.mark.parametrize("enum,values", CONTRACT_ENUMS.items())
def test_enums_match_the_contract(enum, values):
    descriptor = _protos.load().pool.FindEnumTypeByName(f"{_protos.PACKAGE}.{enum}")
    prefix = PREFIXES[enum.split(".")[1]]
    assert [(v.name, v.number) for v in descriptor.values] == [
        (f"{prefix}_{name}", number) for number, name in enumerate(values)]


def test_service_paths():
    service = _protos.load().pool.FindServiceByName(_protos.SERVICE)
    assert {m.name: (m.input_type.name, m.output_type.name) for m in service.methods} == {
        "Search": ("ImageSearchRequest", "ImageSearchResponse"),
        "SearchByImage": ("ImageSearchByImageRequest", "ImageSearchByImageResponse"),
    }


@pytest.mark.parametrize("service", ["grpc.reflection.v1alpha.ServerReflection",
                                     "grpc.reflection.v1.ServerReflection"])
def test_reflection_answers_on_v1alpha_and_v1(server, service):
    from grpc_reflection.v1alpha import reflection_pb2

    with grpc.insecure_channel(server.grpc) as channel:
        call = channel.stream_stream(
            f"/{service}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        [reply] = list(call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                            timeout=10))
    names = {s.name for s in reply.list_services_response.service}
    assert {_protos.SERVICE, "grpc.health.v1.Health"} <= names
