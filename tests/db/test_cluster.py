from gridmap import db


def test_private_cluster_reports_running(cluster):
    if cluster is None:  # DATABASE_URL given: the private cluster is not in use
        return
    status = db.cluster.status(cluster)
    assert status["running"] is True and status["initialised"] is True
    assert status["url"].startswith("postgresql+psycopg://gridmap@127.0.0.1:")
    # up() on a running cluster is idempotent and returns the same URL.
    assert db.cluster.up(cluster) == cluster.url()


def test_generations_listing_and_alive_filter(liangshan):
    generations = db.generations.listing(liangshan)
    assert [g.kind for g in generations] == ["import"]
    assert db.generations.current(liangshan) == generations[0].id
    assert len(db.units.read(liangshan, generation=generations[0].id)) == 17
