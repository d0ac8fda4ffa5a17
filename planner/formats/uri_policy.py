"""Which libvirt URIs this tool opens or hands to a daemon: an allow-list, checked wherever one is read.

A libvirt URI is more than an address. `qemu+ext:///system?command=/x` runs /x, `?socket=` picks
whose daemon answers, `?netcat=` and `?command=` pick programs, `?name=` picks the driver the far
daemon opens, and parameters libvirt does not know are passed through to that daemon. Since
`rebalance apply` runs as root, a URI is checked against what the remote driver documents
(libvirt docs/uri.rst, src/remote/remote_driver.c) and anything else is refused:

control URIs (this tool connects to them)
    qemu+tls, qemu+ssh, qemu+libssh, qemu+libssh2 and qemu+tcp (plain TCP is accepted with a
    warning: it is neither authenticated nor encrypted) to a host, path /system; qemu and
    qemu+unix for the local daemon (no host, path /system), whose `socket=` must lie inside one of
    the declared socket directories.
migration URIs (the source daemon connects to them)
    qemu+tcp, qemu+tls, qemu+ssh, qemu+libssh, qemu+libssh2 to a host, path /system, or QEMU's own
    tcp://host[:port] with nothing else; never a unix socket.

Query parameters, per transport (names are matched case-insensitively and percent-decoded, as
libvirt does): refused everywhere are `command` (a local program), `netcat` (a remote program),
`name` (which driver the remote daemon opens) and any parameter not listed for the transport.
`proxy` is allowed with auto, native or netcat only: each value picks one of libvirt's two own
helpers (virt-ssh-helper or `nc`, by its default name) and auto, the default, may already run
either, so none lets the URI choose a program. `mode` (auto, direct, legacy) only picks which
of the host's own daemons answers. Paths (`keyfile`, `pkipath`, `known_hosts`) must be absolute and
normalised. `no_verify=1` and `known_hosts_verify=ignore` are accepted with a warning.

Syntax is refused rather than interpreted where libvirt and a reader could disagree: a `;` in the
query (libvirt splits on it when no `&` follows), a fragment, a password, whitespace, control or
non-ASCII characters, a repeated parameter (libvirt keeps the last), and percent escapes that
decode to a separator, a dot or a control character.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from planner.domain.errors import InputError

DEFAULT_SOCKET_DIRS = ("/run/libvirt", "/var/run/libvirt")
SYSTEM_PATH = "/system"
SHOWN_CHARS = 80  # how much of a refused URI an error message quotes

LOCAL_TRANSPORTS = frozenset({"qemu", "qemu+unix"})
REMOTE_TRANSPORTS = frozenset({"qemu+tls", "qemu+ssh", "qemu+libssh", "qemu+libssh2", "qemu+tcp"})
QEMU_MIGRATION_SCHEME = "tcp"  # QEMU's own migration stream address, tcp://host[:port]

_SSH_COMMON = frozenset({"mode", "proxy", "socket", "keyfile"})
PARAMETERS: Mapping[str, frozenset[str]] = MappingProxyType({
    "qemu": frozenset({"mode", "socket"}),
    "qemu+unix": frozenset({"mode", "socket"}),
    "qemu+ssh": _SSH_COMMON | {"no_verify", "no_tty"},
    "qemu+libssh": _SSH_COMMON | {"known_hosts", "known_hosts_verify", "sshauth"},
    "qemu+libssh2": _SSH_COMMON | {"known_hosts", "known_hosts_verify", "sshauth"},
    "qemu+tls": frozenset({"tls_priority", "no_verify", "pkipath"}),
    "qemu+tcp": frozenset(),
})
REFUSED_PARAMETERS: Mapping[str, str] = MappingProxyType({
    "command": "makes libvirt run a program the URI names",
    "netcat": "makes libvirt run a program the URI names on the remote host",
    "name": "changes which driver the remote daemon opens",
})

_RAW_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?\[\]@&=%+,!]*")
_SHAPE = re.compile(r"(?P<scheme>[^:/?]+)://(?P<authority>[^/?]*)(?P<path>[^?]*)(?:\?(?P<query>.*))?", re.DOTALL)
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_PORT = re.compile(r"[0-9]{1,5}")
_PATH_VALUE = re.compile(r"/[A-Za-z0-9._/@+-]*")
_TLS_PRIORITY = re.compile(r"[A-Za-z0-9:+\-._!%@=]+")
_ESCAPE = re.compile(r"%(?P<hex>[0-9A-Fa-f]{2})")
_HIDDEN_BY_ESCAPE = frozenset("/?&;#=.")  # separators, and dots that could spell '..'
SSH_AUTH_METHODS = frozenset({"agent", "privkey", "password", "keyboard-interactive"})


@dataclass(frozen=True)
class LibvirtUri:
    scheme: str
    user: str
    host: str
    port: str
    path: str
    parameters: tuple[tuple[str, str], ...]  # names lower-cased and decoded, values decoded

    @property
    def parameter(self) -> Mapping[str, str]:
        return dict(self.parameters)


def check_control_uri(uri: object, field: str,
                      socket_dirs: Iterable[str] = DEFAULT_SOCKET_DIRS) -> tuple[str, ...]:
    """Refuse (InputError naming `field`) a URI this tool must not open; return its warnings."""
    parsed = parse_uri(uri, field)
    if parsed.scheme in LOCAL_TRANSPORTS:
        _check_local(parsed, uri, field)
    elif parsed.scheme in REMOTE_TRANSPORTS:
        _check_remote(parsed, uri, field)
    else:
        raise _refusal(field, uri, f"transport {parsed.scheme!r} is not allowed for a control URI; use one of "
                                   f"{', '.join(sorted(REMOTE_TRANSPORTS | LOCAL_TRANSPORTS))}")
    _check_parameters(parsed, uri, field, tuple(socket_dirs))
    return uri_warnings(uri)


def check_migration_uri(uri: object, field: str) -> tuple[str, ...]:
    """Refuse a URI a source daemon must not be told to migrate to; return its warnings."""
    parsed = parse_uri(uri, field)
    if parsed.scheme == QEMU_MIGRATION_SCHEME:
        _check_qemu_migration(parsed, uri, field)
        return uri_warnings(uri)
    if parsed.scheme not in REMOTE_TRANSPORTS:
        raise _refusal(field, uri, f"transport {parsed.scheme!r} is not allowed for a migration URI; use one of "
                                   f"{', '.join(sorted(REMOTE_TRANSPORTS | {'tcp'}))}")
    _check_remote(parsed, uri, field)
    if "socket" in parsed.parameter:
        raise _refusal(field, uri, "socket= makes the source daemon connect to a unix socket, not to a peer")
    _check_parameters(parsed, uri, field, socket_dirs=())
    return uri_warnings(uri)


def uri_warnings(uri: str) -> tuple[str, ...]:
    """What is weak about an allowed URI: plain TCP, or checks of the peer's identity turned off."""
    parsed = parse_uri(uri, "uri")
    shown = _shown(uri)
    warnings = []
    if parsed.scheme in ("qemu+tcp", QEMU_MIGRATION_SCHEME):
        warnings.append(f"{shown}: plain TCP is neither authenticated nor encrypted: anyone who reaches the "
                        f"port can drive the daemon or read the migration stream; prefer qemu+tls or qemu+ssh")
    if parsed.parameter.get("no_verify", "0") != "0":
        warnings.append(f"{shown}: no_verify turns off the check of the peer's certificate or host key")
    if parsed.parameter.get("known_hosts_verify") == "ignore":
        warnings.append(f"{shown}: known_hosts_verify=ignore turns off the check of the peer's host key")
    return tuple(warnings)


