import pytest
from hypothesis import given
from hypothesis import strategies as st

from kakatong.domain.money import AmountError, apply_percent, format_fen, parse_amount


@pytest.mark.parametrize(
    "text, fen",
    [
        ("90", 9000),
        ("90.5", 9050),
        ("49.50", 4950),
        ("0.01", 1),
        ("0.1", 10),
        ("50000.00", 5000000),
    ],
)
def test_amounts_parse_to_exact_fen(text, fen):
    assert parse_amount(text) == fen


@pytest.mark.parametrize(
    "value",
    [
        "0", "0.00", "0.0", "-1", "+1", "1e3", "1E3", " 5", "5 ", "5.", ".5", "5.123", "1,000",
        "", "abc", "٥", "５", "0x10", "1_000", "01", "nan", "inf", 90, 90.5, None, True, ["1"],
    ],
)  # fmt: skip
def test_anything_else_is_not_an_amount(value):
    with pytest.raises(AmountError) as info:
        parse_amount(value)
    assert info.value.code == "invalid_amount"


def test_absurdly_long_amounts_are_over_limit_not_a_crash():
    with pytest.raises(AmountError) as info:
        parse_amount("9" * 5000)
    assert info.value.code == "over_limit"


@pytest.mark.parametrize(
    "fen, text", [(0, "0.00"), (1, "0.01"), (9000, "90.00"), (-4950, "-49.50"), (-5, "-0.05")]
)
def test_format(fen, text):
    assert format_fen(fen) == text


@given(st.integers(min_value=1, max_value=10**12))
def test_format_and_parse_round_trip(fen):
    assert parse_amount(format_fen(fen)) == fen


@pytest.mark.parametrize(
    "fen, percent, expected",
    [(10000, 88, 8800), (10, 95, 10), (9, 95, 9), (1, 50, 1), (3, 50, 2), (4950, 100, 4950)],
)
def test_percent_rounds_half_up(fen, percent, expected):
    assert apply_percent(fen, percent) == expected
