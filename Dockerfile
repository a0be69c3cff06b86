# mlaudit service image: gunicorn serving app:create_app() against DATABASE_URL.
# Build: docker build -t mlaudit .   Run: deploy/compose.yaml, with nginx in front
# (deploy/nginx.conf): never publish gunicorn's port to clients, since clients sending a
# byte a second hold its threads (docs/reliability.md, "Slow clients").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLAUDIT_HOME=/var/lib/mlaudit \
    PROMETHEUS_MULTIPROC_DIR=/dev/shm/mlaudit-metrics

RUN useradd --system --home-dir /var/lib/mlaudit --create-home --uid 10001 mlaudit

WORKDIR /opt/mlaudit
COPY pyproject.toml README.md schema.sql ./
COPY app ./app
COPY reports ./reports
COPY verifier ./verifier
RUN pip install --no-cache-dir -e .

USER mlaudit
VOLUME ["/var/lib/mlaudit"]
EXPOSE 8000

# DATABASE_URL must be set: the image never starts an embedded database.
# app/gunicorn_conf.py: graceful drain on SIGTERM (docker stop), services closed per worker,
# metrics summed over workers (PROMETHEUS_MULTIPROC_DIR); the app logs each request as JSON
# on stderr, so gunicorn's own access log is off. docker stop waits 10 s by default: give it
# --time / stop_grace_period of at least gunicorn's graceful_timeout (30 s) plus a margin.
CMD ["sh", "-c", ": \"${DATABASE_URL:?set DATABASE_URL}\" && exec gunicorn -c python:app.gunicorn_conf --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-2} --threads ${MLAUDIT_THREADS:-8} --worker-tmp-dir /dev/shm 'app:create_app()'"]
