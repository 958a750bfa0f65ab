"""docs/migration.md, steps 1-2 as written, against a real MariaDB 10.11 with several
accounts, a quoted name, a role (and MariaDB's PUBLIC role), a locked account and a PROXY
grant: the dump commands run literally (only the connection options are added to each
`mysql`, as the page says), `import-sql` translates the dump, a real bridge loads the
result and real clients log in as the imported accounts with their old passwords."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sandbox.bridgeproc import BridgeProcess, add_grants, run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from tests.integration.harness import closing, connect, error_of, mariadb_cli, scalar

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parent.parent.parent
MIGRATION = ROOT / "docs" / "migration.md"

# The old server's accounts, as a DBA made them. The bridge-only upstream passwords are set
# after the dump (step 3), so a login proves the old hash came across.
SETUP = """
CREATE DATABASE shop;
CREATE USER 'alice'@'%' IDENTIFIED BY 'alice-pw';
CREATE USER 'o''brien'@'%' IDENTIFIED BY 'ob-pw';
CREATE USER 'dev'@'%' IDENTIFIED BY 'dev-old';
CREATE USER 'gone'@'%' IDENTIFIED BY 'x' ACCOUNT LOCK;
CREATE ROLE analyst;
GRANT SELECT ON shop.* TO analyst;
GRANT analyst TO 'alice'@'%';
SET DEFAULT ROLE analyst FOR 'alice'@'%';
GRANT SELECT ON mysql.db TO PUBLIC;
GRANT ALL ON shop.* TO 'dev'@'%';
GRANT SELECT ON shop.* TO 'o''brien'@'%';
GRANT PROXY ON 'dev'@'%' TO 'alice'@'%';
CREATE USER 'admin'@'%' IDENTIFIED BY 'admin-pw';
GRANT PROXY ON ''@'%' TO 'admin'@'%' WITH GRANT OPTION;
"""


def doc_block(heading: str) -> str:
    """The first sh block after `heading` in docs/migration.md."""
    text = MIGRATION.read_text()
    assert heading in text, f"docs/migration.md no longer says {heading!r}: update this test"
    found = re.search(r"```sh\n(.*?)```", text.split(heading, 1)[1], re.S)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def old_server(plain_mariadb: MariaDB) -> MariaDB:
    plain_mariadb.sql(SETUP)
    roles = plain_mariadb.sql("SELECT user FROM mysql.user WHERE is_role = 'Y' ORDER BY user")
    assert roles.split() == ["PUBLIC", "analyst"]  # what made the old commands fail
    return plain_mariadb


@pytest.fixture(scope="module")
def imported(old_server: MariaDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Steps 1 and 2 in a temp dir: users.sql, then accounts.yaml."""
    work = tmp_path_factory.mktemp("migration")
    dump = doc_block("On **MariaDB**").replace(
        "mysql ", f"mysql --no-defaults -S {old_server.socket} -u root "
    )
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", dump], cwd=work,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    yield work


def test_the_dump_holds_every_account_and_no_role(imported: Path) -> None:
    dump = (imported / "users.sql").read_text()
    assert "CREATE USER `o'brien`@`%` IDENTIFIED BY PASSWORD '*" in dump
    assert "GRANT PROXY ON `dev`@`%` TO `alice`@`%`" in dump
    assert ";" not in dump  # mysql -N prints no ';': import-sql must split the lines itself
    assert "analyst`@" not in dump and "PUBLIC" not in dump and "mariadb.sys" not in dump


