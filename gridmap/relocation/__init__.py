"""Relocation (搬迁安置): households to resettlement sites (集中安置点) and shelters (应急避难场所).

Inside, each module imports only from those below it:

* ``solver``  — the optimisation: households × sites → an optimal assignment (no database);
* ``roads``   — road distances over a loaded network with pgRouting, and the demo's synthetic one;
* ``plans``   — a plan from the database: the affected households (hazard area, villages,
  grids), the candidate sites, distances in the county's Gauss–Krüger zone, the solve, storage;
* ``lists``   — what a plan hands out: per-site and per-worker lists (CSV, XLSX), GeoJSON;
* ``siting``  — where new shelters would cover every household (spopt), as suggested sites.
"""
