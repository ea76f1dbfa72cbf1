"""systemd/install.sh into a temporary root (DESTDIR style), twice, then --uninstall.

useradd, groupadd, usermod, pip, apt-get, raspi-config, udevadm and (mostly) systemctl are not
our code: PATH-injected fakes record their calls, and the user/group fakes edit the temporary
root's /etc/passwd and /etc/group so the second run sees what the first created. One test uses the
real `systemctl --root` (offline enablement) when systemd is installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
INSTALL = REPO / "systemd" / "install.sh"
CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=1234abcd-02 rootfstype=ext4 fsck.repair=yes rootwait quiet splash\n"
CONFIG_TXT = "# For more options and information see\ndtparam=audio=on\ncamera_auto_detect=1\n\n[cm4]\notg_mode=1\n\n[all]\narm_boost=1\n"

RECORD = 'import os, sys\nwith open(os.environ["CALLS"], "a") as log:\n    log.write(" ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")\n'
USERDB = RECORD + '''
args = sys.argv[1:]
root = next(a.split("=", 1)[1] for a in args if a.startswith("--root="))
name = args[-1]
def lines(f): return open(os.path.join(root, "etc", f)).read().splitlines()
def save(f, rows): open(os.path.join(root, "etc", f), "w").write("\\n".join(rows) + "\\n")
tool = os.path.basename(sys.argv[0])
groups = lines("group")
if tool == "groupadd":
    groups.append(f"{name}:x:{900 + len(groups)}:")
if tool == "useradd":
    save("passwd", lines("passwd") + [f"{name}:x:999:999::/var/lib/facepace:/usr/sbin/nologin"])
    groups.append(f"{name}:x:999:")
if tool in ("useradd", "usermod"):
    wanted = args[args.index("--groups" if tool == "useradd" else "-G") + 1].split(",")
    groups = [g + ("," if not g.endswith(":") else "") + name if g.split(":")[0] in wanted else g for g in groups]
save("group", groups)
'''
PYTHON = RECORD + f'''
if sys.argv[1:3] == ["-m", "venv"]:
    bin_dir = os.path.join(sys.argv[3], "bin")
    os.makedirs(bin_dir)
    for tool in ("python", "pip"):
        with open(os.path.join(bin_dir, tool), "w") as f:
            f.write("#!" + sys.executable + "\\n" + {RECORD!r})
        os.chmod(os.path.join(bin_dir, tool), 0o755)
'''
ENABLED = "facepace.service facepace-sync.service facepace-gadget.service facepace-poweroff.path"
RECORD_ONLY = RECORD + 'if sys.argv[1:3] == ["nonint", "get_i2c"]: print(1)\n'


@pytest.fixture
def fake_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\ndialout:x:20:\n")
    boot = root / "boot" / "firmware"
    boot.mkdir(parents=True)
    (boot / "cmdline.txt").write_text(CMDLINE)
    (boot / "config.txt").write_text(CONFIG_TXT)
    return root


@pytest.fixture
def fakes(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {"groupadd": USERDB, "useradd": USERDB, "usermod": USERDB, "python3": PYTHON}
    for name in ("systemctl", "udevadm", "raspi-config", "apt-get"):
        scripts[name] = RECORD_ONLY
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!{sys.executable}\n{body}")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def install(root, fakes, *args, drop=()):
    """Run install.sh; `drop` removes fakes so the real command is used."""
    for name in drop:
        (fakes / name).unlink()
    calls = fakes.parent / "calls"
    calls.write_text("")
    env = {"PATH": f"{fakes}:{os.environ['PATH']}", "CALLS": str(calls), "PYTHON": str(fakes / "python3")}
    result = subprocess.run(["sh", str(INSTALL), "--root", str(root), *args], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, [line.replace(str(root), "ROOT") for line in calls.read_text().splitlines()]


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_install_lays_out_the_appliance(fake_root, fakes):
    output, calls = install(fake_root, fakes)
    etc = fake_root / "etc"
    for unit in ("facepace.service", "facepace-sync.service", "facepace-gadget.service", "facepace-export@.service",
                 "facepace-poweroff.path", "facepace-poweroff.service"):
        assert (etc / "systemd" / "system" / unit).read_text() == (REPO / "systemd" / unit).read_text()
    assert (etc / "udev" / "rules.d" / "90-facepace.rules").exists()
    assert (etc / "modules-load.d" / "facepace.conf").read_text() == "i2c-dev\nusb_f_acm\n"
    for script in ("facepace-gadget.sh", "facepace-export.sh"):
        assert os.access(fake_root / "opt" / "facepace" / "libexec" / script, os.X_OK)
    defaults = REPO / "device" / "settings" / "defaults" / "config.toml"
    if defaults.exists():
        assert (etc / "facepace" / "config.toml").read_text() == defaults.read_text()

    assert "facepace:x:999:999::/var/lib/facepace:/usr/sbin/nologin" in (etc / "passwd").read_text()
    group = (etc / "group").read_text()
    for name in ("gpio", "i2c", "dialout"):
        assert any(line.startswith(f"{name}:") and line.endswith("facepace") for line in group.splitlines()), group

    boot = fake_root / "boot" / "firmware"
    assert (boot / "cmdline.txt").read_text() == CMDLINE.rstrip("\n") + " modules-load=dwc2\n"
    config = (boot / "config.txt").read_text()
    assert config.startswith(CONFIG_TXT)
    assert config[len(CONFIG_TXT):].splitlines()[1:] == [
        "[all]", "# USB gadget serial port for sync (OTG: the port also works as a host)",
        "dtoverlay=dwc2", "dtparam=i2c_arm=on",
        "# I2C speed for the OLED (install.sh --i2c-baudrate)", "dtparam=i2c_arm_baudrate=400000", "# <<< facepace"]

    assert calls == [
        "groupadd --system --root=ROOT gpio",
        "groupadd --system --root=ROOT i2c",
        "useradd --system --root=ROOT --user-group --no-create-home --home-dir /var/lib/facepace "
        "--shell /usr/sbin/nologin --groups gpio,i2c,dialout facepace",
        "python3 -m venv ROOT/opt/facepace/venv",
        f"pip install --quiet --upgrade {REPO}[pi]",
        "python -m compileall -q -j 0 ROOT/opt/facepace/venv/lib",
        f"systemctl --root=ROOT enable {ENABLED}",
    ]  # never apt-get, raspi-config or udevadm against a root that is not the running system
    assert "edited /boot/firmware/cmdline.txt" in output
    assert "installed /etc/systemd/system/facepace.service" in output


def test_second_run_changes_nothing(fake_root, fakes):
    install(fake_root, fakes)
    before = tree(fake_root)
    output, calls = install(fake_root, fakes)
    assert tree(fake_root) == before
    assert calls == [f"pip install --quiet --upgrade {REPO}[pi]",
                     "python -m compileall -q -j 0 ROOT/opt/facepace/venv/lib",
                     f"systemctl --root=ROOT enable {ENABLED}"]
    assert "installed /" not in output and "edited" not in output and "created" not in output


def test_an_existing_config_is_kept(fake_root, fakes):
    mine = fake_root / "etc" / "facepace" / "config.toml"
    mine.parent.mkdir(parents=True)
    mine.write_text("# my settings\n")
    install(fake_root, fakes)
    assert mine.read_text() == "# my settings\n"


def test_existing_modules_load_gets_dwc2_appended_and_uninstall_restores_it(fake_root, fakes):
    cmdline = fake_root / "boot" / "firmware" / "cmdline.txt"
    cmdline.write_text("root=/dev/mmcblk0p2 modules-load=foo rootwait\n")
    install(fake_root, fakes)
    assert cmdline.read_text() == "root=/dev/mmcblk0p2 modules-load=foo,dwc2 rootwait\n"
    install(fake_root, fakes, "--uninstall")
    assert cmdline.read_text() == "root=/dev/mmcblk0p2 modules-load=foo rootwait\n"


def boot_lines(root: Path, prefix: str) -> list[str]:
    return [line for line in (root / "boot" / "firmware" / "config.txt").read_text().splitlines()
            if line.startswith(prefix)]


def test_i2c_baudrate_is_chosen_changed_in_place_and_removed(fake_root, fakes):
    install(fake_root, fakes, "--i2c-baudrate", "100000")
    assert boot_lines(fake_root, "dtparam=i2c_arm_baudrate") == ["dtparam=i2c_arm_baudrate=100000"]
    output, _ = install(fake_root, fakes)       # back to the default: the one line changes
    assert boot_lines(fake_root, "dtparam=i2c_arm_baudrate") == ["dtparam=i2c_arm_baudrate=400000"]
    assert "edited /boot/firmware/config.txt" in output
    install(fake_root, fakes, "--uninstall")
    assert boot_lines(fake_root, "dtparam=i2c_arm_baudrate") == []


@pytest.mark.parametrize("rate", ["fast", "400k", "", "5000", "4000000"])
def test_a_bad_i2c_baudrate_is_refused_before_anything_changes(fake_root, fakes, rate):
    before = tree(fake_root)
    result = subprocess.run(["sh", str(INSTALL), "--root", str(fake_root), f"--i2c-baudrate={rate}"],
                            env={"PATH": f"{fakes}:{os.environ['PATH']}", "CALLS": str(fakes.parent / "calls")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--i2c-baudrate must be" in result.stderr and rate in result.stderr
    assert tree(fake_root) == before


def test_bytecode_is_compiled_at_install_and_left_alone_after(fake_root, fakes):
    """The venv's python is the real one here: every module gets its .pyc once, at install
    (the service's /opt is read-only), and a second install rewrites none of them."""
    venv = fake_root / "opt" / "facepace" / "venv"
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    site.mkdir(parents=True)
    (venv / "bin").mkdir()
    probe = site / "facepace_probe.py"
    pip = RECORD + f'if not os.path.exists({str(probe)!r}): open({str(probe)!r}, "w").write("ANSWER = 42\\n")\n'
    python = RECORD + "os.execv(sys.executable, [sys.executable] + sys.argv[1:])\n"
    for name, body in (("pip", pip), ("python", python)):
        (venv / "bin" / name).write_text(f"#!{sys.executable}\n{body}")
        (venv / "bin" / name).chmod(0o755)
    install(fake_root, fakes)
    compiled = site / "__pycache__" / f"facepace_probe.{sys.implementation.cache_tag}.pyc"
    # What the interpreter checks before using a .pyc: its magic, then the source's mtime and size.
    header = compiled.read_bytes()[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[4:8], "little") == 0     # timestamp-checked
    assert int.from_bytes(header[8:12], "little") == int(probe.stat().st_mtime)
    assert int.from_bytes(header[12:16], "little") == probe.stat().st_size
    made = compiled.stat().st_mtime_ns
    install(fake_root, fakes)
    assert compiled.stat().st_mtime_ns == made


def test_boot_files_in_old_location(fake_root, fakes):
    shutil.move(fake_root / "boot" / "firmware", fake_root / "oldboot")
    (fake_root / "boot").rmdir()
    shutil.move(fake_root / "oldboot", fake_root / "boot")
    install(fake_root, fakes)
    assert "dtoverlay=dwc2" in (fake_root / "boot" / "config.txt").read_text()


def test_uninstall_reverses_everything_but_keeps_logs_and_settings(fake_root, fakes):
    original = tree(fake_root)
    install(fake_root, fakes)
    log = fake_root / "var" / "lib" / "facepace" / "sessions.db"
    log.parent.mkdir(parents=True)
    log.write_text("history")
    output, calls = install(fake_root, fakes, "--uninstall")
    assert calls == [f"systemctl --root=ROOT disable {ENABLED}"]
    after = tree(fake_root)
    assert log.read_text() == "history"
    kept = {"var/lib/facepace/sessions.db", "etc/facepace/config.toml", "etc/passwd", "etc/group"}
    assert {k: v for k, v in after.items() if k not in kept} == {k: v for k, v in original.items() if k not in kept}
    assert not (fake_root / "opt" / "facepace").exists()
    assert "kept /var/lib/facepace" in output
    # Uninstalling again is harmless too.
    install(fake_root, fakes, "--uninstall")
    assert tree(fake_root) == after


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="systemctl not installed (Debian package: systemd)")
def test_real_systemctl_enables_the_units_offline(fake_root, fakes):
    install(fake_root, fakes, drop=["systemctl"])
    wants = fake_root / "etc" / "systemd" / "system" / "multi-user.target.wants"
    assert sorted(p.name for p in wants.iterdir()) == [
        "facepace-gadget.service", "facepace-poweroff.path", "facepace-sync.service", "facepace.service"]
    install(fake_root, fakes, "--uninstall")
    assert not wants.exists() or not any(wants.iterdir())


