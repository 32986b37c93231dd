# TSOps production image: one image for web (gunicorn), the Celery worker, beat and migrations.
# docker-compose.yml shows how the services use it; no secrets are baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=tsops.settings \
    TSOPS_ENV=production \
    STATIC_ROOT=/app/staticfiles \
    TSOPS_MEDIA_ROOT=/app/var/media \
    PORT=8000

RUN groupadd --system --gid 10001 tsops \
    && useradd --system --uid 10001 --gid tsops --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin tsops

WORKDIR /app

# Dependencies first, so that a code change doesn't reinstall them.
COPY requirements.lock ./
# pdqhash (PDQ hashes of media evidence) is built from source: a compiler for the install only,
# removed in the same layer. WeasyPrint (investigation reports as PDF) needs Pango and a font.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
       libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && pip install -r requirements.lock \
    && apt-get purge -y --auto-remove g++ \
    && rm -rf /var/lib/apt/lists/*

COPY . .

# Static files are collected at build time (whitenoise serves them with hashed names).
# Settings refuse to load in production without their secrets; these placeholders exist
# only for this one command and are not kept in the image.
RUN SECRET_KEY="collectstatic-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    IDENTIFIER_HASH_KEY=collectstatic-only \
    DATABASE_URL=postgres://build@db.invalid/build \
    REDIS_URL=redis://redis.invalid:6379/0 \
    ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q tsops cases enforcement appeals qa escalations metrics \
    && mkdir -p /app/var \
    && chown tsops:tsops /app/var

USER tsops:tsops
EXPOSE 8000

# The web process; docker-compose.yml runs the worker, beat and migrate from the same image.
# Worker processes: WEB_CONCURRENCY (gunicorn reads it), default 3.
ENV WEB_CONCURRENCY=3
CMD ["sh", "-c", "exec gunicorn tsops.wsgi:application --bind 0.0.0.0:${PORT} --threads 2 --timeout 60 --graceful-timeout 30 --access-logfile - --error-logfile -"]