def parse_uri(uri: object, field: str) -> LibvirtUri:
    """The URI's parts, refusing any syntax libvirt could read differently from this reader."""
    if not isinstance(uri, str) or not uri:
        raise InputError(field, f"must be a libvirt URI such as qemu+tls://%s/system, got {_shown(uri)}")
    bad = next((c for c in uri if not _RAW_CHARACTERS.fullmatch(c)), None)
    if bad is not None:
        raise _refusal(field, uri, f"character {bad!r} is not allowed in a URI here "
                                   f"(whitespace, control characters, quotes, ';', '#' and the like are refused)")
    shape = _SHAPE.fullmatch(uri)
    if shape is None:
        raise _refusal(field, uri, "must look like driver+transport://[user@]host[:port]/system[?parameters]")
    user, host, port = _authority(shape["authority"], uri, field)
    return LibvirtUri(scheme=shape["scheme"], user=user, host=host, port=port, path=shape["path"],
                      parameters=_parameters(shape["query"] or "", uri, field))


def _authority(authority: str, uri: str, field: str) -> tuple[str, str, str]:
    if "%" in authority:
        raise _refusal(field, uri, "percent escapes are not allowed in the user, host or port")
    user, at, hostport = authority.rpartition("@")
    if at and ":" in user:
        raise _refusal(field, uri, "a password in the URI is refused: use a key or the libvirt auth file")
    if at and not _USER.fullmatch(user):
        raise _refusal(field, uri, f"user name {user!r} is not a plain login name")
    host, port = hostport, ""
    if hostport.startswith("["):
        host, _, rest = hostport.partition("]")
        host += "]"
        if rest:
            port = _after_colon(rest, uri, field)
    elif ":" in hostport:
        host, _, port = hostport.partition(":")
        port = port or "-"  # "host:" is a port that says nothing
    if host and not (_HOSTNAME.fullmatch(host) or _IPV6.fullmatch(host)):
        raise _refusal(field, uri, f"host {host!r} is not a host name or address")
    if port and not (_PORT.fullmatch(port) and 0 < int(port) < 65536):
        raise _refusal(field, uri, f"port {port!r} is not a number from 1 to 65535")
    return user, host, port


