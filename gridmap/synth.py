"""Synthetic counties (模拟数据): a plausible, seeded hierarchy inside a real county boundary.

No open polygons exist below county level, so demos and benchmarks need invented ones. Inside a
real county polygon we place households clustered in settlements (a dense seat with its
communities, town centres, and hamlets spread over the countryside), then townships and
villages/communities as clipped Voronoi regions of seeded centres, with codes in the right
blocks and 城乡分类代码. Everything made here is flagged ``synthetic`` and names its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.cluster.vq import kmeans2

import geopandas as gpd
import shapely

from gridmap import geometry
from gridmap.crs import from_metres, to_metres


@dataclass(frozen=True, slots=True)
class CountyProfile:
    """Totals that make a synthetic county look like the real one (approximate, 2020 census)."""

    name: str
    persons: int
    seat: tuple[float, float]  # lon, lat of the county seat (WGS84, approximate)
    townships: int
    subdistricts: int
    urban_share: float


# Approximate 七普 (2020) populations and seats of 凉山州's 17 counties; townships after the
# 2019–2020 乡镇 reform. Good enough to shape a demo, not statistics.
PROFILES: dict[str, CountyProfile] = {
    "513401": CountyProfile("西昌市", 955_000, (102.264, 27.894), 37, 9, 0.62),
    "513422": CountyProfile("木里藏族自治县", 139_000, (101.280, 27.928), 27, 0, 0.20),
    "513423": CountyProfile("盐源县", 362_000, (101.509, 27.422), 30, 0, 0.25),
    "513424": CountyProfile("德昌县", 214_000, (102.176, 27.403), 19, 0, 0.32),
    "513425": CountyProfile("会理市", 384_000, (102.245, 26.655), 30, 4, 0.38),
    "513426": CountyProfile("会东县", 366_000, (102.578, 26.634), 19, 0, 0.30),
    "513427": CountyProfile("宁南县", 173_000, (102.760, 27.061), 16, 0, 0.30),
    "513428": CountyProfile("普格县", 196_000, (102.541, 27.377), 15, 0, 0.22),
    "513429": CountyProfile("布拖县", 205_000, (102.812, 27.706), 18, 0, 0.20),
    "513430": CountyProfile("金阳县", 188_000, (103.248, 27.697), 25, 0, 0.18),
    "513431": CountyProfile("昭觉县", 321_000, (102.840, 28.011), 25, 0, 0.22),
    "513432": CountyProfile("喜德县", 213_000, (102.413, 28.306), 18, 0, 0.22),
    "513433": CountyProfile("冕宁县", 381_000, (102.171, 28.550), 24, 0, 0.30),
    "513434": CountyProfile("越西县", 316_000, (102.508, 28.640), 23, 0, 0.24),
    "513435": CountyProfile("甘洛县", 229_000, (102.771, 28.959), 21, 0, 0.26),
    "513436": CountyProfile("美姑县", 273_000, (103.132, 28.328), 25, 0, 0.16),
    "513437": CountyProfile("雷波县", 235_000, (103.571, 28.262), 27, 0, 0.22),
}
PERSONS_URBAN, PERSONS_RURAL = 2.8, 3.6
HOUSEHOLDS_PER_COMMUNITY = 2_400
HOUSEHOLDS_PER_VILLAGE = 700
SYLLABLES = list(
    "安宁河西东南北新民和平兴福康乐团结红星光明长青山水田坝沟林湾桥营堡屯庄阳华丰盛顺泰源泉岭塘"
    "溪川凉月城金银玉龙凤鹤松柏竹梅兰菊花果园坪岗坡洼滩洲岩石马牛羊"
)


@dataclass(slots=True)
class SyntheticCounty:
    """A synthetic hierarchy: townships, villages (GeoDataFrames) and household points."""

    county_code: str
    seed: int
    townships: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    households: pd.DataFrame  # lon, lat, persons, village_code, urban


def default_profile(name: str, area_km2: float) -> CountyProfile:
    """A modest rural profile for counties without one: density like 凉山's average."""
    persons = int(max(50_000, area_km2 * 80))
    return CountyProfile(
        name, persons, (np.nan, np.nan), int(np.clip(persons / 12_000, 8, 40)), 0, 0.3
    )


