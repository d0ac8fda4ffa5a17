"""A Prometheus server's HTTP API, asked one instant query at a time, as untrusted input.

The URL comes from the command line: only http and https, a host, no credentials, no query or
fragment (a path prefix is fine: Prometheus behind a reverse proxy at /prometheus). Requests go
straight to that server: no proxy from the environment (a lab Prometheus on 127.0.0.1 must not be
reached through one), no redirects followed. Every answer is bounded in time and size and read as
hostile JSON; anything unexpected is a one-line error naming the URL, never a traceback.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.bounded_call import NoAnswer, within
from planner.domain.errors import InputError, RebalanceError

MAX_URL_CHARS = 2048
MAX_RESPONSE_BYTES = 16 * 2**20  # one value per domain: thousands of domains fit many times over
MAX_MESSAGE_CHARS = 200
QUERY_PATH = "/api/v1/query"
# Prometheus writes sample values as strings; these are the forms it uses (Go's FormatFloat 'f'/'e').
_NUMBER = re.compile(r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf|NaN)$")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


class PrometheusError(RebalanceError):
    """Prometheus could not be asked, or answered something other than a result (exit 1)."""


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector: the series' labels and its value (NaN and ±Inf kept)."""

    labels: Mapping[str, str]
    value: float


def validated_url(url: str, field: str = "--prometheus-url") -> str:
    """The base URL without a trailing slash, or InputError (exit 2) saying what is wrong."""
    if not isinstance(url, str) or not url:
        raise InputError(field, "must be a URL such as http://127.0.0.1:9090")
    if len(url) > MAX_URL_CHARS or re.search(r"[\s\x00-\x1f\x7f]", url):
        raise InputError(field, f"must be a URL of at most {MAX_URL_CHARS} printable characters without spaces")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0..65535
    except ValueError as error:
        raise InputError(field, f"is not a valid URL ({error})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InputError(field, f"must start with http:// or https://, got {_printable(url)!r}")
    if not parts.hostname:
        raise InputError(field, f"names no host: {_printable(url)!r}")
    if parts.username is not None or parts.password is not None:
        raise InputError(field, "must not carry credentials (user:password@)")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise InputError(field, "must be the server's base URL, without ?query or #fragment")
    if port == 0:
        raise InputError(field, "port 0 is not a port a server listens on")
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", ""))


def instant_query(base_url: str, promql: str, at_s: float, timeout_s: float) -> tuple[Sample, ...]:
    """The instant vector `promql` evaluates to at `at_s` (Unix seconds), within `timeout_s`."""
    body = urllib.parse.urlencode({"query": promql, "time": f"{at_s:.3f}",
                                   "timeout": f"{max(1, int(timeout_s * 1000))}ms"}).encode()
    try:
        status, answer = within(timeout_s, lambda: _post(base_url + QUERY_PATH, body, timeout_s), "prometheus")
    except NoAnswer:
        raise PrometheusError(f"Prometheus at {base_url}: no answer within {timeout_s:g} s") from None
    if status != 200:
        raise PrometheusError(f"Prometheus at {base_url} answered HTTP {status}{_api_error(answer)}")
    return parse_vector(answer, base_url)


def _post(url: str, body: bytes, timeout_s: float) -> tuple[int, bytes]:
    """(HTTP status, at most MAX_RESPONSE_BYTES of body); transport trouble as PrometheusError."""
    base = url[: -len(QUERY_PATH)]
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())
    try:
        with opener.open(request, timeout=timeout_s) as response:
            return response.status, _bounded_read(response, base)
    except urllib.error.HTTPError as error:  # 4xx/5xx (and 3xx, not followed): the body may say why
        with error:
            return error.code, _bounded_read(error, base)
    except urllib.error.URLError as error:
        raise PrometheusError(f"Prometheus at {base} unreachable: {_printable(str(error.reason))}") from None
    except TimeoutError:
        raise PrometheusError(f"Prometheus at {base}: no answer within {timeout_s:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise PrometheusError(f"Prometheus at {base} unreachable: {_printable(str(error) or type(error).__name__)}") \
            from None


def _bounded_read(response: Any, base: str) -> bytes:
    try:
        data = response.read(MAX_RESPONSE_BYTES + 1)
    except (OSError, http.client.HTTPException) as error:
        raise PrometheusError(f"Prometheus at {base}: answer cut short ({_printable(str(error))})") from None
    if len(data) > MAX_RESPONSE_BYTES:
        raise PrometheusError(f"Prometheus at {base}: answer larger than {MAX_RESPONSE_BYTES // 2**20} MiB")
    return data


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx stays an answer (reported as such): a redirect could lead anywhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# -- answers -----------------------------------------------------------------------------------

def parse_vector(answer: bytes, base_url: str) -> tuple[Sample, ...]:
    """A successful instant-vector answer's samples; PrometheusError for anything else."""
    document = _json(answer, base_url)
    if not isinstance(document, dict) or document.get("status") != "success":
        raise PrometheusError(f"Prometheus at {base_url} did not answer with a result{_api_error(answer)}")
    data = document.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise _malformed(base_url, "data is not an instant vector")
    return tuple(_sample(item, base_url) for item in data["result"])


def _json(answer: bytes, base_url: str) -> Any:
    try:
        return json.loads(answer.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _malformed(base_url, f"not JSON ({_printable(str(error))[:80]})") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"bare {name} is not JSON")


def _sample(item: Any, base_url: str) -> Sample:
    if not isinstance(item, dict):
        raise _malformed(base_url, "a result is not an object")
    labels, value = item.get("metric"), item.get("value")
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise _malformed(base_url, "a result's labels are not strings")
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (int, float))
            and not isinstance(value[0], bool) and isinstance(value[1], str) and _NUMBER.match(value[1])):
        raise _malformed(base_url, "a result's value is not [time, \"number\"]")
    return Sample(labels, float(value[1]))


def _malformed(base_url: str, what: str) -> PrometheusError:
    return PrometheusError(f"Prometheus at {base_url} answered something that is not a Prometheus API answer: {what}")


def _api_error(answer: bytes) -> str:
    """': errorType: error' from a Prometheus error answer, or '' when the body is not one."""
    try:
        document = json.loads(answer.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ""
    if not isinstance(document, dict):
        return ""
    parts = [document.get(key) for key in ("errorType", "error")]
    text = ": ".join(p for p in parts if isinstance(p, str) and p)
    return f": {_printable(text)[:MAX_MESSAGE_CHARS]}" if text else ""


def _printable(text: str) -> str:
    """One line: control characters (newlines, escapes) from a hostile server or URL become spaces."""
    return _UNPRINTABLE.sub(" ", text).strip()
