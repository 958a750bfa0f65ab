"""Failed-login throttling and temporary lockout, with real clients from two addresses."""

from __future__ import annotations

import re
import time

import pytest

from tests.integration.harness import Bridge, MakeBridge, closing, connect, error_of, scalar

pytestmark = pytest.mark.integration


def attempt(
    bridge: Bridge, password: str, source: str = "127.0.0.1", user: str = "nat"
) -> tuple[float, int | None]:
    started = time.monotonic()
    try:
        connect("pymysql", bridge, user, password, "tls", bind_address=source).close()
        errno = None
    except Exception as exc:
        errno = error_of(exc)[0]
    return time.monotonic() - started, errno


# A login's own time (TLS, the upstream login) on a busy machine: the delays are read from
# the bridge's log exactly; elapsed times only show that each was served, and not longer.
SLACK = 1.0


def delays(bridge: Bridge) -> list[float]:
    """The delays the bridge applied to nat from 127.0.0.1, in order, as it logged them."""
    found = re.findall(r"delaying 'nat' from 127\.0\.0\.1 by ([\d.]+) s", bridge.log)
    return [float(d) for d in found]


def test_delays_grow_after_the_threshold_and_a_success_resets(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(protection={"failed_login_threshold": 2, "min_delay": 0.5, "max_delay": 1.2,
                                     "count_by": "address"})  # fmt: skip
    fast = [attempt(bridge, "bad") for _ in range(2)]
    assert [errno for _, errno in fast] == [1045, 1045] and delays(bridge) == []
    assert all(took < 0.5 + SLACK for took, _ in fast)
    applied = [attempt(bridge, "bad") for _ in range(3)]
    # 1 x min_delay, 2 x min_delay, capped at max_delay
    assert delays(bridge) == [0.5, 1.0, 1.2]
    for (took, errno), delay in zip(applied, [0.5, 1.0, 1.2], strict=True):
        assert delay <= took < delay + SLACK and errno == 1045, (took, delay)
    took, errno = attempt(bridge, "nat-pw")  # still delayed, then a success
    assert errno is None and took >= 1.2 and delays(bridge) == [0.5, 1.0, 1.2, 1.2]
    assert attempt(bridge, "bad")[1] == 1045
    assert len(delays(bridge)) == 4  # the success reset the count: not delayed


def test_delays_do_not_block_other_clients(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(
        protection={"failed_login_threshold": 1, "min_delay": 3, "count_by": "address"}
    )
    attempt(bridge, "bad")
    import threading

    slow = threading.Thread(target=attempt, args=(bridge, "bad"))
    slow.start()
    time.sleep(0.2)
    took, errno = attempt(bridge, "nat-pw", source="127.0.0.2")  # another address, meanwhile
    assert errno is None and took < 2.0  # behind the 3 s delay it would take 2.8 s or more
    slow.join()


def test_per_address_counting_cannot_slow_another_address(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(protection={"failed_login_threshold": 1, "min_delay": 2, "count_by": "address",
                                     "failed_login_attempts": 2, "lock_by": "account_and_address"})  # fmt: skip
    for _ in range(3):
        attempt(bridge, "bad", source="127.0.0.2")  # an attacker on another address
    took, errno = attempt(bridge, "nat-pw", source="127.0.0.1")  # the real user
    assert errno is None and took < 1.0
    assert (
        attempt(bridge, "nat-pw", source="127.0.0.2")[1] == 3955
    )  # the attacker's address is locked


def test_lockout_error_3955_then_unlock(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(
        protection={"failed_login_attempts": 3, "lock_time": 2, "lock_by": "account"}
    )
    for _ in range(3):
        assert attempt(bridge, "bad")[1] == 1045
    with pytest.raises(Exception) as err:
        connect("mysqlclient", bridge, "nat", "nat-pw", "tls")  # the right password, but locked
    errno, message = error_of(err.value)
    assert errno == 3955
    assert message.startswith(
        "Access denied for user 'nat'@'localhost'. Account is blocked for 2 second(s)"
    )
    assert message.endswith("due to 3 consecutive failed logins.")
    time.sleep(2.1)
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
