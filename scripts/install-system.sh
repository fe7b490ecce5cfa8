#!/usr/bin/env bash
# Install the system packages gridmap needs when they are missing: PostgreSQL 15 + PostGIS 3
# (the private cluster), pgRouting (road distances for relocation plans), GDAL's command-line tools (export checks), Chromium (headless map
# tests) and Python's venv module.
# Debian/Ubuntu only; elsewhere it prints what to do instead.
set -euo pipefail

need=("$@")  # extra packages asked for, e.g. wrk for the benchmarks
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
ls /usr/share/postgresql/15/extension/postgis.control >/dev/null 2>&1 || need+=(postgresql-15-postgis-3)
ls /usr/share/postgresql/15/extension/pgrouting.control >/dev/null 2>&1 || need+=(postgresql-15-pgrouting)
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # maps are tested in headless Chromium
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto.*cjk" || need+=(fonts-wqy-microhei)  # Chinese labels
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<MSG
gridmap needs: ${need[*]}
This is not a Debian/Ubuntu machine. Install PostgreSQL 15 with PostGIS 3 and GDAL yourself:
  macOS:   brew install postgresql@15 postgis gdal
  any OS:  docker compose up -d db   and   export DATABASE_URL=postgresql://gridmap:gridmap@127.0.0.1:5432/gridmap
MSG
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "gridmap needs: ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2; exit 1
  fi
fi
echo "installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
