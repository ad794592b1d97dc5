"""What the shared-state tests share: a real redis-server of each module's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.redisserver import RedisServer, redis_server


@pytest.fixture(scope="module")
def redis(tmp_path_factory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server
