"""``gridmap serve`` (uvicorn on ``api.main:create_app``, named by string so gridmap never
imports api) and ``gridmap version``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gridmap import __version__
from gridmap.cli.context import console, database_url, load_settings

app = typer.Typer()

# uvicorn's httptools protocol with a header deadline and size cap (named by string, as above).
HTTP_PROTOCOL = "api.server:GuardedProtocol"


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the HTTP API (and its docs at /docs).

    Connections are limited without a proxy (``api/server.py``): headers must arrive within
    GRIDMAP_HEADER_TIMEOUT_S and stay under GRIDMAP_MAX_HEADER_BYTES; idle keep-alive
    connections close after 5 s.
    """
    import uvicorn

    settings = load_settings()
    host, port = host or settings.host, port or settings.port
    database_url(settings)  # fail now, with the fix, rather than on the first request
    console.print(f"API: http://{host}:{port}/api/v1/units  docs: http://{host}:{port}/docs")
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=HTTP_PROTOCOL,
        timeout_keep_alive=5,
        log_level="warning",
    )


@app.command("version")
def version() -> None:
    """Print the gridmap version."""
    sys.stdout.write(__version__ + "\n")