def _after_colon(rest: str, uri: str, field: str) -> str:
    if not rest.startswith(":"):
        raise _refusal(field, uri, "an IPv6 address in brackets may only be followed by :port")
    return rest[1:] or "-"


def _parameters(query: str, uri: str, field: str) -> tuple[tuple[str, str], ...]:
    """Split and decode the query as libvirt's virURIParseParams does ('&' separated, names and
    values percent-decoded, '+' literal), refusing what it would read another way."""
    parameters: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        name = _unescape(raw_name, uri, field).lower()  # libvirt compares names case-insensitively
        if not name:
            raise _refusal(field, uri, f"query part {part!r} has no parameter name")
        if any(name == seen for seen, _ in parameters):
            raise _refusal(field, uri, f"parameter {name!r} is given twice (libvirt would keep the last)")
        parameters.append((name, _unescape(raw_value, uri, field)))
    return tuple(parameters)


def _unescape(text: str, uri: str, field: str) -> str:
    if "%" in _ESCAPE.sub("", text):
        raise _refusal(field, uri, "a '%' that does not start a %XX escape")

    def decode(match: re.Match[str]) -> str:
        code = int(match["hex"], 16)
        character = chr(code)
        if code < 0x21 or code > 0x7E or character in _HIDDEN_BY_ESCAPE:
            raise _refusal(field, uri, f"escape %{match['hex']} hides {character!r}: write it plainly or not at all")
        return character

    return _ESCAPE.sub(decode, text)


def _check_local(parsed: LibvirtUri, uri: str, field: str) -> None:
    if parsed.user or parsed.host or parsed.port:
        raise _refusal(field, uri, f"{parsed.scheme}:// reaches the local daemon and takes no user, host or port; "
                                   f"for a remote host use qemu+tls or qemu+ssh")
    _check_path(parsed, uri, field)


def _check_remote(parsed: LibvirtUri, uri: str, field: str) -> None:
    if not parsed.host:
        raise _refusal(field, uri, f"{parsed.scheme} needs a host name")
    _check_path(parsed, uri, field)


