# One image for every minewatch service (collector, analyzer, api, simulator): the command differs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/minewatch

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p minewatch && touch minewatch/__init__.py \
 && pip install . && pip uninstall -y minewatch && rm -rf minewatch build

# A normal install: shipped data (profiles, examples, schemas) is package data of the wheel.
COPY . .
RUN pip install --no-deps . && rm -rf build \
 && useradd --system --uid 10001 --home-dir /var/lib/minewatch minewatch \
 && mkdir -p /var/lib/minewatch /etc/minewatch && chown minewatch /var/lib/minewatch

USER minewatch
VOLUME ["/var/lib/minewatch"]
EXPOSE 8000
ENTRYPOINT ["minewatch"]
CMD ["--help"]