def sample_inside(
    area: shapely.Geometry,
    centres: NDArray[np.float64],
    sigma_m: NDArray[np.float64] | float,
    counts: NDArray[np.int64],
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Gaussian clusters of ``counts`` points around each centre, redrawn until inside ``area``."""
    origin = (float(centres[0, 0]), float(centres[0, 1])) if len(centres) else (0.0, 0.0)
    centre_xy = to_metres(centres[:, 0], centres[:, 1], origin)
    sigma = np.broadcast_to(np.asarray(sigma_m, dtype=float), (len(centres),))
    owner = np.repeat(np.arange(len(centres)), counts)
    result = np.empty((len(owner), 2))
    todo = np.arange(len(owner))
    shapely.prepare(area)
    for _ in range(50):
        if not len(todo):
            break
        who = owner[todo]
        xy = centre_xy[who] + rng.normal(size=(len(todo), 2)) * sigma[who, None]
        lon, lat = from_metres(xy, origin)
        inside = shapely.contains_xy(area, lon, lat)
        result[todo[inside]] = np.column_stack((lon[inside], lat[inside]))
        todo = todo[~inside]
    if len(todo):  # clusters hugging the border: fall back to their centre, which is inside
        result[todo] = centres[owner[todo]]
    return result


def uniform_inside(area: shapely.Geometry, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """``n`` points uniformly inside ``area`` (rejection sampling on its bounding box)."""
    minx, miny, maxx, maxy = area.bounds
    shapely.prepare(area)
    found: list[NDArray[np.float64]] = []
    total = 0
    while total < n:
        lon = rng.uniform(minx, maxx, 2 * (n - total) + 16)
        lat = rng.uniform(miny, maxy, len(lon))
        keep = shapely.contains_xy(area, lon, lat)
        found.append(np.column_stack((lon[keep], lat[keep])))
        total += int(keep.sum())
    return np.concatenate(found)[:n]


def voronoi_regions(area: shapely.Geometry, centres: NDArray[np.float64]) -> NDArray[np.object_]:
    """Voronoi cells of ``centres`` clipped to ``area``, in the order of the centres, made whole.

    A cell clipped by a concave boundary can fall apart; stray pieces join the neighbour they
    share most border with (geometry.absorb_fragments), so each region is one polygon unless
    the area itself is in parts.
    """
    if len(centres) == 1:
        return np.array([area], dtype=object)
    points = shapely.points(centres)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=area))
    # voronoi_polygons does not keep input order: match each cell to the centre it contains.
    tree = shapely.STRtree(cells)
    centre_idx, cell_idx = tree.query(points, predicate="intersects")
    order = np.full(len(centres), -1)
    order[centre_idx] = cell_idx
    regions = shapely.intersection(cells[order], area, grid_size=geometry.PRECISION_DEG)
    return geometry.absorb_fragments(regions)


def spread_centres(
    candidates: NDArray[np.float64],
    k: int,
    rng: np.random.Generator,
    weights: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Pick ``k`` well-spread, weight-following centres by k-means on local metres."""
    if k >= len(candidates):
        return candidates.copy()
    origin = (float(candidates[:, 0].mean()), float(candidates[:, 1].mean()))
    xy = to_metres(candidates[:, 0], candidates[:, 1], origin)
    if weights is not None:
        sample = rng.choice(len(xy), size=min(len(xy), 20 * k + 200), p=weights / weights.sum())
        xy_fit = xy[sample]
    else:
        xy_fit = xy
    init = xy_fit[rng.choice(len(xy_fit), size=k, replace=False)]
    centres, _ = kmeans2(xy_fit, init, iter=15, minit="matrix", seed=rng)
    lon, lat = from_metres(centres, origin)
    return np.column_stack((lon, lat))


def place_names(count: int, suffix: str, rng: np.random.Generator, taken: set[str]) -> list[str]:
    """Unique two-syllable Chinese names with a suffix (村, 社区, 镇…)."""
    names: list[str] = []
    while len(names) < count:
        a, b = rng.choice(len(SYLLABLES), size=2, replace=False)
        name = SYLLABLES[a] + SYLLABLES[b] + suffix
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def synthesize_county(
    county_code: str,
    county: shapely.Geometry,
    *,
    rng: np.random.Generator,
    seed: int,
    profile: CountyProfile | None = None,
    scale: float = 1.0,
) -> SyntheticCounty:
    """Build townships, villages and households inside ``county`` (WGS84 polygon), seeded."""
    area_km2 = float(shapely.area(county)) * 111.0 * 111.0 * np.cos(np.radians(county.centroid.y))
    profile = profile or PROFILES.get(county_code) or default_profile(county_code, area_km2)
    seat = np.array(profile.seat, dtype=float)
    if not np.isfinite(seat).all() or not shapely.contains_xy(county, *seat):
        seat = np.array(shapely.get_coordinates(shapely.point_on_surface(county))[0])

    persons_total = int(profile.persons * scale)
    urban_hh = int(persons_total * profile.urban_share / PERSONS_URBAN)
    rural_hh = int(persons_total * (1 - profile.urban_share) / PERSONS_RURAL)

    # Townships: subdistricts ring the seat, towns and 乡 spread over the countryside.
    n_sub = profile.subdistricts
    n_rest = max(1, profile.townships - n_sub)
    rural_anchor = uniform_inside(county, 4000, rng)
    rest_centres = spread_centres(rural_anchor, n_rest, rng)
    if n_sub:
        seat_xy = seat[None, :]
        ring = sample_inside(county, seat_xy, 2500.0, np.array([400]), rng)
        sub_centres = spread_centres(ring, n_sub, rng)
        # Rural centres too close to the seat would swallow the city: push them out of the core.
        far = np.hypot(*(to_metres(rest_centres[:, 0], rest_centres[:, 1], tuple(seat)).T)) > 6000
        rest_centres = rest_centres[far] if far.sum() >= 1 else rest_centres
        centres = np.vstack((sub_centres, rest_centres))
    else:
        centres = rest_centres
    n_rest = len(centres) - n_sub

    # Households: the seat's urban core, each town centre's small core, and rural hamlets.
    town_urban = int(urban_hh * (0.15 if n_sub else 0.55))
    seat_urban = urban_hh - town_urban
    seat_points = sample_inside(
        county, seat[None, :], 2200.0 if n_sub else 1200.0, np.array([seat_urban]), rng
    )
    town_weights = rng.lognormal(0, 0.6, n_rest)
    town_counts = rng.multinomial(town_urban, town_weights / town_weights.sum())
    town_points = sample_inside(county, centres[n_sub:], 450.0, town_counts, rng)
    n_hamlets = max(1, rural_hh // 70)
    hamlet_centres = uniform_inside(county, n_hamlets, rng)
    hamlet_weights = rng.lognormal(0, 0.8, n_hamlets)
    hamlet_counts = rng.multinomial(rural_hh, hamlet_weights / hamlet_weights.sum())
    hamlet_points = sample_inside(county, hamlet_centres, 150.0, hamlet_counts, rng)
    points = np.vstack((seat_points, town_points, hamlet_points))
    urban = np.r_[
        np.ones(len(seat_points) + len(town_points), bool), np.zeros(len(hamlet_points), bool)
    ]
    persons = np.where(
        urban,
        1 + rng.poisson(PERSONS_URBAN - 1, len(points)),
        1 + rng.poisson(PERSONS_RURAL - 1, len(points)),
    )

    township_geoms = voronoi_regions(county, centres)
    taken: set[str] = set()
    kinds = ["subdistrict"] * n_sub + [
        "town" if i < n_rest * 0.6 else "township" for i in range(n_rest)
    ]
    codes, names = [], []
    counters = {"subdistrict": 1, "town": 100, "township": 200}
    suffix = {"subdistrict": "街道", "town": "镇", "township": "乡"}
    for kind in kinds:
        codes.append(f"{county_code}{counters[kind]:03d}")
        counters[kind] += 1
        names.append(place_names(1, suffix[kind], rng, taken)[0])
    townships = gpd.GeoDataFrame(
        {
            "code": codes,
            "name": names,
            "kind": kinds,
            "centre_lon": centres[:, 0],
            "centre_lat": centres[:, 1],
        },
        geometry=gpd.GeoSeries(township_geoms, crs="EPSG:4326"),
    )

    village_frames = []
    village_of = np.full(len(points), -1)
    households_in = geometry.covering_index(points[:, 0], points[:, 1], township_geoms)
    for t, township in townships.iterrows():
        members = np.flatnonzero(households_in == t)
        village_frames.append(_villages_of(township, points[members], urban[members], rng, taken))
    villages = gpd.GeoDataFrame(pd.concat(village_frames, ignore_index=True), crs="EPSG:4326")
    village_of = geometry.covering_index(points[:, 0], points[:, 1], villages.geometry.values)
    inside = village_of >= 0
    households = pd.DataFrame(
        {
            "lon": points[inside, 0],
            "lat": points[inside, 1],
            "persons": persons[inside],
            "urban": urban[inside],
            "village_code": villages["code"].to_numpy()[village_of[inside]],
        }
    )
    counts = households.groupby("village_code").agg(
        households=("persons", "size"), persons=("persons", "sum")
    )
    villages = villages.join(counts, on="code").fillna({"households": 0, "persons": 0})
    villages[["households", "persons"]] = villages[["households", "persons"]].astype(int)
    by_township = villages.groupby(villages["code"].str[:9])[["households", "persons"]].sum()
    townships = townships.join(by_township, on="code").fillna({"households": 0, "persons": 0})
    townships[["households", "persons"]] = townships[["households", "persons"]].astype(int)
    return SyntheticCounty(
        county_code,
        seed,
        townships.drop(columns=["centre_lon", "centre_lat"]),
        villages,
        households,
    )


def _villages_of(
    township: pd.Series,
    points: NDArray[np.float64],
    urban: NDArray[np.bool_],
    rng: np.random.Generator,
    taken: set[str],
) -> pd.DataFrame:
    """Villages and communities of one township: Voronoi of household-weighted centres."""
    n_urban = int(urban.sum())
    n_rural = len(points) - n_urban
    if township["kind"] == "subdistrict":
        k_comm, k_vill = max(1, round(len(points) / HOUSEHOLDS_PER_COMMUNITY)), 0
    else:
        k_comm = round(n_urban / HOUSEHOLDS_PER_COMMUNITY) if n_urban > 600 else 0
        k_vill = max(1, round(n_rural / HOUSEHOLDS_PER_VILLAGE))
    centres_parts = []
    if k_comm:
        source = points[urban] if n_urban else points
        centres_parts.append(spread_centres(source, min(k_comm, len(source)), rng))
    if k_vill:
        source = points[~urban] if n_rural else points
        if len(source):
            centres_parts.append(spread_centres(source, min(k_vill, len(source)), rng))
    if not centres_parts:  # an empty township (mountains): one village anyway
        centres_parts.append(np.array([[township["centre_lon"], township["centre_lat"]]]))
        k_vill = 1
    centres = np.unique(np.vstack(centres_parts), axis=0)
    k_comm = min(k_comm, len(centres))
    regions = voronoi_regions(township.geometry, centres)
    is_comm = np.arange(len(centres)) < k_comm
    # np.unique sorts centres: recompute which are communities by nearest urban density.
    if k_comm and k_vill:
        urban_centres = centres_parts[0]
        d = np.min(
            np.hypot(
                centres[:, None, 0] - urban_centres[None, :, 0],
                centres[:, None, 1] - urban_centres[None, :, 1],
            ),
            axis=1,
        )
        is_comm = d < 1e-12
    elif k_comm:
        is_comm[:] = True
    comm_seq, vill_seq = 1, 200
    codes, names, kinds, urban_rural = [], [], [], []
    for community in is_comm:
        if community:
            codes.append(f"{township['code']}{comm_seq:03d}")
            comm_seq += 1
            names.append(place_names(1, "社区", rng, taken)[0])
            kinds.append("community")
            urban_rural.append("111" if township["kind"] == "subdistrict" else "121")
        else:
            codes.append(f"{township['code']}{vill_seq:03d}")
            vill_seq += 1
            names.append(place_names(1, "村", rng, taken)[0])
            kinds.append("village")
            urban_rural.append("220")
    return pd.DataFrame(
        {
            "code": codes,
            "name": names,
            "kind": kinds,
            "urban_rural": urban_rural,
            "geometry": regions,
        }
    )


SURNAMES = [
    *"王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林",
    "阿说",
    "吉克",
    "沙马",
    "俄木",
    "马海",
    "阿尔",
    "海来",
    "曲比",
]
GIVEN = list("建国明华军丽芳伟强秀英志勇春梅海燕晓东红霞德兴文静")


def person_names(count: int, rng: np.random.Generator) -> list[str]:
    """Plausible Chinese (and Yi) personal names; repeats are fine, as in real rosters."""
    surnames = rng.choice(SURNAMES, size=count)
    given = rng.choice(GIVEN, size=(count, 2))
    short = rng.random(count) < 0.3
    return [
        s + (g[0] if one else g[0] + g[1]) for s, g, one in zip(surnames, given, short, strict=True)
    ]
