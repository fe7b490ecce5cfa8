"""Tests for gridmap.crs: GCJ-02/BD-09 round trips, references, validation, GK zones, areas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import ArrayLike, NDArray

import shapely
from pyproj import CRS, Geod

from gridmap import crs
from gridmap.errors import CoordinateOutOfRangeError, UnknownCRSError
from gridmap.vocabulary import InputCRS
from tests.strategies import MAINLAND_BOXES, china_lat, china_lon, mainland_arrays

GEOD = Geod(ellps="GRS80")
FAST = settings(max_examples=200, deadline=None)

# 1 cm is about 9e-8 degrees of latitude (and of longitude at the equator; less further north).
CM_IN_DEG = 9e-8

OUTSIDE_MAINLAND = {
    "Hong Kong Central": (114.158, 22.282),
    "Macau": (113.543, 22.19),
    "Taipei": (121.56, 25.04),
    "Hanoi": (105.85, 21.03),
}

CITIES: dict[str, tuple[float, float, bool]] = {
    "Beijing": (116.39, 39.91, True),
    "Shenzhen": (114.06, 22.54, True),
    "Hong Kong Central": (114.158, 22.282, False),
    "Macau": (113.543, 22.19, False),
    "Taipei": (121.56, 25.04, False),
    "Hanoi": (105.85, 21.03, False),
    "Seoul": (126.98, 37.57, False),
    "Ulaanbaatar": (106.92, 47.92, False),
    "Sanya": (109.51, 18.25, True),
    "Urumqi": (87.62, 43.83, True),
    "Lhasa": (91.13, 29.65, True),
    "Heihe": (127.5, 50.24, True),
    "Blagoveshchensk": (127.53, 50.27, False),
}


def metres(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> NDArray:
    """Geodesic distance in metres between two sets of lon/lat points."""
    args = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    return np.asarray(GEOD.inv(*args)[2])


def assert_within_cm(lon: NDArray, lat: NDArray, lon_ref: NDArray, lat_ref: NDArray) -> None:
    """Assert two point sets agree to 1 cm, both in degrees and as a geodesic distance."""
    assert np.max(np.abs(lon - lon_ref)) < CM_IN_DEG
    assert np.max(np.abs(lat - lat_ref)) < CM_IN_DEG
    assert np.max(metres(lon, lat, lon_ref, lat_ref)) < 0.01


# --- mainland polygon ------------------------------------------------------------------------


def test_mainland_polygon_classifies_cities() -> None:
    lon, lat, expected = (np.array(column) for column in zip(*CITIES.values(), strict=True))
    got = crs.in_mainland_china(lon, lat)
    assert got.dtype == np.bool_
    wrong = [name for name, ok in zip(CITIES, got == expected, strict=True) if not ok]
    assert wrong == []


def test_mainland_boxes_used_by_strategies_are_inside() -> None:
    polygon = crs._mainland_polygon()
    assert all(polygon.contains(shapely.box(*box)) for box in MAINLAND_BOXES.values())


def test_in_mainland_nan_is_false_and_scalar_is_0d() -> None:
    assert not crs.in_mainland_china(np.nan, 30.0)
    assert crs.in_mainland_china(104.06, 30.67).shape == ()


# --- GCJ-02 --------------------------------------------------------------------------------


@FAST
@given(mainland_arrays())
def test_gcj02_round_trip_within_1cm(points: tuple[NDArray, NDArray]) -> None:
    lon, lat = points
    assert_within_cm(*crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat)), lon, lat)


@FAST
@given(mainland_arrays())
def test_gcj02_inverse_then_forward_within_1cm(points: tuple[NDArray, NDArray]) -> None:
    lon, lat = points
    assert_within_cm(*crs.wgs84_to_gcj02(*crs.gcj02_to_wgs84(lon, lat)), lon, lat)


@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [
        ((116.397128, 39.916527), (116.403370, 39.917930)),
        # coordTransform_py's README example, 11 significant digits.
        ((116.404, 39.915), (116.41024449917, 39.91640428150)),
    ],
)
def test_gcj02_reference_values(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    np.testing.assert_allclose(crs.wgs84_to_gcj02(*wgs), gcj, rtol=0, atol=1e-5)
    np.testing.assert_allclose(crs.gcj02_to_wgs84(*gcj), wgs, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("lon", "lat"), OUTSIDE_MAINLAND.values(), ids=OUTSIDE_MAINLAND.keys())
def test_gcj02_is_identity_outside_mainland(lon: float, lat: float) -> None:
    assert crs.wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert crs.gcj02_to_wgs84(lon, lat) == (lon, lat)


@FAST
@given(st.floats(103.5, 107.5), st.floats(28.5, 31.5))
def test_gcj02_offset_in_sichuan_is_hundreds_of_metres(lon: float, lat: float) -> None:
    offset = metres(lon, lat, *crs.wgs84_to_gcj02(lon, lat))
    assert 100.0 < offset[0] < 800.0


# --- BD-09 ---------------------------------------------------------------------------------


@FAST
@given(mainland_arrays())
def test_bd09_round_trip_within_1cm(points: tuple[NDArray, NDArray]) -> None:
    lon, lat = points
    assert_within_cm(*crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat)), lon, lat)


@FAST
@given(mainland_arrays())
def test_bd09_inverse_then_forward_within_1cm(points: tuple[NDArray, NDArray]) -> None:
    lon, lat = points
    assert_within_cm(*crs.wgs84_to_bd09(*crs.bd09_to_wgs84(lon, lat)), lon, lat)


@FAST
@given(st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=20))
def test_bd09_gcj02_inverse_is_exact(points: list[tuple[float, float]]) -> None:
    lon, lat = np.array(points).T
    for there, back in (
        (crs.gcj02_to_bd09, crs.bd09_to_gcj02),
        (crs.bd09_to_gcj02, crs.gcj02_to_bd09),
    ):
        back_lon, back_lat = back(*there(lon, lat))
        assert np.max(np.abs(back_lon - lon)) < 1e-10
        assert np.max(np.abs(back_lat - lat)) < 1e-10


def test_bd09_reference_value() -> None:
    # coordTransform_py's README example for gcj02_to_bd09.
    expected = (116.41036949371, 39.92133699351)
    np.testing.assert_allclose(crs.gcj02_to_bd09(116.404, 39.915), expected, rtol=0, atol=1e-9)


# --- dispatch and geometries -----------------------------------------------------------------


@pytest.mark.parametrize("name", InputCRS.values())
def test_from_then_to_wgs84_round_trips(name: str) -> None:
    lon, lat = np.array([104.06, 116.39, 114.158]), np.array([30.67, 39.91, 22.282])
    assert_within_cm(*crs.to_wgs84(*crs.from_wgs84(lon, lat, name), name), lon, lat)


def test_cgcs2000_and_wgs84_are_identity() -> None:
    for name in ("wgs84", "cgcs2000", "EPSG:4490"):
        lon, lat = crs.to_wgs84([104.06], [30.67], name)
        assert lon.dtype == np.float64
        assert (lon.tolist(), lat.tolist()) == ([104.06], [30.67])


def test_scalars_give_0d_float64_arrays() -> None:
    for convert in (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84, crs.gcj02_to_bd09, crs.bd09_to_wgs84):
        lon, lat = convert(104.06, 30.67)
        assert isinstance(lon, np.ndarray)
        assert (lon.shape, lat.shape, lon.dtype) == ((), (), np.float64)


def test_geometries_to_wgs84_matches_point_conversion() -> None:
    polygon = shapely.box(102.20, 27.85, 102.30, 27.95)  # 西昌 in GCJ-02
    geoms = np.array([polygon, shapely.Point(104.06, 30.67), None], dtype=object)
    converted = crs.geometries_to_wgs84(geoms, "gcj02")
    assert converted.shape == (3,)
    assert converted[2] is None
    coords = shapely.get_coordinates(polygon)
    expected = np.column_stack(crs.gcj02_to_wgs84(coords[:, 0], coords[:, 1]))
    np.testing.assert_array_equal(shapely.get_coordinates(converted[0]), expected)
    assert shapely.equals(crs.geometries_to_wgs84(geoms, "wgs84")[0], polygon)


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "fragment"),
    [
        (np.nan, 30.0, "NaN or infinite"),
        (104.0, np.inf, "NaN or infinite"),
        (104.0, 930.0, "latitude outside"),
        (200.0, 30.0, "longitude outside"),
    ],
)
def test_check_lonlat_rejects(lon: float, lat: float, fragment: str) -> None:
    with pytest.raises(CoordinateOutOfRangeError, match=fragment):
        crs.check_lonlat(lon, lat)


def test_check_lonlat_names_swap_and_first_bad_index() -> None:
    with pytest.raises(CoordinateOutOfRangeError, match="swapped lat/lon") as caught:
        crs.check_lonlat([104.06, 30.6, 200.0], [30.67, 104.1, 30.0])
    assert "did you mean lon=104.1, lat=30.6?" in str(caught.value)
    assert "point 1" in str(caught.value)
    assert caught.value.context["index"] == 1
    assert (caught.value.context["lon"], caught.value.context["lat"]) == (30.6, 104.1)


def test_check_lonlat_accepts_valid_points() -> None:
    crs.check_lonlat([104.06, -180.0, 180.0], [30.67, -90.0, 90.0])
    crs.check_lonlat(104.06, 30.67)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("WGS84", "wgs84"),
        ("wgs-84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("epsg:4490", "cgcs2000"),
        ("CGCS2000", "cgcs2000"),
        ("gcj-02", "gcj02"),
        ("GCJ02", "gcj02"),
        ("BD-09", "bd09"),
    ],
)
def test_check_crs_normalizes(spelling: str, name: str) -> None:
    assert crs.check_crs(spelling) == name


def test_check_crs_rejects_unknown_listing_choices() -> None:
    with pytest.raises(UnknownCRSError, match="mercator") as caught:
        crs.check_crs("mercator")
    assert all(name in str(caught.value) for name in InputCRS.values())


# --- Gauss-Krüger zones and areas ------------------------------------------------------------


def test_gk_zone_epsg_xichang() -> None:
    assert crs.gk_zone_epsg(102.3) == 4543
    assert "CM 102E" in CRS.from_epsg(4543).name


@pytest.mark.parametrize(("lon", "cm"), [(73.6, 75), (70.0, 75), (116.4, 117), (134.9, 135)])
def test_gk_zone_epsg_matches_pyproj_names(lon: float, cm: int) -> None:
    name = CRS.from_epsg(crs.gk_zone_epsg(lon)).name
    assert name == f"CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"


@FAST
@given(st.lists(china_lon, min_size=1, max_size=20))
def test_gk_zone_central_meridian_is_within_1_5_degrees(lons: list[float]) -> None:
    lon = np.array(lons)
    cm = 75 + 3 * (crs.gk_zone_epsg(lon) - 4534)
    assert np.all(np.abs(cm - np.clip(lon, 73.5, 136.5)) <= 1.5)


@pytest.mark.parametrize(
    ("lon", "lat"), [(102.3, 28.0), (104.0, 28.0), (87.6, 43.8), (126.5, 18.3)]
)
def test_areas_m2_matches_geodesic_area(lon: float, lat: float) -> None:
    square = shapely.box(lon, lat, lon + 0.01, lat + 0.01)
    geodesic = abs(GEOD.geometry_area_perimeter(square)[0])
    assert crs.areas_m2(np.array([square]))[0] == pytest.approx(geodesic, rel=0.005)


def test_areas_m2_handles_shapes_missing_and_empty() -> None:
    square = shapely.box(104.0, 28.0, 104.01, 28.01)
    areas = crs.areas_m2(np.array([[square, None], [shapely.Polygon(), square]], dtype=object))
    assert areas.shape == (2, 2)
    assert np.isnan(areas[0, 1])
    assert areas[1, 0] == 0.0
    assert areas[0, 0] == areas[1, 1] > 1e6


@given(
    lon=st.floats(73.7, 134.7, allow_nan=False),
    lat=st.floats(18.2, 53.5, allow_nan=False),
    name=st.sampled_from(["wgs84", "cgcs2000", "gcj02", "bd09"]),
)
def test_the_scalar_path_equals_the_array_path(lon: float, lat: float, name: str) -> None:
    """point_to_wgs84 (plain floats, the HTTP path) gives the array functions' answer."""
    one = crs.point_to_wgs84(lon, lat, name)
    many = crs.to_wgs84(np.array([lon]), np.array([lat]), name)
    assert one == pytest.approx((float(many[0][0]), float(many[1][0])), abs=1e-11)
