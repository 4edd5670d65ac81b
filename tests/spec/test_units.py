import pytest

from archsim.units import AREA, BANDWIDTH, CONDUCTANCE, ENERGY, FREQUENCY, SIZE, TIME, parse_quantity


@pytest.mark.parametrize("text, dim, value", [
    ("80ns", TIME, 80e-9), ("1h", TIME, 3600.0), ("1 year", TIME, 365.25 * 86400), ("250 ns", TIME, 250e-9),
    ("1GHz", FREQUENCY, 1e9), ("200MHz", FREQUENCY, 2e8),
    ("64KiB", SIZE, 65536.0), ("2MB", SIZE, 2e6), ("32GB/s", BANDWIDTH, 32e9), ("1GiB/s", BANDWIDTH, 2**30),
    ("2.5pJ", ENERGY, 2.5e-12), ("23pJ", ENERGY, 23e-12), ("25uS", CONDUCTANCE, 25e-6),
    ("0.1mm2", AREA, 1e-7), ("1e3ns", TIME, 1e-6), (0, TIME, 0.0),
])
def test_quantities_parse_to_si(text, dim, value):
    assert parse_quantity(text, dim) == pytest.approx(value, rel=1e-15)


def test_decimal_prefixes_are_exact():
    assert parse_quantity("25uS", CONDUCTANCE) == 2.5e-05
    assert parse_quantity("80ns", TIME) == 8e-08


@pytest.mark.parametrize("value, message", [
    ("80nJ", "has unit 'nJ', which is not a unit of time; use one of"),
    (80, "must be a time with a unit such as '80ns', '1h', not the bare number 80"),
    ("fast", "must be a time with a unit such as '80ns', '1h', not 'fast'"),
    (True, "must be a time with a unit such as '80ns', '1h', not True"),
    ("80", "must be a time with a unit such as '80ns', '1h', not '80'"),
])
def test_bad_quantities_say_what_is_allowed(value, message):
    with pytest.raises(ValueError) as info:
        parse_quantity(value, TIME)
    assert str(info.value).startswith(message)
