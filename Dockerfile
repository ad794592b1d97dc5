FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY emulator ./emulator
COPY protos ./protos
COPY fixtures ./fixtures
RUN pip install --no-cache-dir . && useradd --system emulator
USER emulator
EXPOSE 8080 50051
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz')"
ENTRYPOINT ["image-search-emulator", "--host", "0.0.0.0"]
