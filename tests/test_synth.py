import numpy as np
import pytest

import geopandas as gpd
import shapely

from gridmap import codes, crs, geometry, synth
from gridmap.vocabulary import UrbanRural
from tests.conftest import BOUNDARIES


@pytest.fixture(scope="module")
def xichang() -> shapely.Geometry:
    raw = gpd.read_file(BOUNDARIES / "513401.geojson").geometry.values
    return geometry.snap(crs.geometries_to_wgs84(np.asarray(raw, dtype=object), "gcj02"))[0]


@pytest.fixture(scope="module")
def made(xichang) -> synth.SyntheticCounty:
    return synth.synthesize_county("513401", xichang, rng=np.random.default_rng(5), seed=5)


def test_totals_look_like_xichang(made):
    persons = made.households["persons"].sum()
    assert 0.9e6 < persons < 1.0e6  # 西昌市 ≈ 0.95 M people
    assert 2.8 < persons / len(made.households) < 3.6
    assert 30 <= len(made.townships) <= 40
    assert 150 <= len(made.villages) <= 400
    assert set(made.townships["kind"]) == {"subdistrict", "town", "township"}
    assert set(made.villages["kind"]) == {"community", "village"}


def test_codes_sit_in_their_blocks(made):
    for code, kind in zip(made.townships["code"], made.townships["kind"], strict=True):
        assert codes.kind_of(code) == kind
    for code, kind in zip(made.villages["code"], made.villages["kind"], strict=True):
        assert codes.kind_of(code) == kind
        assert code[:9] in set(made.townships["code"])
    assert set(made.villages["urban_rural"]) <= set(UrbanRural.values())


def test_townships_and_villages_tile_the_county(made, xichang):
    for layer in (made.townships, made.villages):
        geoms = np.asarray(layer.geometry.values, dtype=object)
        assert shapely.is_valid(geoms).all()
        assert (shapely.get_num_geometries(geoms) == 1).all()
        union = shapely.union_all(geoms)
        pieces = shapely.get_parts(shapely.symmetric_difference(union, xichang))
        areas = crs.areas_m2(pieces) if len(pieces) else np.zeros(1)
        # Snap rounding leaves hairline slivers along clipped edges: none reaches QA's 1 m².
        assert areas.max() < 1.0
        assert areas.sum() < 10.0
    assert shapely.coverage_is_valid(np.asarray(made.townships.geometry.values, dtype=object))
    # Villages form a coverage inside each township (edges match vertex for vertex).
    for _, group in made.villages.groupby(made.villages["code"].str[:9]):
        assert shapely.coverage_is_valid(np.asarray(group.geometry.values, dtype=object))


def test_households_lie_in_their_village(made):
    villages = made.villages.set_index("code")
    sample = made.households.sample(2000, random_state=1)
    for village_code, group in sample.groupby("village_code"):
        area = villages.geometry[village_code]
        assert shapely.intersects_xy(area, group["lon"], group["lat"]).all()


def test_communities_crowd_near_the_seat(made):
    seat = np.array(synth.PROFILES["513401"].seat)
    centre = np.array([(g.centroid.x, g.centroid.y) for g in made.villages.geometry], dtype=float)
    distance = np.hypot(*(centre - seat).T)
    communities = made.villages["kind"].to_numpy() == "community"
    assert np.median(distance[communities]) < np.median(distance[~communities])
    # Communities are denser: more households per km² than villages.
    area = crs.areas_m2(np.asarray(made.villages.geometry.values, dtype=object))
    density = made.villages["households"].to_numpy() / area
    assert np.median(density[communities]) > 5 * np.median(density[~communities])


def test_same_seed_same_county(xichang):
    a = synth.synthesize_county("513401", xichang, rng=np.random.default_rng(9), seed=9, scale=0.05)
    b = synth.synthesize_county("513401", xichang, rng=np.random.default_rng(9), seed=9, scale=0.05)
    assert a.villages["code"].tolist() == b.villages["code"].tolist()
    assert np.array_equal(
        a.households[["lon", "lat"]].to_numpy(), b.households[["lon", "lat"]].to_numpy()
    )
