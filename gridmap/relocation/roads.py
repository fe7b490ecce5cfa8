"""Road distances for relocation plans, over a county's network in ``road_edge``, by pgRouting.

A household's road distance to a site is: the straight walk to the network vertex nearest
its home, the shortest path (``pgr_dijkstraCost``, in the database) to the vertex nearest the
site, and the walk from there to the site. Shortest paths run from each *site* over the
reversed edges (one Dijkstra per site, not per household: 200, not 100,000), so one-way
roads are honoured in the household → site direction. Pairs the network does not join are
``inf``: the solver reports those households as "no site reachable".

:func:`build_synthetic` draws a plausible network where no real one is loaded (the demo):
roads along the Delaunay triangulation of village centres and sites, long edges dropped
unless the tree that keeps every place connected needs them; flagged synthetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse, spatial
from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely

from gridmap import crs
from gridmap.errors import InvalidInputError, NotFoundError

MAX_SNAP_M = 5_000.0  # a home farther than this from every road is not on the network
LONG_EDGE = 2.5  # synthetic roads: Delaunay edges longer than this × the median are dropped


def available(session: Session) -> bool:
    """Whether pgRouting is installed in the database."""
    found = session.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'pgrouting'"))
    return bool(found)


def vertices(session: Session, county: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The network's vertex ids and their lon/lat (edge ends)."""
    rows = session.execute(
        text(
            "SELECT DISTINCT ON (v) v, x, y FROM ("
            " SELECT source AS v, ST_X(ST_StartPoint(geom)) AS x, ST_Y(ST_StartPoint(geom)) AS y"
            " FROM road_edge WHERE county_code = :c UNION ALL"
            " SELECT target, ST_X(ST_EndPoint(geom)), ST_Y(ST_EndPoint(geom))"
            " FROM road_edge WHERE county_code = :c) e ORDER BY v"
        ),
        {"c": county},
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    lonlat = np.array([(r[1], r[2]) for r in rows], dtype=np.float64).reshape(-1, 2)
    return ids, lonlat


def distances(
    session: Session,
    *,
    county: str,
    origins: NDArray[np.float64],
    targets: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Origins × targets road metres (lon/lat in, ``inf`` where no route)."""
    if not (county.isdigit() and len(county) == 6):
        raise InvalidInputError(f"county code {county!r} must be 6 digits")
    if not available(session):
        raise InvalidInputError(
            "road distances need pgRouting in the database (Debian package "
            "postgresql-15-pgrouting; make demo installs it): use distance=straight meanwhile"
        )
    ids, lonlat = vertices(session, county)
    if not len(ids):
        raise NotFoundError(
            f"county {county} has no road network loaded: load one (gridmap roads synthetic "
            "draws a demo network) or use distance=straight"
        )
    points = np.vstack((lonlat, origins, targets))
    xy, _ = crs.gauss_kruger_xy(points[:, 0], points[:, 1])
    tree = spatial.cKDTree(xy[: len(ids)])
    n_o = len(origins)
    o_walk, o_vertex = tree.query(xy[len(ids) : len(ids) + n_o])
    t_walk, t_vertex = tree.query(xy[len(ids) + n_o :])
    o_ids, o_inverse = np.unique(ids[o_vertex], return_inverse=True)
    t_ids = np.unique(ids[t_vertex])
    rows = session.execute(
        text(
            "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCost("
            # Each arc u→v of weight w becomes v→u of weight w: the edge turned round with its
            # costs kept (cost_m still prices the way from the original source to its target).
            " 'SELECT id, target AS source, source AS target, cost_m AS cost,"
            "  reverse_cost_m AS reverse_cost FROM road_edge WHERE county_code = ''' || :c || '''',"
            " CAST(:starts AS bigint[]), CAST(:ends AS bigint[]), directed => true)"
        ),
        {"c": county, "starts": t_ids.tolist(), "ends": o_ids.tolist()},
    ).all()
    network = np.full((len(o_ids), len(t_ids)), np.inf)
    if rows:
        starts = np.searchsorted(t_ids, np.array([r[0] for r in rows]))
        ends = np.searchsorted(o_ids, np.array([r[1] for r in rows]))
        network[ends, starts] = [r[2] for r in rows]
    same = o_ids[:, None] == t_ids[None, :]
    network[same] = 0.0  # a home and a site at the same vertex
    t_column = np.searchsorted(t_ids, ids[t_vertex])
    result: NDArray[np.float64] = (
        network[o_inverse][:, t_column] + o_walk[:, None] + t_walk[None, :]
    )
    result[o_walk > MAX_SNAP_M, :] = np.inf
    result[:, t_walk > MAX_SNAP_M] = np.inf
    return result


def build_synthetic(
    session: Session, county: str, *, seed: int, extra: NDArray[np.float64] | None = None
) -> dict[str, Any]:
    """Replace the county's network by a synthetic one joining its village centres (and
    ``extra`` lon/lat points, e.g. sites); returns counts. Flagged synthetic.
    """
    rows = session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit"
            " WHERE county_code = :c AND level = 'village' AND generation_high IS NULL"
            " ORDER BY code) v"
        ),
        {"c": county},
    ).all()
    places = np.array(rows, dtype=np.float64).reshape(-1, 2)
    if extra is not None and len(extra):
        places = np.vstack((places, extra))
    if len(places) < 3:
        raise NotFoundError(f"county {county} has fewer than three villages to join by road")
    rng = np.random.default_rng(seed)
    xy, _ = crs.gauss_kruger_xy(places[:, 0], places[:, 1])
    edges = _delaunay_edges(xy)
    length = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T)
    tree = _spanning_tree(edges, length, len(xy))
    keep = tree | (length <= LONG_EDGE * np.median(length))
    edges, length = edges[keep], length[keep]
    winding = 1.0 + rng.uniform(0.05, 0.35, len(edges))  # roads are longer than the crow flies
    lines = shapely.linestrings(np.stack((places[edges[:, 0]], places[edges[:, 1]]), axis=1))
    session.execute(text("DELETE FROM road_edge WHERE county_code = :c"), {"c": county})
    session.execute(
        text(
            "INSERT INTO road_edge (county_code, source, target, cost_m, reverse_cost_m, name,"
            " synthetic, geom) SELECT :c, v.s, v.t, v.cost, v.cost, v.name, true,"
            " ST_GeomFromText(v.wkt, 4326) FROM unnest(CAST(:s AS bigint[]),"
            " CAST(:t AS bigint[]), CAST(:cost AS float8[]), CAST(:name AS text[]),"
            " CAST(:wkt AS text[])) AS v(s, t, cost, name, wkt)"
        ),
        {
            "c": county,
            "s": (edges[:, 0] + 1).tolist(),
            "t": (edges[:, 1] + 1).tolist(),
            "cost": (length * winding).round(1).tolist(),
            "name": [f"合成道路 {i + 1}" for i in range(len(edges))],
            "wkt": shapely.to_wkt(lines, rounding_precision=7).tolist(),
        },
    )
    return {"edges": len(edges), "vertices": len(places), "seed": seed}


def _delaunay_edges(xy: NDArray[np.float64]) -> NDArray[np.int64]:
    """The unique edges of the Delaunay triangulation, as (i, j) with i < j."""
    triangles = spatial.Delaunay(xy).simplices
    pairs = np.vstack((triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [0, 2]]))
    return np.unique(np.sort(pairs, axis=1), axis=0).astype(np.int64)


def _spanning_tree(
    edges: NDArray[np.int64], length: NDArray[np.float64], n: int
) -> NDArray[np.bool_]:
    """Which edges belong to the minimum spanning tree (keeps every place reachable)."""
    graph = sparse.coo_array((length + 1e-9, (edges[:, 0], edges[:, 1])), shape=(n, n))
    tree = sparse.csgraph.minimum_spanning_tree(graph.tocsr()).tocoo()
    chosen = {(int(a), int(b)) for a, b in zip(tree.row, tree.col, strict=True)}
    return np.array([(int(a), int(b)) in chosen for a, b in edges])