def _check_path(parsed: LibvirtUri, uri: str, field: str) -> None:
    if parsed.path != SYSTEM_PATH:
        raise _refusal(field, uri, f"path must be {SYSTEM_PATH} (the system daemon), got {_shown(parsed.path or 'none')}")


def _check_qemu_migration(parsed: LibvirtUri, uri: str, field: str) -> None:
    if not parsed.host or parsed.user or parsed.path or parsed.parameters:
        raise _refusal(field, uri, "a QEMU migration address is tcp://host[:port] and nothing more")


def _check_parameters(parsed: LibvirtUri, uri: str, field: str, socket_dirs: tuple[str, ...]) -> None:
    allowed = PARAMETERS.get(parsed.scheme, frozenset())
    for name, value in parsed.parameters:
        if name in REFUSED_PARAMETERS:
            raise _refusal(field, uri, f"parameter {name!r} is refused: it {REFUSED_PARAMETERS[name]}")
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise _refusal(field, uri, f"parameter {name!r} is not allowed with {parsed.scheme} (allowed: {known})")
        problem = _VALUE_CHECKS[name](value, socket_dirs)
        if problem:
            raise _refusal(field, uri, f"{name}={value[:SHOWN_CHARS]!r}: {problem}")


def _one_of(*choices: str) -> Callable[[str, tuple[str, ...]], str]:
    def check(value: str, _dirs: tuple[str, ...]) -> str:
        return "" if value in choices else f"must be one of {', '.join(choices)}"
    return check


def _absolute_path(value: str, _dirs: tuple[str, ...] = ()) -> str:
    if not _PATH_VALUE.fullmatch(value) or posixpath.normpath(value) != value:
        return "must be an absolute, normalised path (no '..', '.', '//' or trailing '/') of plain characters"
    return ""


def _socket(value: str, socket_dirs: tuple[str, ...]) -> str:
    problem = _absolute_path(value)
    if problem:
        return problem
    if not any(value.startswith(directory.rstrip("/") + "/") for directory in socket_dirs):
        return f"lies outside the socket directories {', '.join(socket_dirs) or '(none declared)'}"
    return ""


def _ssh_auth(value: str, _dirs: tuple[str, ...]) -> str:
    methods = value.split(",")
    if not value or any(m not in SSH_AUTH_METHODS for m in methods):
        return f"must be a comma-separated list of {', '.join(sorted(SSH_AUTH_METHODS))}"
    return ""


def _tls_priority(value: str, _dirs: tuple[str, ...]) -> str:
    return "" if _TLS_PRIORITY.fullmatch(value) else "must be a GnuTLS priority string such as NORMAL:-VERS-SSL3.0"


_VALUE_CHECKS: Mapping[str, Callable[[str, tuple[str, ...]], str]] = MappingProxyType({
    "mode": _one_of("auto", "direct", "legacy"),
    "proxy": _one_of("auto", "native", "netcat"),
    "socket": _socket,
    "keyfile": _absolute_path,
    "pkipath": _absolute_path,
    "known_hosts": _absolute_path,
    "known_hosts_verify": _one_of("normal", "auto", "ignore"),
    "no_verify": _one_of("0", "1"),
    "no_tty": _one_of("0", "1"),
    "sshauth": _ssh_auth,
    "tls_priority": _tls_priority,
})


def check_socket_dirs(value: object, field: str) -> tuple[str, ...]:
    """A list of absolute, normalised directories (where a qemu+unix URI's socket may lie)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise InputError(field, f"must be a non-empty list of absolute directories, got {_shown(value)}")
    for index, directory in enumerate(value):
        if not isinstance(directory, str) or _absolute_path(directory) or directory == "/":
            raise InputError(f"{field}[{index}]", f"must be an absolute, normalised directory other than /, "
                                                  f"got {_shown(directory)}")
    return tuple(value)


def _refusal(field: str, uri: object, reason: str) -> InputError:
    return InputError(field, f"{_shown(uri)} refused: {reason}")


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS - 3] + "..."
    return repr(text)
