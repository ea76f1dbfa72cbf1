"""A CPU quota for benchmarked processes: a child cgroup with `cpu.max` (cgroup v2) or
`cpu.cfs_quota_us`/`cpu.cfs_period_us` (v1), and a pre-exec hook that moves a new process into it
and pins it to one core.

Only root (or a delegated cgroup) can do this; `CpuQuota.create` raises `QuotaUnavailable` with
the reason otherwise, so a benchmark can say why and carry on without the quota.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MOUNTS = Path("/proc/self/mounts")


class QuotaUnavailable(Exception):
    """No cgroup here can be given a CPU quota (the message says why)."""


def cpu_cgroup_roots(mounts_text: str) -> tuple[Path | None, Path | None]:
    """(cgroup v2 mount, cgroup v1 mount holding the `cpu` controller) from /proc/self/mounts."""
    unified = legacy = None
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        where, kind, options = fields[1], fields[2], fields[3].split(",")
        if kind == "cgroup2" and unified is None:
            unified = Path(where)
        elif kind == "cgroup" and "cpu" in options and legacy is None:
            legacy = Path(where)
    return unified, legacy


def parse_cpu_max(text: str) -> tuple[int | None, int]:
    """cgroup v2 `cpu.max` ("1000 10000", "max 100000") → (quota µs or None for none, period µs)."""
    quota, _, period = text.strip().partition(" ")
    return (None if quota == "max" else int(quota)), int(period or 100_000)


def parse_cpu_stat(text: str) -> dict[str, int]:
    """`cpu.stat` as a dict; v1's `throttled_time` (ns) is also given as v2's `throttled_usec`."""
    stat = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            stat[key] = int(value)
    if "throttled_time" in stat and "throttled_usec" not in stat:
        stat["throttled_usec"] = stat["throttled_time"] // 1000
    return stat


@dataclass
class CpuQuota:
    """A cgroup allowing `quota_us` of CPU time per `period_us`, whatever the number of threads."""

    path: Path
    version: int
    quota_us: int
    period_us: int

    @classmethod
    def create(cls, name: str, quota_us: int, period_us: int, *, mounts: Path = MOUNTS) -> "CpuQuota":
        """The cgroup `name` with the quota. Earlier ones named like it up to the last "-" are
        removed if empty (a run that was killed leaves its cgroup behind)."""
        unified, legacy = cpu_cgroup_roots(mounts.read_text() if mounts.exists() else "")
        reasons = []
        if unified is not None:
            controllers = unified / "cgroup.controllers"
            if "cpu" in (controllers.read_text().split() if controllers.exists() else []):
                try:
                    return cls._make(unified / name, 2, quota_us, period_us, enable=unified / "cgroup.subtree_control")
                except OSError as error:
                    reasons.append(f"cgroup v2 at {unified}: {error.strerror or error}")
            else:
                reasons.append(f"cgroup v2 at {unified} has no cpu controller")
        if legacy is not None:
            try:
                return cls._make(legacy / name, 1, quota_us, period_us)
            except OSError as error:
                reasons.append(f"cgroup v1 cpu at {legacy}: {error.strerror or error}")
        if not reasons:
            reasons.append("no cgroup file system mounted")
        raise QuotaUnavailable("; ".join(reasons))

    @classmethod
    def _make(cls, path: Path, version: int, quota_us: int, period_us: int, enable: Path | None = None):
        for stale in path.parent.glob(path.name.rpartition("-")[0] + "-*"):
            if stale != path and stale.is_dir():
                cls(stale, version, quota_us, period_us).close()
        if enable is not None and "cpu" not in enable.read_text().split():
            enable.write_text("+cpu")
        path.mkdir(exist_ok=True)
        quota = cls(path, version, quota_us, period_us)
        try:
            if version == 2:
                (path / "cpu.max").write_text(f"{quota_us} {period_us}")
            else:
                (path / "cpu.cfs_period_us").write_text(str(period_us))
                (path / "cpu.cfs_quota_us").write_text(str(quota_us))
        except OSError:
            quota.close()
            raise
        return quota

    def limit(self) -> tuple[int | None, int]:
        """What the kernel holds now, read back."""
        if self.version == 2:
            return parse_cpu_max((self.path / "cpu.max").read_text())
        quota = int((self.path / "cpu.cfs_quota_us").read_text())
        return (None if quota < 0 else quota), int((self.path / "cpu.cfs_period_us").read_text())

    def stat(self) -> dict[str, int]:
        return parse_cpu_stat((self.path / "cpu.stat").read_text())

    def enter(self, pid: int = 0) -> None:
        """Move process `pid` (0: this one) into the quota."""
        (self.path / "cgroup.procs").write_text(str(pid or os.getpid()))

    def preexec(self, cpu: int):
        """For subprocess.Popen(preexec_fn=...): the new process starts inside, on core `cpu`."""
        def enter_and_pin() -> None:
            self.enter()
            os.sched_setaffinity(0, {cpu})
        return enter_and_pin

    def close(self) -> bool:
        """Remove the cgroup; False if the kernel refused (a process in it still runs: a later
        `create` with the same prefix removes it once empty)."""
        try:
            self.path.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True

    def __enter__(self) -> "CpuQuota":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

