"""The Prometheus client as a reader of untrusted input: the URL from the command line and the
server's answer. Answers are literal JSON strings here (no server pretends to be Prometheus); the
transport failures are real sockets on 127.0.0.1 that refuse or never answer."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator

import pytest

from cluster.prometheus_api import (
    MAX_RESPONSE_BYTES,
    PrometheusError,
    _api_error,
    _bounded_read,
    instant_query,
    parse_vector,
    validated_url,
)
from planner.domain.errors import InputError, RebalanceError

BASE = "http://127.0.0.1:9090"


@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
    ("http://127.0.0.1:9090/", "http://127.0.0.1:9090"),
    ("HTTPS://prometheus.example.org/prom/", "https://prometheus.example.org/prom"),
    ("http://[::1]:9090", "http://[::1]:9090"),
])
def test_a_server_url_is_accepted_and_normalised(url: str, expected: str) -> None:
    assert validated_url(url) == expected


@pytest.mark.parametrize("url, says", [
    ("", "must be a URL"),
    ("ftp://127.0.0.1/", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("javascript:alert(1)", "http:// or https://"),
    ("127.0.0.1:9090", "http:// or https://"),
    ("http://", "names no host"),
    ("http://user:secret@127.0.0.1:9090", "credentials"),
    ("http://127.0.0.1:99999", "not a valid URL"),
    ("http://127.0.0.1:nine", "not a valid URL"),
    ("http://127.0.0.1:0", "port 0"),
    ("http://127.0.0.1:9090/?query=up", "without ?query"),
    ("http://127.0.0.1:9090/#x", "without ?query"),
    ("http://127.0.0.1:9090/?", "without ?query"),
    ("http://127.0.0.1:9090/\nX-Injected: 1", "printable"),
    ("http://127.0.0.1:9090/a b", "printable"),
    ("http://h/" + "a" * 3000, "printable"),
])
def test_a_bad_url_is_bad_input_naming_the_option(url: str, says: str) -> None:
    with pytest.raises(InputError) as raised:
        validated_url(url)
    assert raised.value.field == "--prometheus-url"
    assert says in raised.value.message
    assert "\n" not in str(raised.value)


def test_a_vector_answer_gives_labels_and_values_nan_included() -> None:
    answer = b'''{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"uuid":"u1"},"value":[1700000000.5,"0.25"]},
        {"metric":{"uuid":"u2","domain":"web-1"},"value":[1700000000,"NaN"]},
        {"metric":{},"value":[1700000000,"+Inf"]}]}}'''
    samples = parse_vector(answer, BASE)
    assert [dict(s.labels) for s in samples] == [{"uuid": "u1"}, {"uuid": "u2", "domain": "web-1"}, {}]
    assert samples[0].value == 0.25 and math.isnan(samples[1].value) and samples[2].value == math.inf


@pytest.mark.parametrize("answer, says", [
    (b"", "not JSON"),
    (b"<html>502 Bad Gateway</html>", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),  # deeper than the parser goes: no RecursionError
    (b'{"status":"success","data":{"resultType":"vector","result":[NaN]}}', "not JSON"),  # bare NaN
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[' + b"9" * 5000
     + b',"1"]}]}}', "not JSON"),  # an integer too long to convert
    (b'[]', "did not answer with a result"),
    (b'{"status":"error","errorType":"bad_data","error":"parse error"}', "bad_data: parse error"),
    (b'{"status":"success","data":{"resultType":"matrix","result":[]}}', "not an instant vector"),
    (b'{"status":"success","data":{"resultType":"vector","result":{}}}', "not an instant vector"),
    (b'{"status":"success","data":{"resultType":"vector","result":[7]}}', "not an object"),
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{"uuid":1},"value":[1,"1"]}]}}',
     "labels are not strings"),
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":[],"value":[1,"1"]}]}}',
     "labels are not strings"),
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,1]}]}}',
     "value is not"),
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[true,"1"]}]}}',
     "value is not"),
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1_000"]}]}}',
     "value is not"),
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1",2]}]}}',
     "value is not"),
    (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}', "value is not"),
])
def test_a_hostile_answer_is_a_one_line_error_naming_the_server(answer: bytes, says: str) -> None:
    with pytest.raises(PrometheusError) as raised:
        parse_vector(answer, BASE)
    assert says in str(raised.value)
    assert f"Prometheus at {BASE}" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_error_text_from_the_server_is_one_short_line() -> None:
    said = _api_error(b'{"errorType":"bad_data","error":"line one\\nline two\\u001b[31m' + b"x" * 1000 + b'"}')
    assert said.startswith(": bad_data: line one line two [31mxxx")
    assert "\n" not in said and "\x1b" not in said and len(said) <= 202


def test_an_answer_over_the_size_bound_is_refused_without_reading_it_all() -> None:
    class Endless:
        asked: list[int] = []

        def read(self, size: int) -> bytes:
            self.asked.append(size)
            return b"x" * size

    body = Endless()
    with pytest.raises(PrometheusError, match="larger than 16 MiB"):
        _bounded_read(body, BASE)
    assert body.asked == [MAX_RESPONSE_BYTES + 1]


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield listener.getsockname()[1]


def test_a_refused_connection_is_an_error_naming_the_url_exit_1(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(PrometheusError) as raised:
        instant_query(url, "up", 0, timeout_s=5)
    assert str(raised.value).startswith(f"Prometheus at {url} unreachable: ")
    assert isinstance(raised.value, RebalanceError) and not isinstance(raised.value, InputError)  # exit 1


def test_a_server_that_never_answers_is_given_up_on_in_time(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    with pytest.raises(PrometheusError, match=f"Prometheus at {url}: no answer within 0.5 s"):
        instant_query(url, "up", 0, timeout_s=0.5)
