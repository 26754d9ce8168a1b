import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpesa.phone import InvalidPhone, normalize_phone


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("0712345678", "254712345678"),
        ("0112345678", "254112345678"),
        ("712345678", "254712345678"),
        ("112345678", "254112345678"),
        ("254712345678", "254712345678"),
        ("254112345678", "254112345678"),
        ("+254712345678", "254712345678"),
        ("+254 712 345 678", "254712345678"),
        ("0712-345-678", "254712345678"),
        (254708374149, "254708374149"),
    ],
)
def test_accepted_forms_normalise_to_12_digits(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "07123", "0812345678", "+255712345678", "2547123456789", "abc", "07１2345678", None, True, 7.12e8, "+0712345678", "254612345678"],
)
def test_anything_else_is_a_clear_error(raw):
    with pytest.raises(InvalidPhone):
        normalize_phone(raw)


subscriber = st.tuples(st.sampled_from("17"), st.text(alphabet="0123456789", min_size=8, max_size=8)).map(lambda t: t[0] + t[1])


@given(subscriber, st.sampled_from(["0{}", "{}", "254{}", "+254{}", "+254 {}"]), st.sampled_from(["", " ", "-"]))
def test_every_written_form_of_a_number_normalises_to_the_same_msisdn(number, template, separator):
    written = template.format(number)
    if separator:
        written = separator.join([written[:4], written[4:7], written[7:]])
    assert normalize_phone(written) == "254" + number


@given(st.text(max_size=20))
def test_normalise_either_returns_a_valid_msisdn_or_raises(text):
    try:
        result = normalize_phone(text)
    except InvalidPhone:
        return
    assert len(result) == 12 and result.startswith(("2547", "2541")) and result.isdigit()
