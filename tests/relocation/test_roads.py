"""Road distances: pgRouting in the database against networkx on the same small graphs,
one-way streets honoured household → site, unconnected pairs infinite."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from sqlalchemy import text

import shapely

from gridmap import crs
from gridmap.errors import InvalidInputError, NotFoundError
from gridmap.relocation import roads

COUNTY = "513401"
CENTRE = (102.26, 27.89)


def load_graph(session, seed: int) -> tuple[np.ndarray, nx.DiGraph]:
    """A random planar-ish graph of 30 vertices near 西昌, some one-way, one island."""
    rng = np.random.default_rng(seed)
    points = np.array(CENTRE) + rng.uniform(-0.03, 0.03, (30, 2))
    xy, _ = crs.gauss_kruger_xy(points[:, 0], points[:, 1])
    edges = roads._delaunay_edges(xy[:26])  # vertices 26..29 form an island
    edges = np.vstack((edges, [[26, 27], [27, 28], [28, 29]]))
    graph = nx.DiGraph()
    rows = []
    for k, (a, b) in enumerate(edges):
        cost = float(np.hypot(*(xy[a] - xy[b])) * rng.uniform(1.0, 1.4))
        one_way = rng.random() < 0.15
        graph.add_edge(int(a), int(b), weight=cost)
        if not one_way:
            graph.add_edge(int(b), int(a), weight=cost)
        line = shapely.LineString([points[a], points[b]])
        rows.append((k + 1, int(a) + 1, int(b) + 1, cost, -1.0 if one_way else cost, line.wkt))
    session.execute(text("DELETE FROM road_edge WHERE county_code = :c"), {"c": COUNTY})
    for row in rows:
        session.execute(
            text(
                "INSERT INTO road_edge (id, county_code, source, target, cost_m, reverse_cost_m,"
                " geom) VALUES (:id, :c, :s, :t, :cost, :rc, ST_GeomFromText(:wkt, 4326))"
            ),
            {
                "id": row[0],
                "c": COUNTY,
                "s": row[1],
                "t": row[2],
                "cost": row[3],
                "rc": row[4],
                "wkt": row[5],
            },
        )
    return points, graph


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_road_distances_equal_networkx_shortest_paths(demo_tx, seed) -> None:
    points, graph = load_graph(demo_tx, seed)
    rng = np.random.default_rng(seed + 100)
    homes = np.array(CENTRE) + rng.uniform(-0.03, 0.03, (40, 2))
    sites = np.vstack((np.array(CENTRE) + rng.uniform(-0.03, 0.03, (4, 2)), points[27] + 1e-4))
    found = roads.distances(demo_tx, county=COUNTY, origins=homes, targets=sites)

    xy, _ = crs.gauss_kruger_xy(*np.vstack((points, homes, sites)).T)
    vertex_xy, home_xy, site_xy = xy[:30], xy[30:70], xy[70:]
    expected = np.full((len(homes), len(sites)), np.inf)
    for i, h in enumerate(home_xy):
        walk_h = np.hypot(*(vertex_xy - h).T)
        v = int(np.argmin(walk_h))
        lengths = nx.single_source_dijkstra_path_length(graph, v, weight="weight")
        for j, s in enumerate(site_xy):
            walk_s = np.hypot(*(vertex_xy - s).T)
            t = int(np.argmin(walk_s))
            if t in lengths:
                expected[i, j] = walk_h[v] + lengths[t] + walk_s[t]
    assert np.isinf(found).sum() == np.isinf(expected).sum() > 0  # the island is unreachable
    finite = np.isfinite(expected)
    np.testing.assert_allclose(found[finite], expected[finite], rtol=1e-9, atol=1e-6)


def test_no_network_and_bad_counties_are_clear_errors(demo_tx) -> None:
    demo_tx.execute(text("DELETE FROM road_edge WHERE county_code = :c"), {"c": COUNTY})
    one = np.array([CENTRE])
    with pytest.raises(NotFoundError, match="no road network loaded"):
        roads.distances(demo_tx, county=COUNTY, origins=one, targets=one)
    with pytest.raises(InvalidInputError, match="6 digits"):
        roads.distances(demo_tx, county="51340'", origins=one, targets=one)


def test_the_synthetic_network_joins_every_village(demo_tx) -> None:
    made = roads.build_synthetic(demo_tx, COUNTY, seed=1)
    ids, _ = roads.vertices(demo_tx, COUNTY)
    assert made["vertices"] == len(ids) and made["edges"] >= len(ids) - 1
    edges = demo_tx.execute(
        text("SELECT source, target FROM road_edge WHERE county_code = :c AND synthetic"),
        {"c": COUNTY},
    ).all()
    assert nx.is_connected(nx.Graph(edges))
