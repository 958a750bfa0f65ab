"""import-sql against what a real MariaDB 10.11 takes and prints: the statements import-sql
reports as not understood are the ones MariaDB refuses too (ERROR 1064), and accounts made
with every option MariaDB has, dumped as docs/migration.md says, import with nothing
reported but the locked, the certificate's and the expired accounts (a password lifetime
is said to be lost); a GRANT that repeats the hash (SHOW GRANTS) changes
nothing, one that sets another password makes the account reported as changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.mariadb import MariaDB
from tests.integration.test_import_sql import doc_block
from tests.test_importsql_options import MISREAD

pytestmark = pytest.mark.integration

# MISREAD's statements that are MariaDB syntax errors (the rest are MySQL-only forms, or
# name a role or plugin this server lacks): each is ERROR 1064 on the server.
REFUSED_BY_MARIADB = [s for s, _ in MISREAD if not s.startswith(("SET DEFAULT", "GRANT"))]

MADE = """
CREATE USER 'opt1'@'%' IDENTIFIED BY 'pw1' REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 5
  MAX_STATEMENT_TIME 1.5 PASSWORD EXPIRE INTERVAL 90 DAY;
CREATE USER 'opt2'@'%' IDENTIFIED BY 'pw2' REQUIRE ISSUER '/C=SE/CN=ca' SUBJECT '/CN=m'
  CIPHER 'AES256-SHA' PASSWORD EXPIRE NEVER ACCOUNT UNLOCK;
CREATE USER 'opt3'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('pw3')
  WITH MAX_USER_CONNECTIONS 3 MAX_CONNECTIONS_PER_HOUR 7 PASSWORD EXPIRE DEFAULT;
CREATE USER 'opt4'@'%' IDENTIFIED BY 'pw4' ACCOUNT LOCK PASSWORD EXPIRE;
CREATE USER 'opt5'@'%' IDENTIFIED BY 'pw5';
CREATE USER 'opt6'@'%' IDENTIFIED BY 'pw6' PASSWORD EXPIRE;
CREATE USER 'opt7'@'%' IDENTIFIED BY 'pw7';
ALTER USER 'opt7'@'%' PASSWORD EXPIRE;
GRANT SELECT ON mysql.db TO 'opt1'@'%' WITH GRANT OPTION MAX_UPDATES_PER_HOUR 2;
GRANT PROXY ON 'opt5'@'%' TO 'opt1'@'%', 'opt3'@'%';
CREATE ROLE boss WITH ADMIN CURRENT_USER;
"""


def mariadb(server: MariaDB, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mariadb", "--no-defaults", "-uroot", f"--socket={server.socket}",
                           "-N", "-r", "-e", sql], capture_output=True, text=True,
                          timeout=30)  # fmt: skip


def import_sql(work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "import-sql", "users.sql", "-o",
                           "accounts.yaml"], cwd=work, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_what_import_sql_does_not_understand_mariadb_refuses(
    plain_mariadb: MariaDB, tmp_path: Path
) -> None:
    for statement in REFUSED_BY_MARIADB:
        done = mariadb(plain_mariadb, statement)
        assert done.returncode == 1 and "ERROR 1064 " in done.stderr, (statement, done.stderr)
    (tmp_path / "users.sql").write_text("".join(f"{s};\n" for s in REFUSED_BY_MARIADB))
    done = import_sql(tmp_path)
    assert done.returncode == 1
    reported = [line for line in done.stderr.splitlines() if "cannot parse" in line]
    assert [line.split(":")[2] for line in reported] == [
        str(n) for n in range(1, len(REFUSED_BY_MARIADB) + 1)
    ], done.stderr
    assert "user: " not in (tmp_path / "accounts.yaml").read_text()


def dump(server: MariaDB, work: Path) -> None:
    """docs/migration.md's MariaDB commands, as written (plus the connection options)."""
    commands = doc_block("On **MariaDB**").replace(
        "mysql ", f"mysql --no-defaults -S {server.socket} -u root "
    )
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=work,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


