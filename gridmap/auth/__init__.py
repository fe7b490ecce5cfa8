"""Accounts, tokens, roles and the personal-data policy (see docs/security.md).

* :mod:`gridmap.auth.access`: roles' permissions, field classification, :class:`Principal`;
* :mod:`gridmap.auth.accounts`: accounts, login with lockout, refresh tokens, API clients;
* :mod:`gridmap.auth.tokens`: signed access tokens checked without the database;
* :mod:`gridmap.auth.passwords`: Argon2id hashes and generated secrets;
* :mod:`gridmap.auth.rates`: requests per minute per key, shared by every API process.
"""
