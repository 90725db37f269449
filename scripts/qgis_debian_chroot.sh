#!/usr/bin/env bash
# The plugin's tests in a newer Debian QGIS than this machine's, inside a Debian chroot:
#
#   sudo scripts/qgis_debian_chroot.sh trixie /tmp/qgis-trixie     # QGIS 3.40 LTR, Python 3.13
#   sudo scripts/qgis_debian_chroot.sh sid /tmp/qgis-sid           # QGIS 3.44, Python 3.14
#   sudo scripts/qgis_debian_chroot.sh trixie /tmp/qgis-trixie -x -k qgis_process   # extra pytest arguments
#
# 1. DIR is made with `mmdebstrap --variant=minbase SUITE` (once; kept for later runs) with QGIS, Xvfb and the
#    Debian packages `make install` uses, plus Debian's CPU build of torch (python3-torch): PyPI's Linux torch
#    wheels are CUDA builds that pull in ~3 GB of NVIDIA libraries, and the pinned torch (requirements.txt) has
#    no CPU wheel for the chroot's Python on PyPI. The tests read torch's version at run time, not the pin.
# 2. A copy of this checkout (tracked and untracked, not ignored, files) goes to DIR/root/dualstream, and a venv
#    made with --system-site-packages (it sees PyQGIS, GDAL, rasterio, numpy and torch from Debian) gets what
#    `pip install -e ".[onnx,dev]"` would install, from PyPI, less the torch pin: requirements*.txt with numpy
#    and torch held at Debian's versions, then the package itself (editable, --no-deps).
# 3. Inside the chroot: the plugin tests (`pytest tests --ignore=tests/engine --ignore=tests/reliability/cli`,
#    the GUI ones under Xvfb; their screenshots are copied to DIR/screens), then a qgis_process smoke run
#    (plugin deployed into a throwaway profile, `scripts/qgis_process --json run dualstream:checkenv`).
# /proc, /sys, /dev, /dev/pts and /dev/shm are mounted into DIR for the run and unmounted on exit, whatever
# happens. Needs root, network access to deb.debian.org and PyPI, and about 4 GB free where DIR is.
# Exit code: pytest's, or the smoke run's when pytest passed.
set -euo pipefail

die() { printf 'qgis_debian_chroot: ERROR: %s\n' "$*" >&2; exit 1; }
say() { printf 'qgis_debian_chroot: %s\n' "$*"; }

(($# >= 2)) || die "usage: $0 SUITE DIR [PYTEST_ARGS...]   (SUITE: trixie or sid; DIR: the chroot folder, e.g. /tmp/qgis-trixie)"
SUITE=$1
DIR=$(realpath -m "$2")
shift 2
case $SUITE in trixie | sid | forky | testing | unstable) ;; *) die "SUITE '$SUITE': use trixie (QGIS 3.40) or sid (QGIS 3.44)";; esac
[[ $(id -u) -eq 0 ]] || die "building and entering a chroot needs root: run it with sudo"
[[ $DIR != / ]] || die "DIR must not be /"
REPO=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=(qgis python3-qgis qgis-providers xvfb xauth python3-rasterio python3-gdal python3-numpy
          python3-matplotlib python3-scipy python3-yaml python3-venv python3-pip python3-pyqt6 python3-torch
          ca-certificates fonts-dejavu-core)
SRC=/root/dualstream      # inside the chroot
VENV=/opt/dualstream-venv # inside the chroot
start=$SECONDS

# 1. The chroot -------------------------------------------------------------------------------------------------
if [[ ! -f $DIR/etc/debian_version ]]; then
    command -v mmdebstrap >/dev/null || { say "installing mmdebstrap"; apt-get install -y --no-install-recommends mmdebstrap; }
    [[ ! -e $DIR ]] || [[ -z $(ls -A "$DIR") ]] || die "$DIR exists but holds no finished chroot (an interrupted build?): remove it first"
    mkdir -p "$(dirname "$DIR")"
    avail_kb=$(df -Pk "$(dirname "$DIR")" | awk 'NR == 2 {print $4}')
    ((avail_kb > 4 * 1024 * 1024)) || die "less than 4 GB free in $(dirname "$DIR") ($((avail_kb / 1024)) MB)"
    say "building a $SUITE chroot in $DIR (mmdebstrap --variant=minbase, ${#PACKAGES[@]} packages and their dependencies)"
    # Check-Valid-Until: a mirror's sid snapshot can be older than its Release file's one-week validity
    mmdebstrap --variant=minbase --aptopt='APT::Install-Recommends "false"' --aptopt='Acquire::Check-Valid-Until "false"' --include="$(IFS=,; echo "${PACKAGES[*]}")" \
        "$SUITE" "$DIR" "$MIRROR"
    say "chroot built in $((SECONDS - start)) s ($(du -sh "$DIR" | cut -f1))"
else
    say "reusing the chroot in $DIR"
fi

