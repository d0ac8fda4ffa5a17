"""The libvirt URI allow-list: what a control or migration URI may say, and what is refused."""

from __future__ import annotations

import pytest

from planner.domain.errors import InputError
from planner.formats.uri_policy import SHOWN_CHARS, check_control_uri, check_migration_uri, check_socket_dirs, uri_warnings

FIELD = "hosts[3].uri"


@pytest.mark.parametrize("uri", [
    "qemu+tls://node1/system",
    "qemu+tls://node1.example.org:16514/system?pkipath=/etc/pki/libvirt&tls_priority=NORMAL:-VERS-SSL3.0",
    "qemu+tls://10.0.0.5/system",
    "qemu+tcp://node1/system",
    "qemu+ssh://root@node1/system",
    "qemu+ssh://root@node1:2222/system?keyfile=/root/.ssh/id_ed25519&no_tty=1&proxy=native&mode=direct",
    "qemu+ssh://node1/system?socket=/run/libvirt/virtqemud-sock",
    "qemu+libssh://admin@node1/system?known_hosts=/root/.ssh/known_hosts&known_hosts_verify=auto",
    "qemu+libssh2://admin@[fd00::5]:22/system?sshauth=privkey,agent&proxy=netcat",
    "qemu:///system",
    "qemu+unix:///system",
    "qemu+unix:///system?socket=/run/libvirt/libvirt-sock",
    "qemu+unix:///system?socket=/var/run/libvirt/virtqemud-sock&mode=legacy",
    "qemu+unix:///system?SOCKET=/run/libvirt/libvirt-sock",  # libvirt matches names case-insensitively
])
def test_allowed_control_uris(uri: str) -> None:
    check_control_uri(uri, FIELD)


