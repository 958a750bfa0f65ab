import pytest

from bridge.backends.peer import parse_socket_rule
from bridge.mapping.auth_string import AuthStringError, GroupMapping
from bridge.plugins import validate_wire_method


def test_socket_rule() -> None:
    rule = parse_socket_rule("stephanie, tom, @dba=developer, @ops=operator")
    assert rule.target == "stephanie,tom"
    assert rule.mappings == (
        GroupMapping(("dba",), "developer"),
        GroupMapping(("ops",), "operator"),
    )
    assert parse_socket_rule("").target == ""


@pytest.mark.parametrize("bad", ["a b", "x=y", "@dba", "a,,b", "@=x", "'quoted'"])
def test_bad_socket_rules(bad: str) -> None:
    with pytest.raises(AuthStringError):
        parse_socket_rule(bad)


@pytest.mark.parametrize(
    ("plugin", "method", "ok"),
    [("authentication_pam", "dialog", True), ("authentication_pam", "caching_sha2_password", True),
     ("authentication_pam", "mysql_native_password", False), ("caching_sha2_password", "dialog", False),
     ("mysql_native_password", "mysql_clear_password", True), ("auth_socket", "dialog", False),
     ("authentication_pam", "nope", False)],
)  # fmt: skip
def test_pinned_wire_methods(plugin: str, method: str, ok: bool) -> None:
    if ok:
        validate_wire_method(plugin, method)
    else:
        with pytest.raises(ValueError):
            validate_wire_method(plugin, method)
