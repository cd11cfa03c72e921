# Multi-stage image for the api, worker and init services of compose.yaml.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ugc ugc
COPY ugc_cli ugc_cli
COPY ingest_api ingest_api
COPY streams streams
COPY schemas schemas
COPY sinks sinks
COPY infra infra
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 ugc
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER ugc
WORKDIR /home/ugc
EXPOSE 8001 6066 6067
CMD ["uvicorn", "ingest_api.main:app_factory", "--factory", "--host", "0.0.0.0", "--port", "8001", "--timeout-keep-alive", "75"]
