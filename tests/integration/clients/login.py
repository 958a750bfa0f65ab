"""Log in with one Python client library and print CURRENT_USER(); exit 1 with the error.

    python login.py DRIVER      (pymysql, connector, mysqlclient, mariadb,
                                 aiomysql, asyncmy, sqlalchemy)

The endpoint comes from the environment: MATRIX_HOST, MATRIX_PORT, MATRIX_CA (TLS with
that CA), MATRIX_USER, MATRIX_PASSWORD.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import Any

HOST, PORT = os.environ["MATRIX_HOST"], int(os.environ["MATRIX_PORT"])
CA, USER, PASSWORD = (
    os.environ["MATRIX_CA"],
    os.environ["MATRIX_USER"],
    os.environ["MATRIX_PASSWORD"],
)
QUERY = "SELECT CURRENT_USER()"


def _dbapi(conn: Any) -> str:
    cur = conn.cursor()
    cur.execute(QUERY)
    value = cur.fetchone()[0]
    conn.close()
    return str(value)


def pymysql() -> str:
    import pymysql as m

    return _dbapi(m.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, ssl={"ca": CA}))


def _connector(pure: bool) -> str:
    import mysql.connector as m

    return _dbapi(m.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, ssl_ca=CA,
                            use_pure=pure))  # fmt: skip


def mysqlclient() -> str:
    import MySQLdb as m

    return _dbapi(m.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, ssl={"ca": CA}))


def mariadb() -> str:
    import mariadb as m

    return _dbapi(m.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, ssl_ca=CA,
                            ssl_verify_cert=True))  # fmt: skip


def _context() -> Any:
    import ssl

    return ssl.create_default_context(cafile=CA)


async def _asyncio(module: str) -> str:
    """aiomysql and asyncmy: the same connect() and async cursor."""
    import importlib

    m: Any = importlib.import_module(module)
    conn = await m.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, ssl=_context())
    async with conn.cursor() as cur:
        await cur.execute(QUERY)
        value = (await cur.fetchone())[0]
    conn.close()
    return str(value)


def sqlalchemy() -> str:
    from sqlalchemy import URL, create_engine, text

    url = URL.create("mysql+pymysql", USER, PASSWORD, HOST, PORT)
    engine = create_engine(url, connect_args={"ssl": {"ca": CA}})
    with engine.connect() as conn:
        return str(conn.execute(text(QUERY)).scalar())


DRIVERS: dict[str, Callable[[], str]] = {
    "pymysql": pymysql,
    "connector": lambda: _connector(True),
    "mysqlclient": mysqlclient,
    "mariadb": mariadb,
    "aiomysql": lambda: asyncio.run(_asyncio("aiomysql")),
    "asyncmy": lambda: asyncio.run(_asyncio("asyncmy")),
    "sqlalchemy": sqlalchemy,
}

if __name__ == "__main__":
    try:
        print(DRIVERS[sys.argv[1]]())
    except Exception as exc:  # any failure is the measurement
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
