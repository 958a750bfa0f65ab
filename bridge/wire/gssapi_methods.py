"""Kerberos single sign-on on the wire: a GSSAPI token loop with the bridge as acceptor.

Two first packets, one loop:
- MySQL's authentication_kerberos_client: u16le length + service principal name, u16le
  length + realm (as mysql-connector-python and libmysql read it);
- MariaDB's auth_gssapi_client: principal NUL mechanism NUL (mechanism '' on Unix).
A client that opened with the method itself, sending something other than a GSSAPI
token, is switched to it anyway, to learn the principal. Then: the client's token, the
acceptor's reply as AuthMoreData (when it has one), until the context is established; its
initiator is the credential."""

from __future__ import annotations

import struct

from bridge.credentials import Credential, GssapiName
from bridge.errors import Denied
from bridge.wire.base import RECEIVE, Send, WireContext, WireMethodBase, WireRun, register

MAX_ROUNDS = 8
GSS_INITIAL_TOKEN_TAG = b"\x60"


class _GssapiExchange(WireMethodBase):
    proves = (GssapiName,)

    def needs_switch(self, first: bytes) -> bool:
        """A client that opened with this method before it knew the service principal
        (Connector/Python's auth_plugin='authentication_kerberos_client' sends its password
        and a NUL, or a NUL) gets the switch with the principal and realm, as from mysqld.
        A GSSAPI initial token is an ASN.1 [APPLICATION 0] (0x60, RFC 2743 3.1)."""
        return first[:1] != GSS_INITIAL_TOKEN_TAG

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        if ctx.gss is None:
            raise Denied("Kerberos is not configured (backends.kerberos)")
        acceptor = ctx.gss.acceptor()
        token = first
        for _ in range(MAX_ROUNDS):
            if not token:
                raise Denied("empty GSSAPI token")
            reply = acceptor.step(token)
            if reply:
                yield Send(reply)
            if acceptor.complete:
                credential: Credential = GssapiName(acceptor.initiator)
                return credential
            token = yield RECEIVE
        raise Denied("GSSAPI context not established")


@register
class MysqlKerberos(_GssapiExchange):
    name = "authentication_kerberos_client"

    def switch_data(self, ctx: WireContext) -> bytes:
        assert ctx.gss is not None
        spn, realm = ctx.gss.service_principal.encode(), ctx.gss.realm.encode()
        return struct.pack("<H", len(spn)) + spn + struct.pack("<H", len(realm)) + realm


@register
class MariadbGssapi(_GssapiExchange):
    name = "auth_gssapi_client"

    def switch_data(self, ctx: WireContext) -> bytes:
        assert ctx.gss is not None
        return ctx.gss.service_principal.encode() + b"\0\0"
