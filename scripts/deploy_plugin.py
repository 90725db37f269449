"""Install the assembled plugin into a QGIS profile and enable it for QGIS and ``qgis_process``.

``make deploy`` runs this. The plugin folder is replaced as a whole (assembled beside the destination,
then renamed), the virtual environment's site-packages folders are recorded in
``dualstream_qgis/site-packages.txt`` (read by ``engine_bridge``, so QGIS's Python finds torch), and the
plugin is enabled with ``qgis_process plugins enable dualstream_qgis``.

Profiles: QGIS keeps them in ``~/.local/share/QGIS/QGIS3/profiles/<name>`` (override with
``--profiles-dir`` or ``QGIS_PROFILES_DIR``). ``qgis_process`` 3.22 has no ``--profile`` option; it uses
``$QGIS_CUSTOM_CONFIG_PATH/profiles/default`` when that variable is set. To enable the plugin in any
named profile, this script points ``QGIS_CUSTOM_CONFIG_PATH`` at a temporary folder whose
``profiles/default`` is a link to that profile.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__:
    from .assemble_plugin import PLUGIN_NAME, REPO, assemble
else:  # run as a script
    from assemble_plugin import PLUGIN_NAME, REPO, assemble

DEFAULT_PROFILES_DIR = Path.home() / ".local" / "share" / "QGIS" / "QGIS3" / "profiles"


class DeployError(RuntimeError):
    """Deployment cannot go on; the message says what to do."""


def default_profiles_dir() -> Path:
    return Path(os.environ.get("QGIS_PROFILES_DIR") or DEFAULT_PROFILES_DIR).expanduser()


def venv_site_packages(python: Path = REPO / ".venv" / "bin" / "python") -> list[str]:
    """The purelib/platlib folders of the given Python (by default the project's .venv)."""
    if not Path(python).exists():
        raise DeployError(f"{python} does not exist: run `make install` first (it creates the .venv).")
    code = "import json, sysconfig; print(json.dumps([sysconfig.get_path('purelib'), sysconfig.get_path('platlib')]))"
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout
    return list(dict.fromkeys(json.loads(out)))


def qgis_process_command() -> list[str]:
    """``qgis_process``, or ``qgis_process.bin`` where Debian's wrapper passes ``--noversioncheck`` that the
    3.22 binary rejects ("Command --noversioncheck not known!")."""
    env = qgis_env()
    for name in ("qgis_process", "qgis_process.bin"):
        exe = shutil.which(name)
        if not exe:
            continue
        probe = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env, timeout=120)
        if probe.returncode == 0:
            return [exe]
    raise DeployError("qgis_process was not found or does not run: install QGIS with `make install` "
                      "(Debian/Ubuntu packages qgis and python3-qgis).")


def qgis_env(config_root: Path | None = None, extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """Environment for a headless ``qgis_process`` using ``config_root/profiles/default`` as its profile.

    ``extra`` overrides variables; a None value removes the variable.
    """
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    if config_root is not None:
        env["QGIS_CUSTOM_CONFIG_PATH"] = str(config_root)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def plugin_enabled(profile_dir: Path, name: str = PLUGIN_NAME) -> bool:
    """Whether the profile's QGIS3.ini has ``[PythonPlugins] name=true``."""
    ini = profile_dir / "QGIS" / "QGIS3.ini"
    if not ini.is_file():
        return False
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive plugin names
    parser.read(ini, encoding="utf-8")
    return parser.get("PythonPlugins", name, fallback="false").strip().lower() == "true"


def enable_plugin(profile_dir: Path, name: str = PLUGIN_NAME) -> None:
    """Run ``qgis_process plugins enable NAME`` against ``profile_dir`` and check that it took effect.

    Already enabled is success: qgis_process itself answers "Plugin is already enabled!" with exit code 1,
    which would make a second `make deploy` fail.
    """
    if plugin_enabled(profile_dir, name):
        return
    command = qgis_process_command()
    with tempfile.TemporaryDirectory(prefix="dualstream-qgis-root-") as root:
        (Path(root) / "profiles").mkdir()
        (Path(root) / "profiles" / "default").symlink_to(profile_dir.resolve(), target_is_directory=True)
        done = subprocess.run([*command, "plugins", "enable", name], capture_output=True, text=True,
                              env=qgis_env(Path(root)), timeout=300)
    if done.returncode != 0 or not plugin_enabled(profile_dir, name):
        raise DeployError(
            f"`{' '.join(command)} plugins enable {name}` failed (exit code {done.returncode}) for profile "
            f"{profile_dir}:\n{done.stdout}\n{done.stderr}"
        )


def deploy(profiles_dir: Path, profile: str = "default", site_packages: list[str] | None = None,
           enable: bool = True) -> Path:
    """Install the plugin into ``profiles_dir/profile/python/plugins`` and return the plugin folder."""
    profile_dir = Path(profiles_dir).expanduser() / profile
    plugins_dir = profile_dir / "python" / "plugins"
    plugins_dir.mkdir(parents=True, exist_ok=True)
    target = plugins_dir / PLUGIN_NAME
    with tempfile.TemporaryDirectory(prefix=".dualstream-deploy-", dir=plugins_dir) as tmp:
        staged = assemble(Path(tmp))
        if site_packages:
            (staged / "site-packages.txt").write_text(
                "# Written by `make deploy`: folders appended to QGIS's sys.path (torch, transformers).\n"
                + "\n".join(site_packages) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    if enable:
        enable_plugin(profile_dir)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles-dir", type=Path, default=default_profiles_dir(),
                        help="QGIS profiles folder (default: $QGIS_PROFILES_DIR or %(default)s)")
    parser.add_argument("--profile", default="default", help="profile name (default: %(default)s)")
    parser.add_argument("--site-packages", action="append",
                        help="folder to append to QGIS's sys.path (repeatable; default: the .venv's site-packages)")
    parser.add_argument("--no-site-packages", action="store_true", help="do not record any site-packages folder")
    parser.add_argument("--no-enable", action="store_true", help="copy the plugin only; do not enable it")
    args = parser.parse_args(argv)
    try:
        site_packages = [] if args.no_site_packages else (args.site_packages or venv_site_packages())
        target = deploy(args.profiles_dir, args.profile, site_packages, enable=not args.no_enable)
    except (DeployError, FileExistsError, FileNotFoundError, subprocess.SubprocessError) as exc:
        print(f"make deploy: {exc}", file=sys.stderr)
        return 1
    print(f"Installed {target}")
    if site_packages:
        print(f"QGIS's Python will also search: {', '.join(site_packages)}")
    if not args.no_enable:
        # the wrapper runs the qgis_process that works here (Debian's 3.22 wrapper script does not)
        select = "" if (args.profile == "default" and args.profiles_dir == DEFAULT_PROFILES_DIR) else (
            f"DUALSTREAM_PROFILE={args.profile} QGIS_PROFILES_DIR={args.profiles_dir} ")
        print(f"Enabled {PLUGIN_NAME} in profile {args.profile}; check with: "
              f"{select}scripts/qgis_process list | grep dualstream")
    return 0


if __name__ == "__main__":
    sys.exit(main())
