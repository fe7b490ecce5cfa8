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


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the HTTP API (and its docs at /docs)."""
    import uvicorn

    settings = load_settings()
    host, port = host or settings.host, port or settings.port
    database_url(settings)  # fail now, with the fix, rather than on the first request
    console.print(f"API: http://{host}:{port}/api/v1/units  docs: http://{host}:{port}/docs")
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, log_level="warning")


@app.command("version")
def version() -> None:
    """Print the gridmap version."""
    sys.stdout.write(__version__ + "\n")
