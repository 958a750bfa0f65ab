"""The LDAP group cache through Redis (state.backend redis, group_cache_ttl > 0): groups one
bridge found serve the other, with real slapd, redis-server and PyMySQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import redis

from sandbox.bridgeproc import Account
from sandbox.ldap import PEOPLE, Slapd
from sandbox.redis import RedisServer
from tests.integration.harness import closing, connect, scalar, start_bridge
from tests.integration.test_ldap import GRANTS, MAPPING, UPSTREAM
from tests.integration.test_state_redis import state_section
from tests.ldapfix import ldap_settings

pytestmark = pytest.mark.integration


def test_groups_found_by_one_bridge_serve_the_other(
    tmp_path: Path, mariadb: Any, certs: Any, slapd: Slapd, redis_server: RedisServer
) -> None:
    for user, password in UPSTREAM.items():
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")
    accounts = [Account("", "", "authentication_ldap_simple", auth_string=MAPPING)]
    state = state_section(tmp_path, redis_server, key_prefix="ldapgroups:")
    bridges = []
    for name in ("a", "b"):
        directory = tmp_path / name
        directory.mkdir()
        ldap = ldap_settings(directory, certs, slapd.url, group_cache_ttl=300)
        bridges.append(start_bridge(directory, mariadb, certs, accounts, upstream_only=UPSTREAM,
                                    proxy_grants=GRANTS, backends={"ldap": ldap}, state=state))  # fmt: skip
    a, b = bridges
    try:
        with closing(connect("pymysql", a, "alice", "alice-ldap", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"
        client = redis.Redis(port=redis_server.port)
        dn = f"uid=alice,{PEOPLE}".lower()
        key = "ldapgroups:ldap:" + hashlib.sha256(dn.encode()).hexdigest()
        found = client.get(key)
        assert isinstance(found, bytes) and json.loads(found) == [
            "dbadmins"
        ]  # what A found, for all
        assert 0 < client.ttl(key) <= 300
        client.set(key, json.dumps(["readers"]), ex=300)  # as if the directory said so
        with closing(connect("pymysql", b, "alice", "alice-ldap", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"  # B used the cache
        client.close()
    finally:
        for bridge in bridges:
            bridge.stop()
