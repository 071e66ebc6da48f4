# Kakatong (卡卡通) appliance image: python app.py, HTTP on port 8000 (waitress) and HTTPS on
# 8443 (cheroot, same process), everything it keeps (SQLite database, secret_key, pin_pepper,
# tls/: the shop's CA) in the volume /app/data.
#
#   docker build -t kakatong .
#   docker run -d --name kakatong -p 8000:8000 -p 8443:8443 -v kakatong-data:/app/data \
#       -e KAKATONG_TLS_NAMES=<the box's LAN address> --restart unless-stopped kakatong
#
# See docs/deploy.md (owner password, backups, upgrades, how this file was verified).
# Build with podman/buildah using `--format docker`, or the HEALTHCHECK is dropped.

FROM debian:bookworm-slim

# Debian 12's python3 is 3.11, the version the project targets. tzdata: KAKATONG_TZ
# (Asia/Shanghai by default) is resolved with zoneinfo against the system's zone files.
# sqlite3: the command-line shell, for `.backup` of the live database (docs/deploy.md).
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
RUN python -m compileall -q app.py kakatong \
    && mkdir -p /app/data \
    && chown kakatong:kakatong /app/data \
    && chmod 0700 /app/data

ENV KAKATONG_DATA_DIR=/app/data \
    KAKATONG_HOST=0.0.0.0 \
    KAKATONG_PORT=8000 \
    KAKATONG_HTTPS_PORT=8443 \
    FLASK_APP=app

# Declared after the chown: a fresh named volume starts owned by kakatong.
VOLUME ["/app/data"]
USER kakatong
EXPOSE 8000 8443

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import json, os, sys, urllib.request; \
r = urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('KAKATONG_PORT', '8000'), timeout=4); \
sys.exit(0 if json.load(r).get('status') == 'ok' else 1)"

# app.py turns SIGTERM (docker stop) into a clean exit, even as PID 1.
CMD ["python", "app.py"]
