"""How the gate points each suite at a target, and finds its sdist in the cache."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.fetch import _cached
from tests.conformance.suites import SUITES, Target


def _target(tmp_path: Path) -> Target:
    ca = tmp_path / "ca.crt"
    ca.write_text("test CA")
    return Target("bridge", "127.0.0.1", 4406, tmp_path / "bridge.sock", ca)


def test_mysqlclient_reads_the_target_from_the_option_file_named_in_testdb(tmp_path: Path) -> None:
    run = SUITES["mysqlclient"].prepare(tmp_path / "src", _target(tmp_path), tmp_path)
    cnf = Path(run.env["TESTDB"]).read_text()
    assert "[MySQLdb-tests]" in cnf
    assert "port = 4406" in cnf and f"ssl-ca = {tmp_path / 'ca.crt'}" in cnf
    assert "password = mysqldb-pw-1" in cnf


def test_pymysql_gets_the_ca_in_its_home_and_the_address_through_the_retarget_plugin(
    tmp_path: Path,
) -> None:
    run = SUITES["PyMySQL"].prepare(tmp_path / "src", _target(tmp_path), tmp_path)
    assert (Path(run.env["HOME"]) / "ca.pem").read_text() == "test CA"
    assert run.env["CONFORMANCE_PORT"] == "4406"
    assert "retarget" in run.args and "tests/test_auth.py" in run.args


def test_suites_never_run_the_tests_that_reach_beyond_loopback(tmp_path: Path) -> None:
    run = SUITES["mariadb"].prepare(tmp_path / "src", _target(tmp_path), tmp_path)
    selection = run.args[run.args.index("-k") + 1]
    assert "not test_conn_timeout_exception" in selection  # 8.8.8.8
    assert "not test_multi_host" in selection  # a made-up host name, resolved
    assert run.env["TEST_DB_PORT"] == "4406" and run.env["TEST_REQUIRE_TLS"] == "1"


def test_aiomysql_goes_over_the_targets_unix_socket(tmp_path: Path) -> None:
    run = SUITES["aiomysql"].prepare(tmp_path / "src", _target(tmp_path), tmp_path)
    assert f"--mysql-unix-socket=server={tmp_path / 'bridge.sock'}" in run.args


def test_every_suite_is_pinned_to_one_version() -> None:
    for suite in SUITES.values():
        name, _, version = suite.requirement.partition("==")
        assert name and version.count(".") >= 1
        assert all("==" in helper for helper in suite.helpers)


def test_a_cached_sdist_is_found_whatever_the_spelling_of_its_name(tmp_path: Path) -> None:
    for name in ("pymysql-1.2.4.tar.gz", "mysql_connector_python-26.10.0.tar.gz",
                 "mysqlclient-2.3.2.tar.gz", "mysqlclient-2.3.20.tar.gz"):  # fmt: skip
        (tmp_path / name).touch()
    assert _cached(tmp_path, "PyMySQL==1.2.4") == tmp_path / "pymysql-1.2.4.tar.gz"
    found = _cached(tmp_path, "mysql-connector-python==26.10.0")
    assert found == tmp_path / "mysql_connector_python-26.10.0.tar.gz"
    assert _cached(tmp_path, "mysqlclient==2.3.2") == tmp_path / "mysqlclient-2.3.2.tar.gz"
    assert _cached(tmp_path, "aiomysql==0.3.2") is None


def test_connector_python_runs_its_own_runner_against_the_target_and_is_read_from_its_output(
    tmp_path: Path,
) -> None:
    run = SUITES["mysql-connector-python"].prepare(tmp_path / "src", _target(tmp_path), tmp_path)
    assert run.args[:2] == ("unittests.py", "--use-external-server")
    assert run.args[run.args.index("--port") + 1] == "4406"
    assert not run.junit