def test_import_translates_the_dump_and_reports_the_rest(imported: Path) -> None:
    translate = doc_block("2. **Translate**").strip()
    assert translate.startswith("mysql-auth-bridge import-sql users.sql -o ")
    done = subprocess.run([sys.executable, "-m", "bridge", "import-sql", "users.sql", "-o",
                           "accounts.yaml"], cwd=imported, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stderr  # the locked account is not imported
    lines = done.stderr.splitlines()
    assert [line for line in lines if line.startswith("NOT TRANSLATED")] == [
        f"NOT TRANSLATED: users.sql:{_line(imported, 'gone')}: 'gone'@'%': ACCOUNT LOCK: "
        "a locked account is not imported"
    ]
    assert all(re.match(r"(skipped|NOT TRANSLATED): users\.sql:\d+: ", line) for line in lines)
    role = _line(imported, "SET DEFAULT ROLE `analyst`")  # roles stay upstream, said so
    assert f"skipped: users.sql:{role}: privileges stay on the upstream server" in lines
    doc = yaml.safe_load((imported / "accounts.yaml").read_text())
    users = {row["user"] for row in doc["accounts"]}
    assert {"alice", "o'brien", "dev", "admin", "root"} <= users and "gone" not in users
    assert doc["proxy_grants"] == [{"proxy": "'alice'@'%'", "proxied": ["'dev'@'%'"]}]


def test_the_install_default_proxy_grant_is_skipped_with_the_reason(imported: Path) -> None:
    """mariadb-install-db gives root (every root row) `GRANT PROXY ON ''@'%' ... WITH GRANT
    OPTION`: it lets root grant PROXY, it proxies nobody. It and admin's copy of it are
    skipped, each with its line, and nothing else is said of them (exit status as above)."""
    done = subprocess.run([sys.executable, "-m", "bridge", "import-sql", "users.sql", "-o",
                           "accounts.yaml"], cwd=imported, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    dump = (imported / "users.sql").read_text().splitlines()
    defaults = [
        (n, line) for n, line in enumerate(dump, 1) if line.startswith("GRANT PROXY ON ``@`%`")
    ]
    grantees = {line.split(" TO ")[1].split(" WITH")[0] for _, line in defaults}  # fmt: skip
    assert {"`root`@`localhost`", "`admin`@`%`"} <= grantees, dump
    skipped = [line for line in done.stderr.splitlines() if "GRANT PROXY ON ''@'%'" in line]
    assert len(skipped) == len(defaults), done.stderr
    for (n, line), said in zip(defaults, skipped, strict=True):
        grantee = line.split(" TO ")[1].split(" WITH")[0].replace("`", "'")
        assert said == (
            f"skipped: users.sql:{n}: GRANT PROXY ON ''@'%' TO {grantee} WITH GRANT OPTION: lets "
            "the grantee grant PROXY to others (the server's install default for root); nobody "
            "becomes the anonymous account, and granting stays on the upstream server"
        )
    assert "''@'%'" not in (imported / "accounts.yaml").read_text().split("proxy_grants:")[1]


def _line(work: Path, start: str) -> int:
    """The line of users.sql that starts with `start` (or with CREATE USER `start`)."""
    lines = (work / "users.sql").read_text().splitlines()
    starts = (start, f"CREATE USER `{start}`")
    return next(i for i, line in enumerate(lines, 1) if line.startswith(starts))


@pytest.fixture(scope="module")
def migrated_bridge(imported: Path, old_server: MariaDB, certs: CertSet) -> Iterator[BridgeProcess]:
    """Step 3: the upstream accounts get passwords only the bridge knows; the bridge loads
    the imported accounts file as it is."""
    subprocess.run([sys.executable, "-m", "bridge", "import-sql", "users.sql", "-o",
                    "accounts.yaml"], cwd=imported, capture_output=True, timeout=60)  # fmt: skip
    old_server.sql("ALTER USER 'dev'@'%' IDENTIFIED BY 'up-dev';"
                   "ALTER USER 'o''brien'@'%' IDENTIFIED BY 'up-ob';"
                   "ALTER USER 'admin'@'%' IDENTIFIED BY 'up-admin'")  # fmt: skip
    directory, port = imported / "bridge", free_port()
    # root keeps its empty password upstream (mariadb-install-db's, in this throwaway server)
    write_config(directory, port, old_server.port, certs, [],
                 {"dev": "up-dev", "o'brien": "up-ob", "admin": "up-admin", "root": ""})  # fmt: skip
    (directory / "accounts.yaml").write_text((imported / "accounts.yaml").read_text())
    bridge = run_bridge(directory, port, certs)
    yield bridge
    bridge.stop()


def test_an_imported_proxy_account_logs_in_with_its_old_password(
    migrated_bridge: BridgeProcess,
) -> None:
    with closing(connect("pymysql", migrated_bridge, "alice", "alice-pw", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "dev@%"
        assert scalar(conn, "SELECT USER()").startswith("dev@")
    with pytest.raises(Exception) as refused:
        connect("pymysql", migrated_bridge, "alice", "dev-old", "tls")
    assert error_of(refused.value)[0] == 1045


def test_an_imported_quoted_name_logs_in_with_the_mariadb_cli(
    migrated_bridge: BridgeProcess,
) -> None:
    done = mariadb_cli(migrated_bridge, "o'brien", "ob-pw", sql="SELECT CURRENT_USER(), "
                       "(SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop')")  # fmt: skip
    assert (done.returncode, done.stdout.split()) == (0, ["o'brien@%", "1"]), done.stderr
    assert mariadb_cli(migrated_bridge, "gone", "x").returncode == 1  # not imported


def test_rows_with_a_proxy_grant_on_the_anonymous_account_log_in_as_themselves(
    migrated_bridge: BridgeProcess,
) -> None:
    """An accounts file that still has the install default as a grant (import-sql wrote it
    before it skipped it: root and admin, GRANT PROXY ON ''@'%'): through the bridge they
    are themselves, as on the server, never the anonymous account; explain says why."""
    accounts = migrated_bridge.directory / "accounts.yaml"
    imported = accounts.read_text()
    add_grants(accounts, [{"proxy": "'root'@'localhost'", "proxied": ["''@'%'"]},
                          {"proxy": "'root'@'127.0.0.1'", "proxied": ["''@'%'"]},
                          {"proxy": "'admin'@'%'", "proxied": ["''@'%'"]}])  # fmt: skip
    assert migrated_bridge.reload()
    try:
        for client in ("pymysql", "mysqlclient"):
            with closing(connect(client, migrated_bridge, "admin", "admin-pw", "tls")) as conn:
                assert scalar(conn, "SELECT CURRENT_USER()") == "admin@%"
            with closing(connect(client, migrated_bridge, "root", "", "tls")) as conn:
                assert scalar(conn, "SELECT CURRENT_USER()").startswith("root@")
        done = mariadb_cli(migrated_bridge, "admin", "admin-pw")
        assert (done.returncode, done.stdout.split()) == (0, ["admin@%"]), done.stderr
        explained = subprocess.run([sys.executable, "-m", "bridge", "explain", "-c",
                                    str(migrated_bridge.config), "root", "--host", "localhost"],
                                   capture_output=True, text=True, timeout=60)  # fmt: skip
        assert "its PROXY grant on ''@'%' is not used: the anonymous account is never a " \
               "proxied account" in explained.stdout, explained.stdout  # fmt: skip
        assert "result: logs in upstream as 'root'" in explained.stdout
    finally:
        accounts.write_text(imported)
        assert migrated_bridge.reload()


# `mariadb-dump --system=users` (MariaDB 10.11's own account dump, a DBA's first reach): a
# file of CREATE USER and GRANT statements, plus the helper role the tool grants itself
# with `GRANT mariadb_dump_import_role TO CURRENT_USER()`, which import-sql once reported
# as `cannot parse: unexpected '(' after GRANT ... TO` (exit status 1 on every such dump).


@pytest.fixture(scope="module")
def system_users_dump(old_server: MariaDB, tmp_path_factory: pytest.TempPathFactory) -> Path:
    old_server.sql("CREATE USER 'dumped'@'%' IDENTIFIED BY 'dumped-pw'")
    work = tmp_path_factory.mktemp("system-users")
    dump = subprocess.run(["mariadb-dump", "--no-defaults", "-S", str(old_server.socket), "-u",
                           "root", "--system=users"], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert "TO CURRENT_USER()" in dump.stdout  # the statement this is about
    (work / "system-users.sql").write_text(dump.stdout)
    return work


def test_import_reads_a_mariadb_dump_of_system_users(system_users_dump: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bridge", "import-sql", "system-users.sql",
                           "-o", "accounts.yaml"], cwd=system_users_dump, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    lines = done.stderr.splitlines()
    assert not [line for line in lines if "cannot parse" in line], done.stderr
    refused = sorted(line.split(": ")[2] for line in lines if line.startswith("NOT TRANSLATED"))
    assert refused == ["'gone'@'%'", "'mariadb.sys'@'localhost'"], done.stderr  # locked both
    dump = (system_users_dump / "system-users.sql").read_text().splitlines()
    helper = next(n for n, line in enumerate(dump, 1) if line.endswith("TO CURRENT_USER();"))
    assert f"skipped: system-users.sql:{helper}: privileges stay on the upstream server" in lines
    doc = yaml.safe_load((system_users_dump / "accounts.yaml").read_text())
    assert {"alice", "o'brien", "dev", "dumped"} <= {row["user"] for row in doc["accounts"]}
    assert {"proxy": "'alice'@'%'", "proxied": ["'dev'@'%'"]} in doc["proxy_grants"]


def test_an_account_from_a_mariadb_dump_logs_in_with_its_old_password(
    system_users_dump: Path, old_server: MariaDB, certs: CertSet
) -> None:
    subprocess.run([sys.executable, "-m", "bridge", "import-sql", "system-users.sql", "-o",
                    "accounts.yaml"], cwd=system_users_dump, capture_output=True, timeout=60)  # fmt: skip
    old_server.sql("ALTER USER 'dumped'@'%' IDENTIFIED BY 'up-dumped'")  # the bridge's own
    directory, port = system_users_dump / "bridge", free_port()
    write_config(directory, port, old_server.port, certs, [], {"dumped": "up-dumped"})
    imported = yaml.safe_load((system_users_dump / "accounts.yaml").read_text())
    rows = [row for row in imported["accounts"] if row["user"] == "dumped"]
    (directory / "accounts.yaml").write_text(yaml.safe_dump({"accounts": rows}))
    bridge = run_bridge(directory, port, certs)
    try:
        with closing(connect("pymysql", bridge, "dumped", "dumped-pw", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "dumped@%"
        done = mariadb_cli(bridge, "dumped", "dumped-pw")
        assert (done.returncode, done.stdout.split()) == (0, ["dumped@%"]), done.stderr
        assert mariadb_cli(bridge, "dumped", "up-dumped").returncode == 1  # the old one only
    finally:
        bridge.stop()