# 2. Mounts, undone on any exit -----------------------------------------------------------------------------------
MOUNTED=()
cleanup() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" || printf 'qgis_debian_chroot: could not unmount %s\n' "${MOUNTED[i]}" >&2
    done
}
trap cleanup EXIT
mount_into() { # mount_into TARGET MOUNT-ARGS...
    local target=$DIR$1
    shift
    mkdir -p "$target"
    mount "$@" "$target"
    MOUNTED+=("$target")
}
mount_into /proc -t proc proc
mount_into /sys -t sysfs sysfs
mount_into /dev --bind /dev
mount_into /dev/pts -t devpts -o newinstance,ptmxmode=0666 devpts
mount_into /dev/shm -t tmpfs -o mode=1777 shm
cp -L /etc/resolv.conf "$DIR/etc/resolv.conf"
# pip reaches PyPI the way this machine does: its local certificate authorities (a proxy's) and proxy settings
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$DIR/usr/local/share/ca-certificates/"
    chroot "$DIR" update-ca-certificates >/dev/null
fi
PASS_ENV=()
for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [[ -n ${!name:-} ]] && PASS_ENV+=("$name=${!name}")
done

# 3. The checkout and its venv --------------------------------------------------------------------------------------
rm -rf "$DIR$SRC" "$DIR/screens"
mkdir -p "$DIR$SRC" "$DIR/screens"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar --null -T - -cf -) | tar -xf - -C "$DIR$SRC"

run_in() { # the chroot's own environment, not this shell's
    chroot "$DIR" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CERT=/etc/ssl/certs/ca-certificates.crt ${PASS_ENV[@]+"${PASS_ENV[@]}"} "$@"
}
run_in /bin/bash -euo pipefail -c "
    cd $SRC
    [[ -x $VENV/bin/python ]] || python3 -m venv --system-site-packages $VENV
    ln -sfn $VENV .venv  # where the tests and scripts/deploy_plugin.py look for the checkout's venv
    # numpy and torch stay Debian's (GDAL, rasterio and QGIS are built against this numpy); the pinned torch line
    # of requirements.txt is left out for that reason, everything else is installed as the project lists it.
    python3 -c 'import numpy, torch; print(\"numpy==\" + numpy.__version__); print(\"torch==\" + torch.__version__)' > /tmp/constraints.txt
    grep -v -E '^torch([=<>!~ ]|\$)' requirements.txt > /tmp/requirements-no-torch.txt
    $VENV/bin/python -m pip install --quiet -c /tmp/constraints.txt -r /tmp/requirements-no-torch.txt \
        -r requirements-onnx.txt -r requirements-dev.txt
    $VENV/bin/python -m pip install --quiet --no-deps -e .
"
say "versions in the chroot:"
run_in $VENV/bin/python -c "
import platform, numpy, onnxruntime, torch, transformers
from qgis.core import Qgis
from qgis.PyQt.QtCore import QT_VERSION_STR
print(f'  QGIS {Qgis.QGIS_VERSION}, Qt {QT_VERSION_STR}, Python {platform.python_version()}, torch {torch.__version__}, '
      f'transformers {transformers.__version__}, onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}')"
say "setup took $((SECONDS - start)) s"

# 4. The plugin tests, then a qgis_process smoke run ----------------------------------------------------------------
status=0
tests_start=$SECONDS
run_in /bin/bash -c "cd $SRC && DUALSTREAM_GUI_SCREENS=/screens $VENV/bin/python -m pytest tests \
    --ignore=tests/engine --ignore=tests/reliability/cli -p no:cacheprovider $(printf '%q ' "$@")" || status=$?
say "plugin tests: pytest exit code $status after $((SECONDS - tests_start)) s; GUI screenshots in $DIR/screens"

smoke=0
run_in /bin/bash -euo pipefail -c "
    cd $SRC
    root=\$(mktemp -d /tmp/qgis-smoke-XXXXXX)
    $VENV/bin/python scripts/deploy_plugin.py --profiles-dir \$root/profiles --profile default >/dev/null
    QGIS_CUSTOM_CONFIG_PATH=\$root scripts/qgis_process --version | head -n 3
    QGIS_CUSTOM_CONFIG_PATH=\$root scripts/qgis_process list | grep '^\s*dualstream:'
    QGIS_CUSTOM_CONFIG_PATH=\$root scripts/qgis_process --json run dualstream:checkenv > \$root/checkenv.json
    $VENV/bin/python -c 'import json, sys; text = open(sys.argv[1]).read(); r = json.loads(text[text.index(\"{\"):])[\"results\"]
print(\"checkenv:\", {k: r[k] for k in (\"torch\", \"transformers\", \"gdal\", \"numpy\", \"missing\", \"models_ok\")})
sys.exit(0 if r[\"models_ok\"] and not r[\"missing\"] else 1)' \$root/checkenv.json
    rm -rf \$root
" || smoke=$?
say "qgis_process smoke run: exit code $smoke"
((status != 0)) || status=$smoke
say "done in $((SECONDS - start)) s, exit code $status"
exit "$status"
