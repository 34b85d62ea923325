# The acr-eci-operator image: the operator's distribution (pyproject.toml, operator/) on a slim base, run as
# a non-root user. The emulator (emulator/) and the local control plane (controlplane/) stay out of it.
#   docker build -t acr-eci-operator:0.1.0 .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml ./
COPY operator/ ./operator/
RUN pip install --no-cache-dir . \
    && rm -rf /src

RUN groupadd --system --gid 10001 operator \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin operator

WORKDIR /
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["acr-eci-operator", "run"]
