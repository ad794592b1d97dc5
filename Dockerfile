# image-search-emulator: docker build -t image-search-emulator .
#   docker run --rm -p 8080:8080 -p 50051:50051 image-search-emulator
# Own fixtures: -v "$PWD/my-fixtures:/fixtures:ro". Settings: EMULATOR_* variables or flags
# after the image name (see docs/configuration.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md /tmp/src/
COPY emulator /tmp/src/emulator
COPY protos /tmp/src/protos
COPY fixtures /tmp/src/fixtures
RUN pip install --no-cache-dir /tmp/src \
    && rm -rf /tmp/src \
    && groupadd --system --gid 10001 emulator \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin emulator

# The fixture directory has a fixed path: the built-in set, unless a volume is mounted here.
COPY fixtures /fixtures
WORKDIR /fixtures

# Every interface inside the container; the fixtures at their fixed path.
ENV EMULATOR_HOST=0.0.0.0 \
    EMULATOR_FIXTURES=/fixtures \
    EMULATOR_CACHE_DIR=/tmp/image-search-emulator-cache

USER 10001:10001
# HTTP, gRPC, and (with EMULATOR_TLS=true) HTTPS and gRPC over TLS
EXPOSE 8080 50051 8443 50052
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["image-search-emulator", "ready", "--timeout", "3"]
ENTRYPOINT ["image-search-emulator"]
