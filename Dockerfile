# The API image; PostGIS runs in its own container (docker-compose.yml).
FROM python:3.11-slim-bookworm
RUN apt-get update -q && apt-get install -y -q --no-install-recommends gdal-bin && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
# The bundled county boundaries are package data in gridmap/data/boundaries: `gridmap demo`
# reads them from the installed package, not from /app.
COPY gridmap gridmap
COPY api api
RUN pip install --no-cache-dir -c constraints.txt .
ENV GRIDMAP_HOST=0.0.0.0
EXPOSE 8000
CMD ["sh", "-c", "gridmap db migrate && gridmap demo && gridmap serve --host 0.0.0.0 --port 8000"]
