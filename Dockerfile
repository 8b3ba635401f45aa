# A first working image; deployment is hardened later (issue: production image).
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fontconfig nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .
RUN PYTHON=python3 scripts/install.sh

ENV DATABASE_URL=sqlite:////data/letter-campaign.db
VOLUME /data
EXPOSE 8000
CMD ["sh", "-c", ".venv/bin/letter-campaign migrate && exec .venv/bin/letter-campaign serve --host 0.0.0.0 --port 8000"]