def test_unknown_option_is_refused():
    result = subprocess.run(["sh", str(INSTALL), "--frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown option --frobnicate" in result.stderr


SCRIPTS = sorted((REPO / "systemd").glob("*.sh"))


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (Debian package: shellcheck)")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    result = subprocess.run(["shellcheck", "--shell=sh", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def boot_block(root: Path) -> list[str]:
    config = (root / "boot" / "firmware" / "config.txt").read_text()
    return config[len(CONFIG_TXT):].splitlines()[1:]


def test_radio_off_turns_wifi_and_bluetooth_off_keeps_it_through_updates_and_radio_on_undoes_it(fake_root, fakes):
    install(fake_root, fakes)
    output, _ = install(fake_root, fakes, "--radio-off")
    assert "Wi-Fi and Bluetooth off from the next boot" in output
    assert boot_block(fake_root) == [
        "[all]", "# no network: Wi-Fi and Bluetooth off (install.sh --radio-on turns them on again)",
        "dtoverlay=disable-wifi", "dtoverlay=disable-bt",
        "# USB gadget serial port for sync (OTG: the port also works as a host)",
        "dtoverlay=dwc2", "dtparam=i2c_arm=on",
        "# I2C speed for the OLED (install.sh --i2c-baudrate)", "dtparam=i2c_arm_baudrate=400000",
        "# <<< facepace"]
    before = tree(fake_root)
    install(fake_root, fakes)   # an update without the option keeps the choice
    assert tree(fake_root) == before
    output, _ = install(fake_root, fakes, "--radio-on")
    assert "Wi-Fi and Bluetooth on again from the next boot" in output
    assert "dtoverlay=disable-wifi" not in "\n".join(boot_block(fake_root))
    install(fake_root, fakes, "--radio-off")
    install(fake_root, fakes, "--uninstall")
    assert (fake_root / "boot" / "firmware" / "config.txt").read_text() == CONFIG_TXT


def test_the_install_guide_uses_only_options_install_sh_has():
    import re

    guide = (REPO / "docs" / "install.md").read_text()
    used = set(re.findall(r"install\.sh((?: --[a-z-]+)+)", guide))
    options = {option for group in used for option in group.split()}
    assert options >= {"--radio-off", "--uninstall"}
    script = INSTALL.read_text()
    for option in options:
        assert re.search(rf"^\s+(\S+\|)?{re.escape(option)}[|)]", script, re.M), option


def test_the_install_guide_names_only_commands_facepace_has():
    import re

    from device.cli.main import build_parser

    guide = (REPO / "docs" / "install.md").read_text()
    named = set(re.findall(r"bin/facepace ([a-z-]+)|`facepace ([a-z-]+)", guide))
    commands = {first or second for first, second in named}
    assert {"selftest", "config", "sync"} <= commands
    parser = build_parser()
    known = set(next(action for action in parser._actions if action.dest == "command").choices)
    assert commands <= known, commands - known
    for flag in ("--sim",):
        assert flag in guide and build_parser().parse_args(["selftest", flag]).sim