@pytest.mark.parametrize("uri, why", [
    # transports and drivers
    ("qemu+ext:///system?command=/tmp/x", "transport 'qemu+ext'"),
    ("qemu+ext://node1/system", "transport 'qemu+ext'"),
    ("test:///default", "transport 'test'"),
    ("xen+ssh://node1/system", "transport 'xen+ssh'"),
    ("lxc:///system", "transport 'lxc'"),
    ("vbox+tcp://node1/session", "transport 'vbox+tcp'"),
    ("qemu://node1/system", "use qemu+tls"),  # remote without a transport: say which
    ("QEMU+TLS://node1/system", "transport 'QEMU+TLS'"),
    ("tcp://node1:49152", "control URI"),
    ("node1", "must look like"),
    # parameters that pick a program or a driver
    ("qemu+ssh://node1/system?command=/tmp/x", "parameter 'command' is refused"),
    ("qemu+ssh://node1/system?Command=/tmp/x", "parameter 'command' is refused"),
    ("qemu+ssh://node1/system?comm%61nd=/tmp/x", "parameter 'command' is refused"),
    ("qemu+ssh://node1/system?netcat=/tmp/nc", "parameter 'netcat' is refused"),
    ("qemu+ssh://node1/system?name=test:///default", "parameter 'name' is refused"),
    ("qemu+ssh://node1/system?proxy=/tmp/helper", "must be one of auto, native, netcat"),
    ("qemu+unix:///system?mode=other", "must be one of auto, direct, legacy"),
    ("qemu+ssh://node1/system?authfile=/tmp/a", "not allowed with qemu+ssh"),
    ("qemu+tcp://node1/system?keyfile=/root/k", "not allowed with qemu+tcp"),
    ("qemu+tls://node1/system?socket=/run/libvirt/libvirt-sock", "not allowed with qemu+tls"),
    ("qemu+ssh://node1/system?unknown=1", "not allowed with qemu+ssh"),
    ("qemu+ssh://node1/system?no_tty=1&no_tty=0", "given twice"),
    ("qemu+ssh://node1/system?=x", "no parameter name"),
    # sockets
    ("qemu+unix:///system?socket=/home/eve/libvirt-sock", "outside the socket directories"),
    ("qemu+unix:///system?socket=/run/libvirt", "outside the socket directories"),
    ("qemu+unix:///system?socket=/run/libvirtx/sock", "outside the socket directories"),
    ("qemu+unix:///system?socket=/run/libvirt/../../tmp/sock", "normalised"),
    ("qemu+unix:///system?socket=/run/libvirt//sock", "normalised"),
    ("qemu+unix:///system?socket=run/libvirt/sock", "normalised"),
    ("qemu+ssh://node1/system?socket=/tmp/sock", "outside the socket directories"),
    # paths
    ("qemu+ssh://node1/system?keyfile=id_rsa", "absolute"),
    ("qemu+tls://node1/system?pkipath=/etc/pki/../../tmp", "absolute"),
    ("qemu+libssh://node1/system?known_hosts=~/.ssh/known_hosts", "absolute"),
    ("qemu+libssh://node1/system?sshauth=password,gssapi", "comma-separated"),
    ("qemu+ssh://node1/system?no_tty=yes", "must be one of 0, 1"),
    # escapes that hide separators, dots or control characters
    ("qemu+unix:///system?socket=/run/libvirt%2F..%2Ftmp/sock", "escape %2F"),
    ("qemu+unix:///system?socket=/run/libvirt/%2E%2E/tmp", "escape %2E"),
    ("qemu+ssh://node1/system?no_tty=1%26command=/x", "escape %26"),
    ("qemu+ssh://node1/system?no_tty=1%3F", "escape %3F"),
    ("qemu+unix:///system?socket=/run/libvirt/sock%00", "escape %00"),
    ("qemu+ssh://node1/system?keyfile=/root/a%20b", "escape %20"),
    ("qemu+ssh://node1/system?keyfile=/root/%zz", "'%' that does not start"),
    # syntax libvirt could read otherwise
    ("qemu+unix:///system?socket=/run/libvirt/sock;command=/tmp/x", "character ';'"),
    ("qemu+tls://node1/system#frag", "character '#'"),
    ("qemu+tls://node1/system ", "character ' '"),
    ("qemu+tls://node1/system\n", "character '\\n'"),
    ("qemu+tls://node1/sys\ttem", "character '\\t'"),
    ("qemu+tls://nöde1/system", "character 'ö'"),
    ("qemu+tls://node1/system?x=$(id)", "character '$'"),
    # user, host, port, path
    ("qemu+tls://root:secret@node1/system", "password"),
    ("qemu+ssh://-oProxyCommand=x@node1/system", "not a plain login name"),
    ("qemu+ssh://root@-oProxyCommand=x/system", "not a host name"),
    ("qemu+tls://node1:99999/system", "port '99999'"),
    ("qemu+tls://node1:/system", "port"),
    ("qemu+tls://no%64e1/system", "percent escapes are not allowed"),
    ("qemu+tls:///system", "needs a host name"),
    ("qemu+tls://node1/session", "path must be /system"),
    ("qemu+tls://node1/", "path must be /system"),
    ("qemu+tls://node1", "path must be /system"),
    ("qemu:///session", "path must be /system"),
    ("qemu+unix://node1/system", "takes no user, host or port"),
    ("qemu://root@/system", "takes no user, host or port"),
    ("", "must be a libvirt URI"),
])
def test_refused_control_uris_name_the_field_and_say_why(uri: str, why: str) -> None:
    with pytest.raises(InputError) as raised:
        check_control_uri(uri, FIELD)
    assert raised.value.field == FIELD
    assert why in raised.value.message


@pytest.mark.parametrize("value", [None, 5, ["qemu:///system"]])
def test_a_uri_that_is_not_text_is_refused(value: object) -> None:
    with pytest.raises(InputError) as raised:
        check_control_uri(value, FIELD)
    assert raised.value.field == FIELD


def test_declared_socket_directories_replace_the_defaults() -> None:
    lab = "qemu+unix:///system?socket=/srv/lab/hosts/a/run/libvirt-sock"
    check_control_uri(lab, FIELD, ("/srv/lab/hosts/a/run",))
    with pytest.raises(InputError):
        check_control_uri(lab, FIELD)
    with pytest.raises(InputError):
        check_control_uri("qemu+unix:///system?socket=/run/libvirt/libvirt-sock", FIELD, ("/srv/lab/hosts/a/run",))


