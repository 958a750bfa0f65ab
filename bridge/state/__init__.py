"""Shared state: what workers and instances must agree on (docs/scaling.md), in this
process's memory (`state.backend: memory`, the default) or on a Redis/Valkey server
(`state.backend: redis`).

- engine.py: the connection to Redis, with timeouts and backoff;
- throttle.py: failed-login counts, delays and locks;
- fastauth.py: the caching_sha2_password fast-auth cache, sealed;
- groups.py: the LDAP group cache;
- registry.py: the session registry for KILL, and connection ids unique across instances;
- keycheck.py: do all the bridges on one engine and key_prefix hold the same key file?
- shared.py: the parts one process uses, built from the config.

This file imports nothing: the store imports fastauth.py without the rest."""