def test_every_option_mariadb_prints_is_understood(plain_mariadb: MariaDB, tmp_path: Path) -> None:
    done = mariadb(plain_mariadb, MADE)
    assert done.returncode == 0, done.stderr
    try:
        dump(plain_mariadb, tmp_path)
        text = (tmp_path / "users.sql").read_text()
        assert "MAX_STATEMENT_TIME 1.500000" in text and "REQUIRE ISSUER" in text, text
        # SHOW GRANTS repeats opt1's and opt3's hashes: IDENTIFIED ... after TO.
        assert "GRANT USAGE ON *.* TO `opt1`@`%` IDENTIFIED BY PASSWORD '*" in text
        done = import_sql(tmp_path)
        # MariaDB prints an expired password (made so or expired later) as PASSWORD EXPIRE
        for user in ("opt6", "opt7"):
            assert text.splitlines()[_line(text, user) - 1].endswith("' PASSWORD EXPIRE"), text
        assert done.returncode == 1  # the certificate's, the locked and the expired accounts
        expired = ("PASSWORD EXPIRE: the password has expired on the server, which lets the "
                   "account do nothing until it sets a new one; imported, the old password "
                   "would log in as before (set a new password on the server and import SHOW "
                   "CREATE USER again)")  # fmt: skip
        assert [line for line in done.stderr.splitlines() if line.startswith("NOT")] == [
            f"NOT TRANSLATED: users.sql:{_line(text, 'opt2')}: 'opt2'@'%': REQUIRE ISSUER "
            "SUBJECT: the bridge checks no client certificate; imported, the account would "
            "log in with its password alone",
            f"NOT TRANSLATED: users.sql:{_line(text, 'opt4')}: 'opt4'@'%': ACCOUNT LOCK: a "
            "locked account is not imported",
            f"NOT TRANSLATED: users.sql:{_line(text, 'opt6')}: 'opt6'@'%': {expired}",
            f"NOT TRANSLATED: users.sql:{_line(text, 'opt7')}: 'opt7'@'%': {expired}",
        ], done.stderr
        assert f"users.sql:{_line(text, 'opt1')}: 'opt1'@'%': REQUIRE SSL is not" in done.stderr
        lifetime = [line for line in done.stderr.splitlines() if "PASSWORD EXPIRE INTERVAL" in line]
        assert lifetime == [
            f"skipped: users.sql:{_line(text, 'opt1')}: 'opt1'@'%': PASSWORD EXPIRE INTERVAL 90 "
            "DAY is not carried over (the bridge does not expire passwords: the password keeps "
            "working through it after that)"
        ], done.stderr
        assert "opt2" not in " ".join(lifetime) and "opt3'@'%': PASSWORD" not in done.stderr
        imported = (tmp_path / "accounts.yaml").read_text()
        for user in ("opt1", "opt3", "opt5"):
            assert f"user: {user}\n" in imported

        # A GRANT that sets another password: the dump's CREATE USER says the old one.
        assert mariadb(plain_mariadb, "GRANT SELECT ON mysql.db TO 'opt1'@'%'"
                       " IDENTIFIED BY 'pw1-new'").returncode == 0  # fmt: skip
        sql = (tmp_path / "users.sql").read_text()
        (tmp_path / "users.sql").write_text(
            sql + "GRANT SELECT ON `mysql`.`db` TO `opt1`@`%` IDENTIFIED BY 'pw1-new'\n"
        )
        done = import_sql(tmp_path)
        assert f"'opt1'@'%': changed afterwards (users.sql:{len(sql.splitlines()) + 1}:" \
               " GRANT ... IDENTIFIED)" in done.stderr  # fmt: skip
        assert "user: opt1\n" not in (tmp_path / "accounts.yaml").read_text()
    finally:
        mariadb(plain_mariadb, "DROP USER IF EXISTS 'opt1'@'%', 'opt2'@'%', 'opt3'@'%',"
                " 'opt4'@'%', 'opt5'@'%', 'opt6'@'%', 'opt7'@'%'; DROP ROLE IF EXISTS boss")  # fmt: skip


def _line(text: str, user: str) -> int:
    lines = text.splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(f"CREATE USER `{user}`"))
