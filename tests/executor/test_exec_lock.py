"""The cluster lock: per host, all or none, in a private directory that a planted symlink or another
user's directory cannot subvert."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from executor.errors import ApplyLockedError
from executor.lock import ClusterLock, host_lock_name
from planner.domain.errors import InputError


def test_locks_on_a_shared_host_refuse_each_other_and_disjoint_clusters_do_not(tmp_path: Path) -> None:
    with ClusterLock(["a", "b"], tmp_path / "locks"):
        with pytest.raises(ApplyLockedError, match="holds host b"):
            with ClusterLock(["b", "c"], tmp_path / "locks"):
                pass
        with ClusterLock(["c", "d"], tmp_path / "locks"):
            pass
    with ClusterLock(["b", "c"], tmp_path / "locks"):  # released on exit, and a refused one held nothing
        pass


def test_the_refusal_names_the_holder(tmp_path: Path) -> None:
    with ClusterLock(["a"], tmp_path):
        with pytest.raises(ApplyLockedError, match=f"pid {os.getpid()}"):
            with ClusterLock(["a"], tmp_path):
                pass


def test_a_symlink_planted_where_a_lock_goes_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("root's precious file\n", encoding="utf-8")
    (locks / host_lock_name("a")).symlink_to(victim)
    with pytest.raises(InputError, match="symbolic link"):
        with ClusterLock(["a"], locks):
            pass
    assert victim.read_text(encoding="utf-8") == "root's precious file\n"


def test_a_lock_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "locks").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="lock_dir"):
        with ClusterLock(["a"], tmp_path / "locks"):
            pass


def test_a_lock_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o777)
    os.chown(foreign, 65534, 65534)  # nobody: the suite runs as root
    with pytest.raises(InputError, match="belongs to uid 65534"):
        with ClusterLock(["a"], foreign):
            pass


def test_our_own_lock_directory_is_made_private_and_lock_files_0600(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o777)
    os.chmod(locks, 0o777)
    with ClusterLock(["a"], locks):
        pass
    assert stat.S_IMODE(locks.stat().st_mode) == 0o700
    assert stat.S_IMODE((locks / host_lock_name("a")).stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["../../x", "sha256:/../../x", "/etc/passwd", "a\0b"])
def test_lock_file_names_never_leave_the_lock_directory(tmp_path: Path, name: str) -> None:
    locks = tmp_path / "locks"
    with ClusterLock([name], locks):
        pass
    assert [p.parent for p in tmp_path.rglob("*.lock")] == [locks]
    assert host_lock_name(name).startswith("host-") and "/" not in host_lock_name(name)
