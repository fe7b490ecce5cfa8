import pytest

from gridmap import codes
from gridmap.errors import InvalidCodeError


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("513401001", "subdistrict"),
        ("513401099", "subdistrict"),
        ("513401100", "town"),
        ("513401199", "town"),
        ("513401200", "township"),
        ("513401399", "township"),
        ("513401100001", "community"),
        ("513401100199", "community"),
        ("513401100200", "village"),
        ("513401100399", "village"),
        ("513401100601", "community"),
    ],
)
def test_kind_follows_code_block(code, kind):
    assert codes.kind_of(code) == kind


@pytest.mark.parametrize("code", ["513401000", "513401400", "513401999", "513401100000"])
def test_codes_outside_their_blocks_are_refused(code):
    with pytest.raises(InvalidCodeError, match="block"):
        codes.kind_of(code)


@pytest.mark.parametrize("code", ["5134", "51340A", "", "5134011002011", "x" * 12])
def test_malformed_codes_are_refused(code):
    with pytest.raises(InvalidCodeError):
        codes.level_of(code)


def test_check_code_names_the_expected_length():
    with pytest.raises(InvalidCodeError, match="9 digits"):
        codes.check_code("5134011", "township")


def test_grid_codes_number_inside_the_village():
    assert codes.grid_code("513401100201", 1) == "513401100201001"
    assert codes.parent_of("513401100201001") == "513401100201"
    with pytest.raises(InvalidCodeError):
        codes.grid_code("513401100201", 1000)


def test_unknown_level_lists_valid_levels():
    with pytest.raises(InvalidCodeError, match="county, township, village, grid"):
        codes.check_level("province")


@pytest.mark.parametrize("code", ["513401²²²", "５１３４０１", "51340１"])
def test_only_ascii_digits_make_a_code(code: str) -> None:
    """str.isdigit() accepts superscripts and full-width digits that int() then chokes on."""
    with pytest.raises(InvalidCodeError):
        codes.level_of(code)
