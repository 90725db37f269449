#!/usr/bin/env bash
# `make install`: system packages (Debian/Ubuntu) when missing, then .venv with the pinned Python packages.
# Idempotent: each step checks first; the Makefile skips the whole script while its stamp is newer than the
# requirement files.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qgis python3-qgis qgis-providers python3-rasterio python3-gdal python3-numpy python3-matplotlib
              python3-scipy python3-yaml python3-venv python3-pip xvfb xauth
              python3-pyqt6)  # tests/plugin/test_qt6.py: the plugin under PyQt6 (QGIS 4); QGIS 3 never loads it
VENV=.venv
SYSTEM_PYTHON=/usr/bin/python3

say() { printf 'make install: %s\n' "$*"; }
die() { printf 'make install: ERROR: %s\n' "$*" >&2; exit 1; }

# 1. System packages -----------------------------------------------------------------------------------------
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    die "this set-up needs Debian or Ubuntu (apt-get). On another system install QGIS >= 3.22 with its Python
bindings, GDAL/rasterio for the same Python, then create .venv with
\`<that python> -m venv --system-site-packages .venv\` and run \`make install\` again."
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    apt_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
    if [[ $(id -u) -eq 0 ]]; then
        say "installing system packages: ${missing[*]}"
        bash -c "$apt_cmd"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        say "installing system packages with sudo: ${missing[*]}"
        sudo bash -c "$apt_cmd"
    else
        die "system packages are missing (${missing[*]}) and installing them needs root. Run:
    sudo bash -c '$apt_cmd'
then run \`make install\` again."
    fi
else
    say "system packages present"
fi
[[ -x $SYSTEM_PYTHON ]] || die "$SYSTEM_PYTHON is missing although python3 is installed; reinstall python3."
$SYSTEM_PYTHON -c "import qgis.core, osgeo.gdal, rasterio, numpy" \
    || die "$SYSTEM_PYTHON cannot import qgis/GDAL/rasterio/numpy; reinstall: apt-get install --reinstall python3-qgis python3-gdal python3-rasterio"

# 2. Virtual environment sharing the system's PyQGIS, GDAL, rasterio and numpy --------------------------------
if [[ ! -x $VENV/bin/python ]] || ! $VENV/bin/python -c "import qgis.core" 2>/dev/null; then
    [[ -e $VENV ]] && say "recreating $VENV (it does not see the system's PyQGIS)" && rm -rf "$VENV"
    say "creating $VENV from $SYSTEM_PYTHON -m venv --system-site-packages"
    $SYSTEM_PYTHON -m venv --system-site-packages "$VENV"
fi

# 3. Python packages and the `dualstream` command: the package itself, editable (engine/ changes take effect
#    without reinstalling), with its extras onnx and dev; pyproject.toml reads its dependencies from
#    requirements*.txt, the one list. numpy pinned to Debian's so pip never shadows it (GDAL/rasterio are built
#    against it) --------------------------------------------------------------------------------------------
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
$SYSTEM_PYTHON -c "import numpy; print('numpy==' + numpy.__version__)" > "$constraints"
say "installing the dualstream package (editable) with its extras onnx and dev into $VENV (requirements.txt, requirements-onnx.txt, requirements-dev.txt; $(cat "$constraints"))"
$VENV/bin/python -m pip install --quiet -c "$constraints" -e ".[onnx,dev]"

# 4. Check the result in the venv ----------------------------------------------------------------------------
$VENV/bin/python - <<'PY'
import sys
import numpy, rasterio, torch, transformers, safetensors, pytest, qgis.core  # noqa: F401
import onnx, onnxruntime  # noqa: F401 - optional for the engine (ONNX export/backend), installed here all the same
if not numpy.__file__.startswith("/usr/"):
    sys.exit(f"make install: ERROR: .venv uses numpy from {numpy.__file__}, not Debian's; "
             "run `.venv/bin/python -m pip uninstall -y numpy` and `make install` again.")
print(f"make install: OK: torch {torch.__version__}, transformers {transformers.__version__}, "
      f"onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__} (system), rasterio {rasterio.__version__}, QGIS {qgis.core.Qgis.QGIS_VERSION}")
PY
# The console command, run from outside the checkout: proves it does not depend on the current folder.
repo=$(pwd)
(cd / && "$repo/$VENV/bin/dualstream" --version) \
    || die "$VENV/bin/dualstream does not run; run \`$VENV/bin/python -m pip install -e .\` to see why."
say "the command: $VENV/bin/dualstream (\`source $VENV/bin/activate\` puts it on PATH)"
