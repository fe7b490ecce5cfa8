"""``pip install .`` outside the checkout gives a working gridmap: demo, locate, serve, docs.

The wheel is built from a clean copy of the source tree (setuptools reuses a ``build/`` folder
it finds, and files an earlier build left there would slip into the wheel), installed into a
fresh venv with the pins of constraints.txt (the pip cache makes this mostly local), and every
command runs from an empty folder outside the checkout with PYTHONPATH unset, so nothing can
be imported or read from the source tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridmap import maps
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".gridmap",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    ".ruff_cache",
    "artifacts",
    "out",
)
COUNTY = "110101"  # 东城区: the smallest bundled county, its synthetic demo takes seconds
FORBIDDEN_CITY = ("116.397", "39.916")  # WGS84, inside 东城区
INSTALL_TIMEOUT_S = 1200


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gridmap wheel, built from a clean copy of the checkout."""
    source = tmp_path_factory.mktemp("source") / "gridmap"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    (built,) = out.glob("gridmap-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its dependencies (pinned by constraints.txt)."""
    where = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run(
        [*pip, "-c", str(ROOT / "constraints.txt"), str(wheel)],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    return where


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """An empty working directory that is not the checkout."""
    assert not tmp_path.is_relative_to(ROOT)
    return tmp_path


def environment(venv: Path, **extra: str) -> dict[str, str]:
    """The test's environment as a user of the venv would have it: no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("DATABASE_URL", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return {**env, **extra}


def gridmap(
    venv: Path, cwd: Path, *args: str, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the venv's ``gridmap`` in ``cwd``."""
    env = environment(venv, **({"DATABASE_URL": url} if url else {}))
    return subprocess.run(
        [str(venv / "bin" / "gridmap"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_wheel_holds_the_data_and_not_the_benchmarks(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (info,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(info).decode()
    bundled = {p.name for p in (ROOT / "gridmap" / "data" / "boundaries").iterdir()}
    assert len(bundled) == 24 and "SOURCES.md" in bundled
    assert {f"gridmap/data/boundaries/{name}" for name in bundled} <= names
    for vendored in ("swagger-ui/swagger-ui-bundle.js", "redoc/redoc.standalone.js"):
        assert f"gridmap/static/vendor/{vendored}" in names
    assert any(n.startswith("gridmap/db/migrations/versions/") for n in names)
    assert "api/main.py" in names
    assert not [n for n in names if n.startswith("benchmarks/")]
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    for needed in ("scipy", "branca", "starlette", "fastapi"):
        assert any(line.split()[1].startswith(needed) for line in requires), needed
    assert not any("swagger-ui-bundle" in line for line in requires)


def test_installed_package_reads_nothing_from_the_checkout(venv: Path, outside: Path) -> None:
    probe = (
        "import importlib.util, json, gridmap, api\n"
        "from gridmap import hierarchy\n"
        "print(json.dumps({'gridmap': gridmap.__file__, 'api': api.__file__,\n"
        "  'boundaries': str(hierarchy.bundled_boundaries()),\n"
        "  'counties': len(list(hierarchy.bundled_boundaries().glob('*.geojson'))),\n"
        "  'benchmarks': importlib.util.find_spec('benchmarks') is not None}))"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=outside,
        env=environment(venv),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(done.stdout)
    for key in ("gridmap", "api", "boundaries"):
        assert Path(found[key]).is_relative_to(venv), found
    assert found["counties"] == 23
    assert found["benchmarks"] is False


def test_bench_explains_it_needs_a_checkout(venv: Path, outside: Path) -> None:
    done = gridmap(venv, outside, "bench", "export")
    assert done.returncode == 2, done.stderr
    assert "gridmap bench runs from a source checkout" in done.stderr


@pytest.fixture
def served(venv: Path, outside: Path, scratch_url: str) -> Iterator[tuple[str, str, str]]:
    """``gridmap demo`` of 东城区 on a scratch database, then ``gridmap serve`` on it: its base
    URL, and the username and password the demo printed for its county admin."""
    demo = gridmap(
        venv, outside, "demo", "--county", COUNTY, "--prefix", COUNTY, "--json", url=scratch_url
    )
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout)
    assert summary["import"]["features"] == 1 and summary["import"]["counties"] == [COUNTY]
    assert summary["synthetic"]["households"] > 0 and summary["grids"]["grids"] > 0
    admin = next(a for a in summary["accounts"] if a["role"] == "county_admin")

    port = free_port()
    log = (outside / "serve.log").open("w")
    server = subprocess.Popen(
        [str(venv / "bin" / "gridmap"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=outside,
        env=environment(venv, DATABASE_URL=scratch_url, GRIDMAP_ESCALATE_EVERY_S="0"),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, base, outside / "serve.log")
        yield base, admin["username"], admin["secret"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def wait_until_up(server: subprocess.Popen[bytes], base: str, log: Path) -> None:
    """Poll /health until it answers; fail with the server's log if it exits first."""
    for _ in range(600):
        if server.poll() is not None:
            pytest.fail(f"gridmap serve exited {server.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1):
                return
        except OSError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=0.1)  # between two polls; ends early if the server exits
    pytest.fail(f"gridmap serve did not answer within 60 s: {log.read_text()}")


def get(url: str, token: str) -> tuple[int, bytes]:
    """Status and body of a GET with a bearer token."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, answer.read()


def log_in(base: str, username: str, password: str) -> str:
    """An access token from the served app's login."""
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    with urllib.request.urlopen(f"{base}/api/v1/auth/token", data=form, timeout=30) as answer:
        return str(json.load(answer)["access_token"])


def test_installed_wheel_runs_demo_locate_and_serves_docs(
    venv: Path, outside: Path, scratch_url: str, served: tuple[str, str, str]
) -> None:
    served_url, username, password = served
    token = log_in(served_url, username, password)
    located = gridmap(venv, outside, "locate", *FORBIDDEN_CITY, "--json", url=scratch_url)
    assert located.returncode == 0, located.stderr
    where = json.loads(located.stdout)
    assert where["county"] == COUNTY and where["names"]["county"] == "东城区"
    assert where["grid"].startswith(COUNTY) and len(where["grid"]) == 15

    status, body = get(f"{served_url}/openapi.json", token)
    assert status == 200 and json.loads(body)["openapi"].startswith("3.1")
    for page, script in (
        ("/docs", "swagger-ui/swagger-ui-bundle.js"),
        ("/redoc", "redoc/redoc.standalone.js"),
    ):
        status, body = get(served_url + page, token)
        html = body.decode()
        assert status == 200
        assert maps.external_urls(html) == [], page
        assets = [url for url in maps.page_urls(html) if url.startswith(maps.ASSET_ROUTE + "/")]
        assert f"{maps.ASSET_ROUTE}/{script}" in assets
        for asset in assets:
            status, content = get(served_url + asset, token)
            vendored = maps.VENDOR_DIR / asset.removeprefix(maps.ASSET_ROUTE + "/")
            assert status == 200 and content == vendored.read_bytes(), asset
