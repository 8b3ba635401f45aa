# syntax=docker/dockerfile:1
# Production image. The build stage runs scripts/install.sh, the same set-up as `make run`, with
# the same locked Python packages (requirements/service.txt); the final stage carries its result
# (virtualenv, fonts, front-end packages) and runs as a non-root user. It holds no secret:
# SECRET_KEY and DATABASE_URL come from the environment, and so does PUBLIC_URL, without which
# production does not start. The HEALTHCHECK reaches /healthz at 127.0.0.1, which answers
# whatever the Host (every other path answers PUBLIC_URL's host only).

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml package.json package-lock.json ./
COPY requirements ./requirements
COPY scripts ./scripts
COPY app ./app
RUN scripts/install.sh

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fontconfig \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin campaign
WORKDIR /app
COPY --from=build /app/.venv ./.venv
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build ./build
COPY --from=build /app/app ./app
COPY pyproject.toml recipients.yaml campaign.yaml ./
COPY letter_templates ./letter_templates
COPY scripts/start.sh ./scripts/start.sh
RUN mkdir -p /data && chown campaign /data

ENV ENVIRONMENT=production \
    DATABASE_URL=sqlite:////data/letter-campaign.db \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1 \
    LOG_LEVEL=info \
    PYTHONDONTWRITEBYTECODE=1
USER campaign
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD [".venv/bin/python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["scripts/start.sh"]
