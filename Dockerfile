# tpns-mock as a service: `docker compose up` (see docker-compose.yml and README.md).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/tpns-mock
COPY pyproject.toml README.md ./
COPY mock_server ./mock_server
COPY client ./client

# install, then drop the sources' write bits for everyone: the server runs as an unprivileged
# user that owns nothing but its data dir
RUN pip install . \
    && useradd --uid 10001 --no-create-home --user-group --home-dir /nonexistent --shell /usr/sbin/nologin tpns \
    && mkdir -p /data \
    && chown tpns:tpns /data

# inside the container the mock listens on every interface; docker-compose.yml publishes it on
# the host's loopback only
ENV TPNS_MOCK_HOST=0.0.0.0 \
    TPNS_MOCK_PORT=8080 \
    TPNS_MOCK_DATA_DIR=/data

VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001

# no curl in a slim image: the probe is Python's urllib, and it follows TPNS_MOCK_PORT
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "tpns_mock.healthcheck"]

ENTRYPOINT ["tpns-mock"]
