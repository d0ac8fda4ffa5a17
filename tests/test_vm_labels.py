"""VM labels: reading our metadata and Nova's out of domain XML (hostile XML included), the
precedence merge, the inventory's `vm_labels` rules and `rebalance label`'s arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cluster.domain_metadata import LABELS_NS, NOVA_REASON, is_nova_managed, labels_element, read_metadata
from cluster.inventory import load_inventory, parse_inventory
from cluster.vm_labels import LabelSource, VMLabelRule, merged_labels, parse_assignments, plain
from planner.domain.errors import InputError
from rebalance.cli import cli

NOVA_11 = "http://openstack.org/xmlns/libvirt/nova/1.1"


def domain(metadata: str) -> str:
    return f"<domain type='kvm'><name>vm</name><metadata>{metadata}</metadata><devices/></domain>"


def ours(body: str, prefix: str = "rebalance:") -> str:
    """Our element as libvirt stores it (children qualified too) or, prefix "", with bare children."""
    return f"<rebalance:labels xmlns:rebalance='{LABELS_NS}'>{body.replace('<label', f'<{prefix}label').replace('</label', f'</{prefix}label')}</rebalance:labels>"


NOVA_INSTANCE = (
    f"<nova:instance xmlns:nova='{NOVA_11}'><nova:package version='27.1.0'/><nova:name>web-1</nova:name>"
    "<nova:creationTime>2024-05-01 10:00:00</nova:creationTime>"
    "<nova:flavor name='m1.small'><nova:memory>2048</nova:memory><nova:vcpus>1</nova:vcpus></nova:flavor>"
    "<nova:owner><nova:user uuid='u1'>admin</nova:user><nova:project uuid='p1'>shop</nova:project></nova:owner>"
    "<nova:root type='image' uuid='i1'/></nova:instance>")


# -- our own metadata ------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["rebalance:", ""])
def test_our_labels_are_read_as_libvirt_stores_them_or_with_bare_children(prefix: str) -> None:
    read = read_metadata(domain(ours("<label key='app'>web</label><label key='tier'>front end</label>", prefix)))
    assert dict(read.labels) == {"app": "web", "tier": "front end"}
    assert read.nova is None and read.problems == ()


def test_a_domain_without_metadata_has_no_labels_and_no_problem() -> None:
    for xml in ("<domain type='kvm'><name>vm</name></domain>", domain(""), domain("<other xmlns='urn:x'/>")):
        read = read_metadata(xml)
        assert (dict(read.labels), read.nova, read.problems) == ({}, None, ())


def test_the_element_rebalance_label_writes_reads_back_whatever_the_values_hold() -> None:
    labels = {"app": "a<b>&c", "quote": "it's \"x\"", "empty": "", "k.8s/role": "wEb-1"}
    element = labels_element(labels).replace("<labels>", f"<labels xmlns='{LABELS_NS}'>")
    assert dict(read_metadata(domain(element)).labels) == labels


@pytest.mark.parametrize("body, says", [
    ("<label key='bad key'>x</label>", "label keys are"),
    ("<label key='app'>" + "v" * 254 + "</label>", "at most 253"),
    ("<label key='app'>line&#10;break</label>", "printable"),
    ("<label key='rebalance/holds-room-for'>x</label>", "reserved"),
    ("<label key='app'>x</label><label key='app'>y</label>", "given twice"),
    ("<label>x</label>", "no key"),
    ("<label key='app'>x<b>y</b></label>", "text only"),
    ("<other key='app'>x</other>", "unexpected element"),
    ("".join(f"<label key='k{i}'>v</label>" for i in range(65)), "at most 64 labels"),
])
def test_bad_label_metadata_is_a_problem_and_all_its_labels_are_ignored(body: str, says: str) -> None:
    read = read_metadata(domain(ours("<label key='good'>kept?</label>" + body)))
    assert dict(read.labels) == {}
    [problem] = read.problems
    assert says in problem and "ignored" in problem


@pytest.mark.parametrize("xml", [
    "<domain><name>vm</name>",  # cut short
    "not xml at all",
    "",
    "<domain>\x00</domain>",
    "<?xml version='1.0'?><!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
    "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>"
    "<!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'><!ENTITY f '&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;'>"
    "<!ENTITY g '&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;'>]><d>&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;</d>",  # a billion laughs
])
def test_xml_that_cannot_be_read_is_a_problem_never_a_crash(xml: str) -> None:
    read = read_metadata(xml)
    assert dict(read.labels) == {} and read.nova is None
    assert len(read.problems) == 1


def test_a_huge_metadata_value_is_refused_not_carried() -> None:
    read = read_metadata(domain(ours("<label key='app'>" + "x" * 5_000_000 + "</label>")))
    assert dict(read.labels) == {} and "at most 253" in read.problems[0]


# -- Nova --------------------------------------------------------------------------------------------

def test_nova_metadata_marks_the_domain_and_gives_name_flavor_and_project_labels() -> None:
    read = read_metadata(domain(NOVA_INSTANCE))
    assert read.nova is not None and read.nova.name == "web-1"
    assert dict(read.nova.labels) == {"nova.name": "web-1", "nova.flavor": "m1.small", "nova.project": "shop"}
    assert read.problems == () and dict(read.labels) == {}
    assert NOVA_REASON == "managed by OpenStack Nova: migrate through Nova (openstack server migrate --live-migration)"


@pytest.mark.parametrize("metadata", [
    NOVA_INSTANCE.replace("1.1", "1.0"),  # older Nova
    NOVA_INSTANCE.replace("1.1", "1.2"),  # a later one
    f"<nova:instance xmlns:nova='{NOVA_11}'/>",  # nothing recorded inside
    f"<nova:something xmlns:nova='{NOVA_11}'>x</nova:something>",  # any element of the namespace
])
def test_any_nova_namespace_marks_the_domain(metadata: str) -> None:
    assert is_nova_managed(domain(metadata))


@pytest.mark.parametrize("bad, says", [
    ("<nova:name>web\n1</nova:name>", "printable"),
    ("<nova:name>" + "w" * 300 + "</nova:name>", "at most 253"),
])
def test_an_unusable_nova_label_drops_nova_labels_but_never_the_mark(bad: str, says: str) -> None:
    read = read_metadata(domain(NOVA_INSTANCE.replace("<nova:name>web-1</nova:name>", bad)))
    assert read.nova is not None and dict(read.nova.labels) == {}
    assert says in read.problems[0]


def test_unreadable_xml_that_mentions_nova_still_counts_as_nova() -> None:
    assert is_nova_managed(f"<domain><metadata><nova:instance xmlns:nova='{NOVA_11}'>")


def test_bad_labels_of_ours_do_not_hide_nova_and_nova_does_not_hide_ours() -> None:
    read = read_metadata(domain(NOVA_INSTANCE + ours("<label key='app'>web</label>")))
    assert read.nova is not None and dict(read.labels) == {"app": "web"}
    broken = read_metadata(domain(NOVA_INSTANCE + ours("<label key='a b'>x</label>")))
    assert broken.nova is not None and dict(broken.nova.labels)["nova.flavor"] == "m1.small"
    assert dict(broken.labels) == {}


# -- precedence -----------------------------------------------------------------------------------

RULES = (VMLabelRule("web-*", {"app": "web", "tier": "front", "nova.flavor": "from-rule"}),
         VMLabelRule("web-1", {"tier": "edge"}),
         VMLabelRule("db-*", {"app": "db"}))


def test_metadata_beats_inventory_rules_which_beat_nova_and_a_later_rule_beats_an_earlier() -> None:
    merged = merged_labels("web-1", "", {"nova.flavor": "m1.small", "nova.name": "x"}, RULES, {"app": "shop"})
    assert dict(plain(merged)) == {"app": "shop", "tier": "edge", "nova.flavor": "from-rule", "nova.name": "x"}
    assert merged["app"].source is LabelSource.METADATA
    assert merged["tier"].describe() == "inventory vm_labels[1] web-1"
    assert merged["nova.flavor"].describe() == "inventory vm_labels[0] web-*"
    assert merged["nova.name"].describe() == "nova"


def test_a_rule_matches_the_nova_instance_name_too_and_is_case_sensitive() -> None:
    assert dict(plain(merged_labels("instance-0000002a", "db-7", {}, RULES, {}))) == {"app": "db"}
    assert dict(plain(merged_labels("DB-7", "", {}, RULES, {}))) == {}


# -- the inventory's vm_labels ----------------------------------------------------------------------

HOSTS = "hosts: [{name: a}]\n"


def test_inventory_vm_labels_are_read_in_order() -> None:
    inventory = parse_inventory({"hosts": [{"name": "a"}],
                                 "vm_labels": [{"match": "web-*", "labels": {"app": "web", "n": 3}}]})
    assert inventory.vm_labels == (VMLabelRule("web-*", {"app": "web", "n": "3"}),)
    assert parse_inventory({"hosts": [{"name": "a"}]}).vm_labels == ()


@pytest.mark.parametrize("text, field, says", [
    ("vm_labels: {match: x}", "vm_labels", "must be a list"),
    ("vm_labels: [{match: web-*}]", "vm_labels[0].labels", "is required"),
    ("vm_labels: [{labels: {a: b}}]", "vm_labels[0].match", "is required"),
    ("vm_labels: [{match: '', labels: {a: b}}]", "vm_labels[0].match", "non-empty"),
    ("vm_labels: [{match: 7, labels: {a: b}}]", "vm_labels[0].match", "must be a string"),
    ("vm_labels: [{match: x, labels: {}}]", "vm_labels[0].labels", "at least one"),
    ("vm_labels: [{match: x, labels: [a]}]", "vm_labels[0].labels", "mapping"),
    ("vm_labels: [{match: x, labels: {'a b': c}}]", "vm_labels[0].labels.a b", "label keys"),
    ("vm_labels: [{match: x, labels: {a: {b: c}}}]", "vm_labels[0].labels.a", "strings"),
    ("vm_labels: [{match: x, labels: {a: b}, lables: {}}]", "vm_labels[0].lables", "unknown field"),
    ("vm_labels: [{match: x, labels: {a: b}}, 3]", "vm_labels[1]", "mapping"),
])
def test_a_bad_vm_labels_rule_is_one_error_naming_file_and_field(tmp_path: Path, text: str, field: str,
                                                                 says: str) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(HOSTS + text + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_inventory(path)
    assert (caught.value.source, caught.value.field) == (str(path), field)
    assert says in caught.value.message

    result = CliRunner().invoke(cli, ["collect", "--inventory", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.splitlines() == [f"error: {path}: {field}: {caught.value.message}"]


# -- rebalance label's arguments ----------------------------------------------------------------------

def test_label_arguments_set_and_remove() -> None:
    assert parse_assignments(["app=web", "tier-", "note=a=b", "empty="]) == (
        {"app": "web", "note": "a=b", "empty": ""}, ("tier",))


@pytest.mark.parametrize("words, says", [
    (["app"], "key=value"),
    (["=web"], "label keys"),
    (["a b=c"], "label keys"),
    (["app=" + "x" * 254], "at most 253"),
    (["app=web", "app-"], "both set and removed"),
    (["rebalance/x=1"], "reserved"),
])
def test_bad_label_arguments_are_input_errors(words: list[str], says: str) -> None:
    with pytest.raises(InputError, match=says):
        parse_assignments(words)


def test_the_label_command_refuses_a_bad_label_with_exit_2_before_reading_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["label", "--inventory", str(tmp_path / "missing.yaml"), "web-1", "a b=c"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: label 'a b=c': label keys are") and len(result.stderr.splitlines()) == 1
