# syntax=docker/dockerfile:1
# One container serving HTTP, WebSocket chat, the widget and the dashboard.
#   docker build -t chatbot .
#   docker run -p 8000:8000 -v chatbot-data:/data -e CHATBOT_SECRET_KEY=... chatbot
# SQLite lives in the /data volume; set CHATBOT_DATABASE_URL and CHATBOT_REDIS_URL to scale out
# (see docker-compose.yml and docs/deployment.md).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY chatbot ./chatbot
# The README's install (`make demo` runs `pip install -e .` in .venv), without the editable link.
RUN pip install .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 chatbot \
    && useradd --system --uid 10001 --gid chatbot --home-dir /app --shell /usr/sbin/nologin chatbot \
    && mkdir -p /data \
    && chown chatbot:chatbot /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY static ./static
COPY config.yaml ./config.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CHATBOT_CONFIG=/app/config.yaml \
    CHATBOT_STATIC_DIR=/app/static \
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
