"""The LDAP group cache through Redis (state.backend redis, group_cache_ttl > 0): groups one
bridge found serve the other, with real slapd, redis-server and PyMySQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from bridge.config import LdapConfig
from bridge.state.fastauth import read_key_file
from bridge.state.groups import GroupSealer, ldap_context
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
        (key,) = [k.decode() for k in client.keys("ldapgroups:ldap:*") if isinstance(k, bytes)]
        sealed = client.get(key)
        assert "alice" not in key and isinstance(sealed, bytes) and b"dbadmins" not in sealed
        assert 0 < client.ttl(key) <= 300
        client.set(key, json.dumps(["readers"]), ex=300)  # a forged value: a miss
        with closing(connect("pymysql", b, "alice", "alice-ldap", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"  # from the directory
        dn = f"uid=alice,{PEOPLE}".lower()
        ldap_config = LdapConfig.model_validate(ldap)  # both bridges' settings are alike
        sealer = GroupSealer(read_key_file(Path(state["fast_auth_key_file"])),
                             ldap_context(ldap_config))  # fmt: skip
        assert key == "ldapgroups:ldap:" + sealer.name(dn)
        client.set(key, sealer.seal(dn, ("readers",), 300), ex=300)  # as a bridge would
        with closing(connect("pymysql", b, "alice", "alice-ldap", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"  # B used the cache
        client.close()
    finally:
        for bridge in bridges:
            bridge.stop()
