"""Go durations and Ollama's keep_alive (ollama-api.md §1.3)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mullama_jupyter.core.durations import (
    DEFAULT_KEEP_ALIVE,
    FOREVER,
    format_duration,
    parse_go_duration,
    parse_keep_alive,
)
from mullama_jupyter.core.errors import InvalidRequest

MISSING_UNIT = 'time: missing unit in duration "{}"'
INVALID = 'time: invalid duration "{}"'

# ---------------------------------------------------------------------------------------------
# keep_alive: value -> seconds, or the exact error text Ollama sends

KEEP_ALIVE = [
    (None, None),
    (0, 0.0),
    (0.0, 0.0),
    (-0.0, 0.0),
    (300, 300.0),
    (300.0, 300.0),
    (1.5, 1.5),
    (-1, FOREVER),
    (-1.0, FOREVER),
    (-(10**400), FOREVER),
    (10**400, FOREVER),  # huge JSON integers must not overflow float()
    (1e10, 1e10),
    (1e10 + 1, FOREVER),
    ("0", 0.0),
    ("-0", 0.0),
    ("0s", 0.0),
    ("-0s", 0.0),
    ("5m", 300.0),
    ("1h30m", 5400.0),
    ("1.5h", 5400.0),
    ("1h1h", 7200.0),
    ("-1m", FOREVER),
    ("-1ns", FOREVER),
    ("+5s", 5.0),
    ("300ms", 0.3),
    ("10\u00b5s", 1e-5),  # micro sign
    ("10\u03bcs", 1e-5),  # Greek mu
    ("10us", 1e-5),
    ("2562047h47m16.854775807s", 9223372036.854775807),  # Go's largest duration
    ("300", MISSING_UNIT.format("300")),
    ("-1", MISSING_UNIT.format("-1")),
    ("1.5", MISSING_UNIT.format("1.5")),
    ("5m3", MISSING_UNIT.format("5m3")),
    ("abc", INVALID.format("abc")),
    ("", INVALID.format("")),
    ("-", INVALID.format("-")),
    ("+", INVALID.format("+")),
    (".s", INVALID.format(".s")),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("5 m", 'time: unknown unit " m" in duration "5 m"'),
    ("1S", 'time: unknown unit "S" in duration "1S"'),
    ("2562047h47m16.854775808s", INVALID.format("2562047h47m16.854775808s")),  # one ns too many
    ("99999999999999999999h", INVALID.format("99999999999999999999h")),
    # Go's quote: client control characters never reach the message raw
    ("1x\r\nForged: yes", 'time: unknown unit "x\\x0d\\x0aForged: yes" in duration "1x\\x0d\\x0aForged: yes"'),
    ('"', 'time: invalid duration "\\""'),
    ("1\u00e9", 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'),
    (True, "Unsupported type: 'bool'"),
    (False, "Unsupported type: 'bool'"),
    ([], "Unsupported type: '[]interface {}'"),
    ({"s": 1}, "Unsupported type: 'map[string]interface {}'"),
]


@pytest.mark.parametrize(("value", "expected"), KEEP_ALIVE)
def test_parse_keep_alive(value, expected):
    if isinstance(expected, str):
        with pytest.raises(InvalidRequest) as exc:
            parse_keep_alive(value)
        assert exc.value.message == expected
        assert exc.value.status == 400
        return
    got = parse_keep_alive(value)
    if expected is None or expected == FOREVER:
        assert got == expected
    else:
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-15)
        assert math.copysign(1.0, got) == 1.0  # never -0.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_keep_alive_rejects_non_finite_numbers(value):
    with pytest.raises(InvalidRequest, match="keep_alive"):
        parse_keep_alive(value)


def test_default_keep_alive_is_five_minutes():
    assert DEFAULT_KEEP_ALIVE == parse_go_duration("5m") == 300.0


# ---------------------------------------------------------------------------------------------
# parse_go_duration on its own: signs are kept


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("-1m", -60.0),
        ("-1.5h", -5400.0),
        (".5s", 0.5),
        ("5.s", 5.0),
        ("1.000000000000000000001s", 1.0),  # digits past int64 are consumed and dropped, as in Go
        ("1h2m3s4ms5us6ns", 3723.004005006),
        ("-2562047h47m16.854775808s", -9223372036.854775808),  # Go's smallest duration
    ],
)
def test_parse_go_duration_signed(text, seconds):
    assert math.isclose(parse_go_duration(text), seconds, rel_tol=1e-15)


def test_parse_go_duration_rejects_non_strings():
    with pytest.raises(InvalidRequest):
        parse_go_duration(5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# format_duration: Go's Duration.String


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (-0.0, "0s"),
        (300.0, "5m0s"),
        (5400.0, "1h30m0s"),
        (7200.0, "2h0m0s"),
        (0.3, "300ms"),
        (1.5, "1.5s"),
        (61.25, "1m1.25s"),
        (1e-6, "1\u00b5s"),
        (1.5e-6, "1.5\u00b5s"),
        (1e-9, "1ns"),
        (0.0012, "1.2ms"),
        (-60.0, "-1m0s"),
        (-0.001, "-1ms"),
        (3723.004005006, "1h2m3.004005006s"),
        (FOREVER, "forever"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", [math.nan, -math.inf])
def test_format_duration_rejects_nan_and_minus_infinity(value):
    with pytest.raises(ValueError):
        format_duration(value)


# ---------------------------------------------------------------------------------------------
# Properties

components = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=500, deadline=None)
@given(h=components, m=components, s=components, ms=components)
def test_compound_durations_add_up(h, m, s, ms):
    got = parse_go_duration(f"{h}h{m}m{s}s{ms}ms")
    assert math.isclose(got, h * 3600 + m * 60 + s + ms / 1000, rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=500, deadline=None)
@given(millis=st.integers(min_value=-9 * 10**12, max_value=9 * 10**12))
def test_format_then_parse_round_trips(millis):
    # the range stays inside Go's int64 nanoseconds (about ±292 years)
    seconds = millis / 1000
    text = format_duration(seconds)
    assert math.isclose(parse_go_duration(text), seconds, rel_tol=1e-12, abs_tol=1e-12)
    if millis >= 0:
        assert parse_keep_alive(text) == parse_go_duration(text)


@given(st.text())
def test_any_text_parses_or_gives_a_go_error(text):
    try:
        seconds = parse_go_duration(text)
    except InvalidRequest as e:
        assert e.message.startswith("time: ")
        assert "\n" not in e.message and "\r" not in e.message
        return
    assert math.isfinite(seconds)
    assert abs(seconds) <= 2**63 / 1e9


@pytest.mark.parametrize("text, seconds", [("5m", 300.0), ("300", 300.0), ("-1", math.inf), ("-1m", math.inf),
                                           ("0", 0.0), (" 1h ", 3600.0)])
def test_settings_take_bare_seconds_like_ollama_keep_alive(text, seconds):
    from mullama_jupyter.core.durations import parse_keep_alive_setting

    assert parse_keep_alive_setting(text) == seconds


def test_command_line_keep_alive_flags():
    from mullama_jupyter.core.durations import keep_alive_flag

    assert keep_alive_flag("-1") == -1.0 and keep_alive_flag("10m") == "10m" and keep_alive_flag(None) is None
