"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), apart from its routes.

The routes live in ``api/routers/open311.py``; here:

- ``errors``: ``Open311Error`` and how a library error maps onto the spec's HTTP statuses;
- ``formats``: the XML and JSON renderings, the error document, the format-suffix wrapper;
- ``documents``: what the spec's documents hold (discovery, services, service requests) and how
  the seven stages map onto its open/closed status;
- ``arguments``: reading query arguments and form fields (dates, ids, status, bbox, api_key,
  the report itself), each refusal a 400 or 404 naming the argument.

No module here speaks SQL or touches a session: the routes call the library for data.
"""
