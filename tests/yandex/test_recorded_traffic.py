"""Replays of the vendor's recorded live traffic (tests/vendor/): our protos read the
recorded messages field for field, and the emulator answers the recorded calls with the
recorded responses (the default fixtures hold that call)."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import json_format

from support.server import VENDOR
from emulator.yandex._protos import load

RECORDING = VENDOR / "yandex-v2-search-by-image-recorded.json"
PROTOS = load()
METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"


def recorded_calls() -> list[tuple[dict, dict]]:
    interactions = json.loads(RECORDING.read_text())["interactions"]
    return [(i["request"]["message"], i["response"]["message"]) for i in interactions
            if i["request"]["cls"] == "ImageSearchByImageRequest"]


CALLS = recorded_calls()


def test_the_recording_holds_calls_by_url_and_by_id():
    assert [sorted(request) for request, _ in CALLS] == [["folderId", "url"],
                                                        ["folderId", "id", "page"]]


@pytest.mark.parametrize("index", range(len(CALLS)))
def test_our_protos_read_the_recorded_messages_exactly(index):
    request, response = CALLS[index]
    for message_type, recorded in ((PROTOS.ImageSearchByImageRequest, request),
                                   (PROTOS.ImageSearchByImageResponse, response)):
        parsed = json_format.ParseDict(recorded, message_type())  # unknown fields would raise
        assert json_format.MessageToDict(parsed) == recorded


@pytest.mark.parametrize("index", range(len(CALLS)))
def test_the_emulator_answers_the_recorded_call_with_the_recorded_images(server, index):
    request, response = CALLS[index]
    message = json_format.ParseDict(request, PROTOS.ImageSearchByImageRequest())
    with grpc.insecure_channel(server.grpc) as channel:
        call = channel.unary_unary(METHOD, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=PROTOS.ImageSearchByImageResponse.FromString)
        answer = call(message, metadata=(("authorization", "Api-Key recorded"),), timeout=10)
    ours = json_format.MessageToDict(answer)
    assert ours["images"] == response["images"]  # every field of all 40, in order
    assert ours["id"] == response["id"]
    assert ours.get("page") == response.get("page")