def test_a_long_uri_is_quoted_shortened() -> None:
    uri = "qemu+ext:///system?command=/" + "x" * 500
    with pytest.raises(InputError) as raised:
        check_control_uri(uri, FIELD)
    assert "x" * SHOWN_CHARS not in raised.value.message
    assert "qemu+ext:///system?command=/xxx" in raised.value.message and "..." in raised.value.message


@pytest.mark.parametrize("uri", [
    "qemu+tcp://node1/system",
    "qemu+tls://node1.mig/system",
    "qemu+ssh://root@node1/system?keyfile=/root/.ssh/id_ed25519",
    "qemu+libssh://node1/system",
    "qemu+libssh2://node1/system",
    "tcp://node1",
    "tcp://node1:49152",
    "tcp://[fd00::5]:49152",
])
def test_allowed_migration_uris(uri: str) -> None:
    check_migration_uri(uri, "hosts[1].migration_uri")


@pytest.mark.parametrize("uri, why", [
    ("qemu+unix:///system", "transport 'qemu+unix'"),
    ("qemu:///system", "transport 'qemu'"),
    ("qemu+unix:///system?socket=/run/libvirt/libvirt-sock", "transport 'qemu+unix'"),
    ("qemu+ssh://node1/system?socket=/run/libvirt/libvirt-sock", "unix socket"),
    ("qemu+ext://node1/system?command=/tmp/x", "transport 'qemu+ext'"),
    ("qemu+ssh://node1/system?command=/tmp/x", "parameter 'command' is refused"),
    ("qemu+ssh://node1/system?netcat=/tmp/nc", "parameter 'netcat' is refused"),
    ("qemu+tls://node1/system?name=qemu:///session", "parameter 'name' is refused"),
    ("qemu+tcp://node1/system?x=1", "not allowed with qemu+tcp"),
    ("tcp://node1:49152/system", "tcp://host[:port] and nothing more"),
    ("tcp://node1:49152?x=1", "tcp://host[:port] and nothing more"),
    ("tcp://root@node1:49152", "tcp://host[:port] and nothing more"),
    ("unix:///tmp/migrate.sock", "transport 'unix'"),
    ("rdma://node1:49152", "transport 'rdma'"),
    ("qemu+tcp://node1/session", "path must be /system"),
])
def test_refused_migration_uris_name_the_field_and_say_why(uri: str, why: str) -> None:
    with pytest.raises(InputError) as raised:
        check_migration_uri(uri, "hosts[1].migration_uri")
    assert raised.value.field == "hosts[1].migration_uri"
    assert why in raised.value.message


@pytest.mark.parametrize("uri, warned", [
    ("qemu+tcp://node1/system", "plain TCP"),
    ("tcp://node1:49152", "plain TCP"),
    ("qemu+tls://node1/system?no_verify=1", "no_verify"),
    ("qemu+ssh://node1/system?no_verify=1", "no_verify"),
    ("qemu+libssh://node1/system?known_hosts_verify=ignore", "known_hosts_verify=ignore"),
])
def test_weak_but_allowed_uris_come_with_a_warning(uri: str, warned: str) -> None:
    check = check_migration_uri if uri.startswith("tcp:") else check_control_uri
    warnings = check(uri, FIELD)
    assert len(warnings) == 1 and warned in warnings[0]
    assert uri_warnings(uri) == warnings


@pytest.mark.parametrize("uri", ["qemu+tls://node1/system", "qemu+ssh://node1/system?no_verify=0",
                                 "qemu+unix:///system", "qemu+libssh://node1/system?known_hosts_verify=auto"])
def test_strong_uris_have_no_warning(uri: str) -> None:
    assert check_control_uri(uri, FIELD) == ()


@pytest.mark.parametrize("value, field", [
    ("/run/libvirt", "unix_socket_dirs"), ([], "unix_socket_dirs"), (["relative"], "unix_socket_dirs[0]"),
    (["/ok", "/a/../b"], "unix_socket_dirs[1]"), (["/"], "unix_socket_dirs[0]"), ([3], "unix_socket_dirs[0]"),
])
def test_socket_directories_must_be_absolute_and_normalised(value: object, field: str) -> None:
    with pytest.raises(InputError) as raised:
        check_socket_dirs(value, "unix_socket_dirs")
    assert raised.value.field == field
