"""A thin ctypes binding to libpam: one PAM transaction, run synchronously (in a worker
thread), with a conversation callback the caller provides.

python-pam's authenticate() answers only the first password prompt with a fixed password,
cannot set PAM_RHOST/PAM_RUSER or read back PAM_USER, and loads libpam by name only. The
bridge needs all four (and a configurable library, so tests can use pam_wrapper), so it
binds the seven calls it uses here.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    _Pointer,
    byref,
    c_char_p,
    c_int,
    c_uint,
    c_void_p,
    cast,
    sizeof,
)
from dataclasses import dataclass

PAM_SUCCESS = 0
PAM_PERM_DENIED = 6
PAM_AUTH_ERR = 7
PAM_USER_UNKNOWN = 10
PAM_NEW_AUTHTOK_REQD = 12
PAM_ACCT_EXPIRED = 13
PAM_CONV_ERR = 19
PAM_ABORT = 26

PAM_USER = 2
PAM_RHOST = 4
PAM_RUSER = 8
PAM_FAIL_DELAY = 10

PAM_PROMPT_ECHO_OFF = 1
PAM_PROMPT_ECHO_ON = 2
PAM_ERROR_MSG = 3
PAM_TEXT_INFO = 4

PAM_CRED_INSUFFICIENT = 8
PAM_AUTHINFO_UNAVAIL = 9  # e.g. pam_unix cannot read /etc/shadow: an outage, not a denial
PAM_MAXTRIES = 11

# Results that mean "this user may not log in" rather than "PAM could not answer".
DENIALS = frozenset(
    {
        PAM_PERM_DENIED, PAM_AUTH_ERR, PAM_CRED_INSUFFICIENT, PAM_USER_UNKNOWN, PAM_MAXTRIES,
        PAM_NEW_AUTHTOK_REQD, PAM_ACCT_EXPIRED, PAM_CONV_ERR,
    }
)  # fmt: skip


class _Message(Structure):
    _fields_ = [("msg_style", c_int), ("msg", c_char_p)]


class _Response(Structure):
    _fields_ = [("resp", c_void_p), ("resp_retcode", c_int)]


_CONV = CFUNCTYPE(c_int, c_int, POINTER(POINTER(_Message)), POINTER(POINTER(_Response)), c_void_p)
_DELAY = CFUNCTYPE(None, c_int, c_uint, c_void_p)


class _Conv(Structure):
    _fields_ = [("conv", _CONV), ("appdata_ptr", c_void_p)]


@dataclass(frozen=True)
class Prompt:
    style: int  # PAM_PROMPT_ECHO_OFF / ON
    text: str

    @property
    def secret(self) -> bool:
        return self.style == PAM_PROMPT_ECHO_OFF


@dataclass(frozen=True)
class Outcome:
    code: int  # PAM's result of pam_authenticate, then pam_acct_mgmt
    stage: str  # which call produced it: start, authenticate, acct_mgmt
    reason: str  # pam_strerror's text
    pam_user: str | None  # PAM_USER after the transaction (modules may rewrite it)
    fail_delay_us: int  # the delay PAM asked for (PAM_FAIL_DELAY), not slept here

    @property
    def ok(self) -> bool:
        return self.code == PAM_SUCCESS


Answer = Callable[[Prompt], bytes | None]  # None aborts the conversation


class LibPam:
    """libpam (or pam_wrapper's libpam_wrapper.so) loaded once, with typed prototypes."""

    _cache: dict[str, LibPam] = {}
    _lock = threading.Lock()

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)
        libc = ctypes.CDLL(None)
        self.calloc = libc.calloc
        self.calloc.restype, self.calloc.argtypes = c_void_p, [ctypes.c_size_t, ctypes.c_size_t]
        self.strdup = libc.strdup
        self.strdup.restype, self.strdup.argtypes = c_void_p, [c_char_p]
        self.free = libc.free
        self.free.restype, self.free.argtypes = None, [c_void_p]
        self.start = lib.pam_start
        self.start.argtypes = [c_char_p, c_char_p, POINTER(_Conv), POINTER(c_void_p)]
        for name in ("pam_authenticate", "pam_acct_mgmt"):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = c_int, [c_void_p, c_int]
        self.authenticate, self.acct_mgmt = lib.pam_authenticate, lib.pam_acct_mgmt
        self.end = lib.pam_end
        self.end.restype, self.end.argtypes = c_int, [c_void_p, c_int]
        self.set_item = lib.pam_set_item
        self.set_item.restype, self.set_item.argtypes = c_int, [c_void_p, c_int, c_void_p]
        self.get_item = lib.pam_get_item
        self.get_item.restype, self.get_item.argtypes = c_int, [c_void_p, c_int, POINTER(c_void_p)]
        self.strerror = lib.pam_strerror
        self.strerror.restype, self.strerror.argtypes = c_char_p, [c_void_p, c_int]

    @classmethod
    def load(cls, path: str) -> LibPam:
        with cls._lock:
            if path not in cls._cache:
                cls._cache[path] = cls(path)
            return cls._cache[path]

    def transaction(
        self, service: str, user: str, rhost: str, ruser: str, answer: Answer
    ) -> Outcome:
        """pam_start, PAM_RHOST/RUSER, pam_authenticate, pam_acct_mgmt, PAM_USER, pam_end."""
        delay = [0]
        conv = _Conv(_CONV(self._conversation(answer)), None)
        delay_fn = _DELAY(lambda _retval, usec, _data: delay.__setitem__(0, int(usec)))
        handle = c_void_p()
        code = self.start(service.encode(), user.encode(), byref(conv), byref(handle))
        if code != PAM_SUCCESS:
            return Outcome(code, "start", self._reason(handle, code), None, 0)
        try:
            self.set_item(handle, PAM_RHOST, cast(c_char_p(rhost.encode()), c_void_p))
            self.set_item(handle, PAM_RUSER, cast(c_char_p(ruser.encode()), c_void_p))
            self.set_item(handle, PAM_FAIL_DELAY, cast(delay_fn, c_void_p))
            stage, code = "authenticate", self.authenticate(handle, 0)
            if code == PAM_SUCCESS:
                stage, code = "acct_mgmt", self.acct_mgmt(handle, 0)
            return Outcome(code, stage, self._reason(handle, code), self._user(handle), delay[0])
        finally:
            self.end(handle, code)

    def _reason(self, handle: c_void_p, code: int) -> str:
        text = self.strerror(handle, code)
        return text.decode("utf-8", "replace") if text else f"PAM error {code}"

    def _user(self, handle: c_void_p) -> str | None:
        item = c_void_p()
        if self.get_item(handle, PAM_USER, byref(item)) != PAM_SUCCESS or not item.value:
            return None
        value = cast(item, c_char_p).value
        return value.decode("utf-8", "replace") if value is not None else None

    def _conversation(self, answer: Answer) -> Callable[..., int]:
        def conv(
            count: int, messages: _Pointer[_Pointer[_Message]],
            responses: _Pointer[_Pointer[_Response]], _data: object,
        ) -> int:  # fmt: skip
            try:
                return self._converse(count, messages, responses, answer)
            except Exception:  # nothing may unwind through C
                return PAM_CONV_ERR

        return conv

    def _converse(
        self, count: int, messages: _Pointer[_Pointer[_Message]],
        responses: _Pointer[_Pointer[_Response]], answer: Answer,
    ) -> int:  # fmt: skip
        array = cast(self.calloc(count, sizeof(_Response)), POINTER(_Response))
        for i in range(count):
            message = messages[i].contents
            if message.msg_style not in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
                continue  # PAM_TEXT_INFO / PAM_ERROR_MSG: nothing to answer
            text = (message.msg or b"").decode("utf-8", "replace")
            reply = answer(Prompt(message.msg_style, text))
            if reply is None or b"\0" in reply:
                self._discard(array, i)
                return PAM_CONV_ERR
            array[i].resp = self.strdup(reply)
        responses[0] = array
        return PAM_SUCCESS

    def _discard(self, array: _Pointer[_Response], filled: int) -> None:
        """On an aborted conversation the responses are ours to free (PAM won't)."""
        for j in range(filled):
            resp = array[j].resp
            if resp:
                ctypes.memset(resp, 0, ctypes.c_size_t(len(ctypes.string_at(resp))).value)
                self.free(resp)
        self.free(array)
