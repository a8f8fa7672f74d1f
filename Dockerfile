# One image for every minewatch service (collector, analyzer, api, simulator): the command differs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/minewatch

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p minewatch && touch minewatch/__init__.py \
 && pip install . && pip uninstall -y minewatch && rm -rf minewatch build

# Editable: shipped data (device_profiles/, compliance_profiles/) is found next to the source tree.
COPY . .
RUN pip install --no-deps -e . \
 && useradd --system --uid 10001 --home-dir /var/lib/minewatch minewatch \
 && mkdir -p /var/lib/minewatch /etc/minewatch && chown minewatch /var/lib/minewatch

USER minewatch
VOLUME ["/var/lib/minewatch"]
EXPOSE 8000
ENTRYPOINT ["minewatch"]
CMD ["--help"]
