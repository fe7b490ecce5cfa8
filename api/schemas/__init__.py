"""Bodies the API documents: problem details, response envelopes, GeoJSON."""
