# Kakatong (卡卡通) appliance image: python app.py, HTTP on port 8000 (waitress) and HTTPS on
# 8443 (cheroot, same process), everything it keeps (SQLite database, secret_key, pin_pepper,
# offline_seal.pem, tls/: the shop's CA, backups/) in the volume /app/data, and a copy of
# each backup in /backup, where the owner mounts a second disk (a USB stick, a NAS share).
#
#   docker build -t kakatong .
#   docker run -d --name kakatong -p 8000:8000 -p 8443:8443 -v kakatong-data:/app/data \
#       -v /mnt/usb/kakatong:/backup \
#       -e KAKATONG_TLS_NAMES=<the box's LAN address> --restart unless-stopped kakatong
#
# See docs/deploy.md (owner password, devices, backups, upgrades). Build with podman/buildah
# using `--format docker`, or the HEALTHCHECK is dropped. CI builds and smoke-tests this file
# with buildah (.ci/container).

FROM debian:bookworm-slim

# Debian 12's python3 is 3.11, the version the project targets. tzdata: KAKATONG_TZ
# (Asia/Shanghai by default) is resolved with zoneinfo against the system's zone files.
# sqlite3: the command-line shell, to look into a database by hand (backups are
# `flask --app app backup`, automatic, in data/backups and /backup).
# libusb-1.0-0: usb:// receipt printers (pyusb). fonts-wqy-microhei: a Chinese font for the
# printer's image mode (printers without Chinese fonts get each slip as a picture).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv tzdata sqlite3 libusb-1.0-0 fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Only the runtime part of requirements.txt: everything above its "# Tests" line
# (pytest, hypothesis, requests and ruff stay out of the image). Copied on its own so the
# dependency layer is rebuilt only when requirements.txt changes. pip and setuptools are
# removed again in the same layer: nothing imports them at run time (-25 MB).
COPY requirements.txt /tmp/requirements.txt
RUN grep -q '^# Tests' /tmp/requirements.txt \
        || { echo 'requirements.txt: no "# Tests" line to split runtime from test packages' >&2; exit 1; } \
    && sed '/^# Tests/,$d' /tmp/requirements.txt > /tmp/requirements-runtime.txt \
    && python3 -m venv /opt/venv \
    && PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        pip install -r /tmp/requirements-runtime.txt \
    && pip uninstall -y -q setuptools pip \
    && rm /tmp/requirements.txt /tmp/requirements-runtime.txt

# A fixed uid/gid, so a bind-mounted data directory can be chowned to it on the host.
# dialout and lp: a serial card reader or printer (/dev/ttyUSB0) and a USB printer
# (/dev/usb/lp0) passed in with --device keep the host's groups, which on Debian and Ubuntu
# have these numbers (20, 7); elsewhere add the host's group with --group-add.
RUN groupadd --system --gid 10001 kakatong \
    && useradd --system --uid 10001 --gid kakatong --groups dialout,lp --home-dir /app \
        --no-create-home --shell /usr/sbin/nologin kakatong

WORKDIR /app
# The code belongs to root and is read-only for the service; only /app/data is writable.
# (Config.ROOT is this directory: templates/, static/ and translations/ are found beside
# kakatong/.)
COPY app.py ./
COPY kakatong/ kakatong/
COPY templates/ templates/
COPY static/ static/
COPY translations/ translations/
# /backup: the mount point for the second place of the backups (KAKATONG_BACKUP_DIR). Not a
# VOLUME: an anonymous volume would sit on the same disk as /app/data and be lost with the
# container; unmounted, /backup is part of the container and the app warns that the second
# place is missing.
RUN python -m compileall -q app.py kakatong \
    && mkdir -p /app/data /backup \
    && chown kakatong:kakatong /app/data /backup \
    && chmod 0700 /app/data /backup

ENV KAKATONG_DATA_DIR=/app/data \
    KAKATONG_BACKUP_DIR=/backup \
    KAKATONG_HOST=0.0.0.0 \
    KAKATONG_PORT=8000 \
    KAKATONG_HTTPS_PORT=8443 \
    FLASK_APP=app

# Declared after the chown: a fresh named volume starts owned by kakatong.
VOLUME ["/app/data"]
USER kakatong
EXPOSE 8000 8443

# /readyz: 200 while the database opens and is writable, the disk has room and the last
# backup is recent; 503 (an HTTPError here: exit 1) or no answer fail the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, sys, urllib.request; \
r = urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('KAKATONG_PORT', '8000'), timeout=4); \
sys.exit(0 if r.status == 200 else 1)"

# app.py turns SIGTERM (docker stop) into a clean exit, even as PID 1.
CMD ["python", "app.py"]
