"""Throttle keys and counts, without a network: normalised names, bounded keys, and a
success that clears only its own user's share of an address's count."""

from __future__ import annotations

from bridge.config import ProtectionConfig
from bridge.throttle import MAX_KEY, Throttle, name_key


def throttle(**settings: object) -> Throttle:
    return Throttle(ProtectionConfig.model_validate(settings))


def test_names_are_keyed_as_directories_compare_them() -> None:
    assert name_key("BOB") == name_key("Bob") == name_key("bob")
    assert name_key("\uff22\uff2f\uff22") == name_key("bob")  # fullwidth BOB: NFKC
    assert name_key("Straße") == name_key("STRASSE")


def test_long_names_are_hashed_to_a_bounded_key() -> None:
    key = name_key("x" * 500_000)
    assert len(key) <= MAX_KEY and key != name_key("x" * 499_999)


def test_a_lock_covers_every_spelling_and_the_resolved_name() -> None:
    t = throttle(failed_login_attempts=3, lock_by="account")
    t.failure("bob", "10.0.0.1")
    t.failure("BOB", "10.0.0.2")
    assert t.locked("Bob", "10.0.0.9") is None  # two failures
    t.failure("Bob", "10.0.0.3")
    assert t.locked("bOb", "10.0.0.9") is not None
    for name in ("u1", "u2", "u3"):  # three names the directory resolved to one entry
        t.failure(name, "10.0.0.4", also=("uid=carol,ou=people",))
    assert t.locked("u4", "10.0.0.9") is None
    assert t.locked("u4", "10.0.0.9", also=("UID=Carol,OU=People",)) is not None


def test_success_clears_only_that_users_share_of_the_address_count() -> None:
    t = throttle(failed_login_threshold=2, min_delay=1, count_by="address")
    for _ in range(3):
        t.failure("victim", "10.0.0.1")
    t.success("decoy-account", "10.0.0.1")
    assert t.delay("anyone", "10.0.0.1") == 2.0
    t.failure("other", "10.0.0.1")
    t.success("victim", "10.0.0.1")
    assert t.delay("anyone", "10.0.0.1") == 0.0  # one failure left: other's
    t.success("other", "10.0.0.1")
    assert len(t) == 0


def test_records_stay_bounded_whatever_the_names() -> None:
    from bridge import throttle as module

    t = throttle(failed_login_attempts=5, lock_by="account")
    limit, module.MAX_TRACKED = module.MAX_TRACKED, 1000
    try:
        for i in range(5000):
            t.failure(f"{i}" + "n" * 1000, "10.0.0.1")
        assert len(t) <= 1000
        assert all(len(key[1]) <= MAX_KEY for key in t._records)
    finally:
        module.MAX_TRACKED = limit


def test_unlock_forgets_every_spelling_and_the_resolved_names_typed_for_it() -> None:
    t = throttle(failed_login_attempts=2, lock_by="account")
    for name in ("BOB", "Bob"):
        t.failure(name, "10.0.0.1", also=("uid=bob,ou=people",))
    assert t.locked("bob", "10.0.0.1") is not None
    assert t.unlock("bob") == 2  # bob's record and the DN's
    assert t.locked("bob", "10.0.0.1", also=("uid=bob,ou=people",)) is None


def test_an_ipv6_client_is_counted_by_its_64_as_the_handshake_cap_counts_it() -> None:
    """Fresh addresses in one /64 share a count and a lock; another /64, IPv4 and an
    IPv4-mapped address (counted as its IPv4 address) are apart as a source would be."""
    t = throttle(failed_login_threshold=2, min_delay=1, count_by="address",
                 failed_login_attempts=3, lock_by="account_and_address")  # fmt: skip
    for host in ("2001:db8:1:2::a", "2001:db8:1:2:ffff::b", "2001:db8:1:2:1234:5678:9abc:def0"):
        t.failure("bob", host)
    assert t.delay("eve", "2001:db8:1:2::99") == 2.0
    assert t.locked("bob", "2001:db8:1:2::99") is not None
    assert t.delay("eve", "2001:db8:1:3::a") == 0.0 and t.locked("bob", "2001:db8:1:3::a") is None
    for _ in range(3):
        t.failure("carol", "::ffff:192.0.2.7")
    assert t.locked("carol", "192.0.2.7") is not None
    assert t.locked("carol", "192.0.2.8") is None
    assert t.unlock("bob", "2001:db8:1:2::77") == 1  # any address of the /64 names its record
    assert t.locked("bob", "2001:db8:1:2::a") is None
    assert t.unlock("carol", "::ffff:192.0.2.7") == 1
