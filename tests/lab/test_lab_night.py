"""A scripted night on the real lab: `rebalance run --goal consolidate` empties hosts with real live
migrations, runs the --on-freed command once per emptied host, records the run, and a second run
moves nothing."""

from __future__ import annotations

from pathlib import Path

from lab.control import HOSTS, Lab
from operations.history import history_path, read_runs
from tests.lab.helpers import PLAN_TIME_LIMIT, rebalance, write_yaml


def test_a_night_of_consolidation_empties_a_host_and_the_next_run_moves_nothing(clean_lab: Lab,
                                                                                tmp_path: Path) -> None:
    for host, names in (("lab-a", ("n1", "n2")), ("lab-b", ("n3", "n4")), ("lab-c", ("n5",))):
        for name in names:
            clean_lab.start_guest(host, name, memory_mib=32)
    # A TCG guest sitting in SeaBIOS may keep a core busy: hosts of 16 CPUs and no CPU headroom keep
    # that noise from deciding the night, which is about memory and host count.
    inventory = clean_lab.inventory(tmp_path / "hosts.yaml", cpus=16)
    policy = write_yaml(tmp_path / "policy.yaml", {"consolidate": {"max_cpu_percent": 100}})
    state, freed = tmp_path / "state", tmp_path / "freed.txt"
    night = ["run", "--goal", "consolidate", "--inventory", inventory, "--policy", policy, "--state-dir", state,
             "--on-freed", f"echo {{host}} >> {freed}", *PLAN_TIME_LIMIT]

    first = rebalance(*night, "--yes")

    assert first.exit_code == 0, first.stderr
    placement = clean_lab.placement()
    assert sorted(placement) == ["n1", "n2", "n3", "n4", "n5"]
    assert all(len(hosts) == 1 for hosts in placement.values())  # each guest runs exactly once
    empty = sorted(h for h in HOSTS if not clean_lab.running(h))
    assert empty  # at least one host emptied for real
    assert sorted(freed.read_text().split()) == empty  # the command ran once for each, and only for them
    [record] = read_runs(history_path(state))
    assert record.outcome == "done" and record.moves_failed == 0
    assert sorted(record.hosts_freed) == empty and record.moves_done == len(record.moves) > 0

    second = rebalance(*night)

    assert second.exit_code == 0, second.stderr
    assert clean_lab.placement() == placement
    runs = read_runs(history_path(state))
    assert [r.outcome for r in runs] == ["done", "nothing-to-do"] and runs[1].moves_done == 0
    assert sorted(freed.read_text().split()) == empty
    shown = rebalance("history", "--state-dir", state)
    assert shown.exit_code == 0 and len(shown.output.splitlines()) == 4  # header, rule, two runs
