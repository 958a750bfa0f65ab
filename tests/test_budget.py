"""bridge/budget.py: each backend's budget from its configuration, and the handshake
deadline that stops while the bridge waits on a backend (and only then)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.budget import GRACE, backend_budget, wait_on_backend
from bridge.config import BackendsConfig
from bridge.errors import BackendUnavailable

LDAP = {"servers": ["ldaps://a", "ldaps://b"], "connect_timeout": 3, "response_timeout": 5}
KRB = {"keytab": "k", "service_principal": "mysql/db@EX.TEST", "timeout": 10}


def backends(**sections: object) -> BackendsConfig:
    return BackendsConfig.model_validate(sections)


def test_ldap_budget_is_every_server_in_turn() -> None:
    assert backend_budget(backends(ldap=LDAP), "ldap") == 2 * (3 + 3 * 5) + GRACE
    one = {**LDAP, "servers": ["ldaps://a"], "response_timeout": 0.5}  # ldap3: whole seconds
    assert backend_budget(backends(ldap=one), "ldap") == 3 + 3 * 1 + GRACE


def test_kerberos_budget_adds_the_ldap_groups_only_when_used() -> None:
    assert backend_budget(backends(kerberos=KRB, ldap=LDAP), "kerberos") == 10 + GRACE
    with_groups = {**KRB, "groups_from_ldap": True}
    assert backend_budget(backends(kerberos=with_groups, ldap=LDAP), "kerberos") == 10 + 36 + GRACE


def test_pam_and_oidc_budgets() -> None:
    assert backend_budget(backends(pam={"timeout": 7}), "pam") == 7 + GRACE
    providers = [{"name": n, "issuer": f"https://{n}", "audience": "a", "timeout": t}
                 for n, t in (("p", 2.0), ("q", 4.0))]  # fmt: skip
    assert backend_budget(backends(oidc={"providers": providers}), "oidc") == 2 * 4.0 + GRACE


def test_backends_without_a_server_keep_the_handshake_clock() -> None:
    assert backend_budget(backends(), "store") is None
    assert backend_budget(backends(), "peer") is None
    assert backend_budget(backends(), "ldap") is None  # not configured


async def test_the_deadline_stops_while_the_backend_works() -> None:
    """A 0.2 s handshake deadline; the backend takes 0.4 s within its budget: no timeout,
    and afterwards the deadline has what it had left."""
    async with asyncio.timeout(0.2) as deadline:
        result = await wait_on_backend(_slow("ok", 0.4), deadline, 1.0, "ldap")
        left = (deadline.when() or 0) - asyncio.get_running_loop().time()
    assert result == "ok"
    assert 0.1 < left <= 0.2


async def test_the_deadline_runs_on_after_the_backend() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2) as deadline:
            await wait_on_backend(_slow("ok", 0.3), deadline, 1.0, "ldap")
            await asyncio.sleep(0.5)  # the client's time again: the deadline fires


async def test_past_its_budget_a_backend_is_an_outage() -> None:
    started = time.monotonic()
    async with asyncio.timeout(0.1) as deadline:
        with pytest.raises(BackendUnavailable, match=r"kerberos did not answer within 0\.3 s"):
            await wait_on_backend(_slow("late", 5), deadline, 0.3, "kerberos")
    assert 0.3 <= time.monotonic() - started < 1.0


async def test_no_budget_leaves_the_deadline_running() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1) as deadline:
            await wait_on_backend(_slow("ok", 0.5), deadline, None, "store")


async def test_a_question_to_the_client_while_paused_restarts_its_clock() -> None:
    """PAM asks the client through dialog during the backend's work: the session sets the
    deadline for the answer (bridge/authenticate.py); that wins over the paused one."""

    async def asks(deadline: asyncio.Timeout) -> None:
        deadline.reschedule(asyncio.get_running_loop().time() + 0.1)  # the client must answer
        await asyncio.sleep(0.5)  # and does not

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(5) as deadline:
            await wait_on_backend(asks(deadline), deadline, 2.0, "pam")


async def _slow(value: str, seconds: float) -> str:
    await asyncio.sleep(seconds)
    return value
