"""The Pi-budget bench's cgroup helpers, on files laid out as the kernel lays them out (in a
plain folder, which unlike cgroupfs cannot remove a folder with files: the tests leave them)."""

from __future__ import annotations

import pytest
from pathlib import Path

from bench.cpu_quota import CpuQuota, QuotaUnavailable, cpu_cgroup_roots, parse_cpu_max, parse_cpu_stat

# /proc/self/mounts in a Docker-style container with cgroup v1 and an almost empty v2 hierarchy,
# and on a systemd host with only cgroup v2.
HYBRID = """tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""
UNIFIED = "proc /proc proc rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"


def test_finds_the_v2_mount_and_the_v1_mount_holding_cpu_not_cpuset():
    assert cpu_cgroup_roots(HYBRID) == (Path("/sys/fs/cgroup/unified"),
                                        Path("/sys/fs/cgroup/cpu,cpuacct"))
    unified, legacy = cpu_cgroup_roots(UNIFIED)
    assert str(unified) == "/sys/fs/cgroup" and legacy is None
    assert cpu_cgroup_roots("") == (None, None)


def test_cpu_max_and_cpu_stat_are_read_in_both_versions():
    assert parse_cpu_max("1000 10000\n") == (1000, 10000)
    assert parse_cpu_max("max 100000\n") == (None, 100000)
    v2 = parse_cpu_stat("usage_usec 500\nnr_periods 40\nnr_throttled 30\nthrottled_usec 270000\n")
    assert v2["nr_throttled"] == 30 and v2["throttled_usec"] == 270000
    v1 = parse_cpu_stat("nr_periods 475\nnr_throttled 455\nthrottled_time 2496446803\n")
    assert v1["throttled_usec"] == 2496446


def fake_mounts(tmp_path, text):
    mounts = tmp_path / "mounts"
    mounts.write_text(text.replace("/sys/fs/cgroup", str(tmp_path / "cg")))
    return mounts


def test_v2_quota_enables_the_cpu_controller_and_writes_cpu_max(tmp_path):
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("\n")
    quota = CpuQuota.create("bench", 1000, 10000, mounts=fake_mounts(tmp_path, UNIFIED))
    assert quota.version == 2 and quota.path == root / "bench"
    assert (root / "cgroup.subtree_control").read_text() == "+cpu"
    assert quota.limit() == (1000, 10000)


def test_v1_quota_when_v2_has_no_cpu_controller(tmp_path):
    (tmp_path / "cg" / "unified").mkdir(parents=True)
    (tmp_path / "cg" / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    (tmp_path / "cg" / "cpu,cpuacct").mkdir()
    quota = CpuQuota.create("bench", 1000, 10000, mounts=fake_mounts(tmp_path, HYBRID))
    assert quota.version == 1 and quota.path == tmp_path / "cg" / "cpu,cpuacct" / "bench"
    assert (quota.path / "cpu.cfs_quota_us").read_text() == "1000"
    assert (quota.path / "cpu.cfs_period_us").read_text() == "10000"
    assert quota.limit() == (1000, 10000)


def test_says_why_when_no_quota_can_be_made(tmp_path):
    with pytest.raises(QuotaUnavailable, match="no cgroup file system mounted"):
        CpuQuota.create("bench", 1000, 10000, mounts=tmp_path / "missing")
    (tmp_path / "cg").mkdir()
    (tmp_path / "cg" / "cgroup.controllers").write_text("memory\n")
    with pytest.raises(QuotaUnavailable, match="has no cpu controller"):
        CpuQuota.create("bench", 1000, 10000, mounts=fake_mounts(tmp_path, UNIFIED))


def test_an_empty_cgroup_left_by_a_killed_run_is_removed_and_a_busy_one_kept(tmp_path):
    legacy = tmp_path / "cg" / "cpu,cpuacct"
    (legacy / "pi-budget-11").mkdir(parents=True)          # empty: its processes are gone
    (legacy / "pi-budget-12").mkdir()
    (legacy / "pi-budget-12" / "cgroup.procs").write_text("4242\n")   # stands for one still running
    (legacy / "other-13").mkdir()
    quota = CpuQuota.create("pi-budget-14", 1000, 10000, mounts=fake_mounts(tmp_path, HYBRID))
    assert sorted(p.name for p in legacy.iterdir()) == ["other-13", "pi-budget-12", "pi-budget-14"]
    assert quota.close() is False     # a folder with files: as the kernel refuses a busy cgroup
