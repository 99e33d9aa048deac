"""A catalogue of malformed requests to every endpoint, through the gateway.

Each ``BadCase`` declares the status it must get; the answer must be an
``application/problem+json`` body with that status, a non-empty detail and the request id,
produced by the service (``instance`` set) or by the gateway itself (no ``instance``). Before
the first case and after the last, both databases are snapshotted (row count and checksum of
every table): the whole catalogue must leave them byte-for-byte unchanged.

Inputs that look hostile but are valid (SQL, HTML or a path in a user name or a filename) are
accepted and must be stored verbatim and harmlessly: they are tested at the end of the file,
outside the unchanged-database window.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from devstack.stack import LocalStack
from shared.errors import UnsupportedMediaType
from testkit.audio import create_user
from testkit.problems import assert_problem
from testkit.wav import REJECTED_FILES, tone_wav, unsupported_codec_wav
from tests.e2e import db_snapshot
from tests.e2e.helpers import (
    skip_stored_upstream_ids,
)

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
PROBLEM = "application/problem+json"

# --- the context every case may refer to ----------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    """Two users with one record each, made before the first snapshot."""

    a_id: int
    a_token: str
    a_name: str
    a_record: str
    b_id: int
    b_token: str
    b_record: str
    missing_user: int = 9_000_000_000
    missing_record: str = "00000000-0000-4000-8000-000000000000"

    def fill(self, value: str) -> str:
        if "{" not in value:
            return value
        values = {
            **self.__dict__,
            "a_record_truncated": self.a_record[:-1],
            "a_record_hex": uuid.UUID(self.a_record).hex + "00",
        }
        return value.format_map(values)


FileMaker = Callable[[], bytes]


@dataclass(frozen=True)
class FromCtx:
    """A JSON value taken from the context at run time, e.g. the name of an existing user."""

    attr: str

    def resolve(self, ctx: Ctx) -> Any:
        return getattr(ctx, self.attr)


def small_wav() -> bytes:
    return tone_wav(440.0, 0.2, sample_rate=8000)


@dataclass(frozen=True)
class BadCase:
    """One malformed request. String fields may name ``{a_id}``, ``{a_token}``… of ``Ctx``."""

    name: str
    category: str
    status: int
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    json_body: Any = None
    content: bytes | FileMaker | None = None
    content_type: str | None = None
    # multipart: form fields (repeatable) and file parts (field, filename, bytes, type)
    form: tuple[tuple[str, str], ...] | None = None
    files: tuple[tuple[str, str, FileMaker, str], ...] = ()
    origin: str = "service"  # or "gateway": nginx's own problem body
    detail_contains: tuple[str, ...] = ()
    field_named: str | None = None  # a 422 whose errors list must name this field
    code: str | None = None  # the problem's "code" extension (audio refusals)

    def request(self, ctx: Ctx) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "method": self.method,
            "url": ctx.fill(self.path),
            "params": [(k, ctx.fill(v)) for k, v in self.params] or None,
            "headers": {k: ctx.fill(v) for k, v in self.headers},
        }
        if self.json_body is not None:
            body = self.json_body
            if isinstance(body, dict):
                body = {k: v.resolve(ctx) if isinstance(v, FromCtx) else v for k, v in body.items()}
            kwargs["content"] = json.dumps(body).encode()
            kwargs["headers"].setdefault("Content-Type", "application/json")
        elif self.content is not None:
            kwargs["content"] = self.content() if callable(self.content) else self.content
        if self.content_type is not None:
            kwargs["headers"]["Content-Type"] = self.content_type
        if self.form is not None or self.files:
            data: dict[str, list[str]] = {}
            for key, value in self.form or ():
                data.setdefault(key, []).append(ctx.fill(value))
            kwargs["data"] = data
            kwargs["files"] = [
                (name, (filename, make(), ctype)) for name, filename, make, ctype in self.files
            ]
        return kwargs


# --- the catalogue --------------------------------------------------------------------------

SQL = "1' OR '1'='1'; DROP TABLE users; --"
HTML = "<script>alert(1)</script>"
TRAVERSAL = "../../../../etc/passwd"
NUL = "abc\x00def"
LONG = "9" * 4000
HOSTILE_STRINGS = {"sql": SQL, "html": HTML, "traversal": TRAVERSAL, "nul": NUL, "long": LONG}

WAV_FILE = ("file", "ok.wav", small_wav, "audio/wav")


def _auth_form(**overrides: str) -> tuple[tuple[str, str], ...]:
    form = {"user_id": "{a_id}", "token": "{a_token}", **overrides}
    return tuple((k, v) for k, v in form.items() if v != "<omit>")


def quiz_cases() -> list[BadCase]:
    cat = "quiz-json"
    cases = [
        BadCase(f"quiz-{label}", cat, 422, "POST", "/quiz", json_body=body, field_named=named)
        for label, body, named in [
            ("negative", {"questions_num": -1}, "questions_num"),
            ("float", {"questions_num": 1.5}, "questions_num"),
            ("float-integral", {"questions_num": 2.0}, "questions_num"),
            ("string-number", {"questions_num": "5"}, "questions_num"),
            ("boolean", {"questions_num": True}, "questions_num"),
            ("null", {"questions_num": None}, "questions_num"),
            ("missing-key", {}, "questions_num"),
            ("nested-object", {"questions_num": {"n": 1}}, "questions_num"),
            ("array-value", {"questions_num": [1]}, "questions_num"),
            ("above-max", {"questions_num": 101}, "questions_num"),
            ("huge", {"questions_num": 10**30}, "questions_num"),
            ("unknown-key", {"questions_num": 1, "question_num": 1}, "question_num"),
            ("typo-only", {"question_num": 1}, "questions_num"),
            ("body-array", [{"questions_num": 1}], None),
            ("body-string", "questions_num=1", None),
            ("body-number", 5, None),
        ]
    ]
    cases += [
        BadCase(f"quiz-{label}", "invalid-json", 422, "POST", "/quiz", content=raw, content_type=ct)
        for label, raw, ct in [
            ("truncated-json", b'{"questions_num": ', "application/json"),
            ("single-quotes", b"{'questions_num': 1}", "application/json"),
            ("trailing-comma", b'{"questions_num": 1,}', "application/json"),
            ("nan", b'{"questions_num": NaN}', "application/json"),
            ("empty-body", b"", "application/json"),
            ("binary-garbage", bytes(range(256)), "application/json"),
            ("duplicate-keys-last-bad", b'{"questions_num": 1, "questions_num": -1}', None),
            (
                "duplicate-keys-both-valid",
                b'{"questions_num": 1, "questions_num": 2}',
                "application/json",
            ),
        ]
    ]
    cases += [
        BadCase(
            f"{path[1:]}-non-utf8-{label}",
            "invalid-json",
            422,
            "POST",
            path,
            content=raw,
            content_type="application/json",
        )
        for path in ("/quiz", "/user")
        for label, raw in [("latin1-string", b'{"x": "caf\xe9"}'), ("lone-byte", b"\xff")]
    ]
    cases += [
        BadCase(
            f"quiz-ctype-{label}",
            "content-type",
            422,
            "POST",
            "/quiz",
            content=raw,
            content_type=ct,
        )
        for label, raw, ct in [
            ("text-plain", b'{"questions_num": 1}', "text/plain"),
            ("form-urlencoded", b"questions_num=1", "application/x-www-form-urlencoded"),
            ("multipart", b"--x\r\n\r\n--x--\r\n", "multipart/form-data; boundary=x"),
            ("xml", b"<questions_num>1</questions_num>", "application/xml"),
        ]
    ]
    cases += [
        BadCase(
            f"quiz-questions_num-{label}",
            "hostile-text",
            422,
            "POST",
            "/quiz",
            json_body={"questions_num": payload},
            field_named="questions_num",
        )
        for label, payload in HOSTILE_STRINGS.items()
    ]
    qcat = "quiz-params"
    cases += [
        BadCase("quiz-question-id-not-int", "malformed-id", 422, "GET", "/quiz/questions/abc"),
        BadCase("quiz-question-id-zero", "malformed-id", 422, "GET", "/quiz/questions/0"),
        BadCase("quiz-question-id-negative", "malformed-id", 422, "GET", "/quiz/questions/-5"),
        BadCase("quiz-question-id-float", "malformed-id", 422, "GET", "/quiz/questions/1.5"),
        BadCase(
            "quiz-question-id-bigint-overflow",
            "malformed-id",
            422,
            "GET",
            f"/quiz/questions/{2**63}",
        ),
        BadCase("quiz-question-missing", "not-found", 404, "GET", "/quiz/questions/999999999"),
        BadCase(
            "quiz-list-limit-zero",
            qcat,
            422,
            "GET",
            "/quiz/questions",
            params=(("limit", "0"),),
            field_named="limit",
        ),
        BadCase(
            "quiz-list-limit-too-big",
            qcat,
            422,
            "GET",
            "/quiz/questions",
            params=(("limit", "101"),),
            field_named="limit",
        ),
        BadCase(
            "quiz-list-limit-text",
            qcat,
            422,
            "GET",
            "/quiz/questions",
            params=(("limit", "ten"),),
            field_named="limit",
        ),
        BadCase(
            "quiz-list-before-id-negative",
            qcat,
            422,
            "GET",
            "/quiz/questions",
            params=(("before_id", "-1"),),
            field_named="before_id",
        ),
    ]
    # A "/" inside the id (even encoded) makes another path, which no route has: 404.
    cases += [
        BadCase(
            f"quiz-question-id-{label}",
            "hostile-text",
            404 if "/" in payload else 422,
            "GET",
            "/quiz/questions/" + quote(payload, safe=""),
        )
        for label, payload in HOSTILE_STRINGS.items()
        if label not in ("traversal", "nul")
    ]
    # nginx refuses an encoded NUL and a path that climbs above the root itself.
    cases += [
        BadCase(
            "quiz-question-id-nul",
            "hostile-text",
            400,
            "GET",
            "/quiz/questions/1%00",
            origin="gateway",
        ),
        BadCase(
            "quiz-question-id-traversal",
            "hostile-text",
            400,
            "GET",
            "/quiz/questions/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
            origin="gateway",
        ),
    ]
    cases += [
        BadCase(
            f"quiz-list-before-id-{label}",
            "hostile-text",
            422,
            "GET",
            "/quiz/questions",
            params=(("before_id", payload),),
            field_named="before_id",
        )
        for label, payload in HOSTILE_STRINGS.items()
    ]
    return cases


def user_cases() -> list[BadCase]:
    cat = "user-json"
    name_cases = [
        ("empty", ""),
        ("blank", "   \t  "),
        ("too-long", "x" * 101),
        ("very-long", "y" * 5000),
        ("nul", "ab\x00cd"),
        ("bell", "ab\x07cd"),
        ("newline", "line\nbreak"),
        ("carriage-return", "a\rb"),
        ("escape-sequence", "\x1b[31mred"),
        ("del", "a\x7fb"),
        ("c1-control", "a\x85b"),
        ("line-separator", "a\u2028b"),
    ]
    cases = [
        BadCase(
            f"user-name-{label}",
            "hostile-text" if label in ("nul", "very-long") else cat,
            422,
            "POST",
            "/user",
            json_body={"name": name},
            field_named="name",
        )
        for label, name in name_cases
    ]
    cases += [
        BadCase(f"user-{label}", cat, 422, "POST", "/user", json_body=body, field_named=named)
        for label, body, named in [
            ("name-int", {"name": 5}, "name"),
            ("name-null", {"name": None}, "name"),
            ("name-list", {"name": ["a"]}, "name"),
            ("name-object", {"name": {"first": "a"}}, "name"),
            ("missing-name", {}, "name"),
            ("unknown-key", {"name": "someone-new", "admin": True}, "admin"),
            ("body-array", ["a"], None),
            ("body-string", "a", None),
        ]
    ]
    cases += [
        BadCase(
            "user-truncated-json",
            "invalid-json",
            422,
            "POST",
            "/user",
            content=b'{"name": "x',
            content_type="application/json",
        ),
        BadCase(
            "user-form-urlencoded",
            "content-type",
            422,
            "POST",
            "/user",
            content=b"name=someone",
            content_type="application/x-www-form-urlencoded",
        ),
        BadCase(
            "user-text-plain",
            "content-type",
            422,
            "POST",
            "/user",
            content=b'{"name": "someone-else"}',
            content_type="text/plain",
        ),
        BadCase(
            "user-duplicate-name",
            "conflict",
            409,
            "POST",
            "/user",
            json_body={"name": FromCtx("a_name")},
        ),
    ]
    return cases


def record_upload_cases() -> list[BadCase]:
    cat = "upload-form"
    cases = [
        BadCase(
            "record-no-file-part",
            cat,
            422,
            "POST",
            "/record",
            form=_auth_form(),
            field_named="file",
        ),
        BadCase(
            "record-no-user-id",
            cat,
            422,
            "POST",
            "/record",
            form=_auth_form(user_id="<omit>"),
            files=(WAV_FILE,),
            field_named="user_id",
        ),
        BadCase(
            "record-no-token",
            "bad-token",
            401,
            "POST",
            "/record",
            form=_auth_form(token="<omit>"),
            files=(WAV_FILE,),
        ),
        BadCase("record-empty-form", cat, 422, "POST", "/record", form=(("x", "y"),)),
        BadCase(
            "record-file-as-text-field",
            cat,
            422,
            "POST",
            "/record",
            form=(*_auth_form(), ("file", "RIFF....WAVE")),
            field_named="file",
        ),
        BadCase(
            "record-two-files",
            "duplicated-field",
            400,
            "POST",
            "/record",
            form=_auth_form(),
            files=(WAV_FILE, WAV_FILE),
        ),
        # Two values for one field are ambiguous: refused, whichever of them would "win".
        BadCase(
            "record-duplicate-user-id-own-first",
            "duplicated-field",
            422,
            "POST",
            "/record",
            form=(*_auth_form(), ("user_id", "{b_id}")),
            files=(WAV_FILE,),
            field_named="user_id",
        ),
        BadCase(
            "record-duplicate-user-id-own-last",
            "duplicated-field",
            422,
            "POST",
            "/record",
            form=(("user_id", "{b_id}"), *_auth_form()),
            files=(WAV_FILE,),
            field_named="user_id",
        ),
        BadCase(
            "record-duplicate-token-own-first",
            "duplicated-field",
            422,
            "POST",
            "/record",
            form=(*_auth_form(), ("token", "{b_token}")),
            files=(WAV_FILE,),
            field_named="token",
        ),
        BadCase(
            "record-duplicate-token-own-last",
            "duplicated-field",
            422,
            "POST",
            "/record",
            form=(("token", "{b_token}"), *_auth_form()),
            files=(WAV_FILE,),
            field_named="token",
        ),
        BadCase(
            "record-unknown-field",
            "upload-form",
            422,
            "POST",
            "/record",
            form=(*_auth_form(), ("admin", "1")),
            files=(WAV_FILE,),
            field_named="admin",
        ),
        BadCase(
            "record-too-many-fields",
            "upload-form",
            400,
            "POST",
            "/record",
            form=(*_auth_form(), *((f"f{i}", str(i)) for i in range(20))),
            files=(WAV_FILE,),
        ),
        BadCase(
            "record-part-too-large",
            "oversized",
            400,
            "POST",
            "/record",
            form=_auth_form(token="t" * 8192),
            files=(WAV_FILE,),
        ),
        BadCase(
            "record-json-body",
            "content-type",
            422,
            "POST",
            "/record",
            json_body={"user_id": 1, "token": "x", "file": "UklGRg=="},
        ),
        BadCase(
            "record-urlencoded-body",
            "content-type",
            422,
            "POST",
            "/record",
            content=b"user_id=1&token=x&file=abc",
            content_type="application/x-www-form-urlencoded",
        ),
        BadCase(
            "record-multipart-no-boundary",
            "content-type",
            400,
            "POST",
            "/record",
            content=b"--x\r\n",
            content_type="multipart/form-data",
        ),
        BadCase(
            "record-multipart-garbage",
            "content-type",
            400,
            "POST",
            "/record",
            content=b"\x00\x01garbage",
            content_type="multipart/form-data; boundary=zz",
        ),
    ]
    # authentication
    cat = "bad-token"
    cases += [
        BadCase(
            f"record-token-{label}",
            cat,
            401,
            "POST",
            "/record",
            form=_auth_form(token=token),
            files=(WAV_FILE,),
        )
        for label, token in [
            ("random-uuid", str(uuid.UUID(int=0x1234, version=4))),
            ("not-uuid", "not-a-token"),
            ("empty", ""),
            ("other-users", "{b_token}"),
            ("sql", SQL),
            ("html", HTML),
            ("traversal", TRAVERSAL),
            ("nul", "{a_token}\x00"),
            ("long", "{a_token}" + "f" * 3000),
        ]
    ]
    cases += [
        BadCase(
            "record-unknown-user",
            cat,
            401,
            "POST",
            "/record",
            form=_auth_form(user_id="{missing_user}"),
            files=(WAV_FILE,),
        ),
        BadCase(
            "record-bearer-and-form-differ",
            cat,
            401,
            "POST",
            "/record",
            form=_auth_form(),
            headers=(("Authorization", "Bearer {b_token}"),),
            files=(WAV_FILE,),
        ),
        BadCase(
            "record-other-users-bearer",
            cat,
            401,
            "POST",
            "/record",
            form=_auth_form(token="<omit>"),
            headers=(("Authorization", "Bearer {b_token}"),),
            files=(WAV_FILE,),
        ),
        BadCase(
            "record-basic-auth",
            cat,
            401,
            "POST",
            "/record",
            form=_auth_form(token="<omit>"),
            headers=(("Authorization", "Basic YTpi"),),
            files=(WAV_FILE,),
        ),
        BadCase(
            "record-bearer-empty",
            cat,
            401,
            "POST",
            "/record",
            form=_auth_form(token="<omit>"),
            headers=(("Authorization", "Bearer"),),
            files=(WAV_FILE,),
        ),
    ]
    cases += [
        BadCase(
            f"record-user-id-{label}",
            "hostile-text",
            422,
            "POST",
            "/record",
            form=_auth_form(user_id=payload),
            files=(WAV_FILE,),
            field_named="user_id",
        )
        for label, payload in {**HOSTILE_STRINGS, "zero": "0", "float": "1.5"}.items()
    ]
    # the WAV itself
    for bad in REJECTED_FILES:
        status = 415 if bad.error is UnsupportedMediaType else 422
        expect: tuple[str, ...] = ()
        if bad.code == "unsupported_codec":
            expect = ("0x0161",) if bad.name != "codec_aac" else ("0x00FF",)
        cases.append(
            BadCase(
                f"record-wav-{bad.name}",
                "bad-wav",
                status,
                "POST",
                "/record",
                form=_auth_form(),
                files=(("file", f"{bad.name}.wav", bad.make, "audio/wav"),),
                code=bad.code,
                detail_contains=expect,
            )
        )
    cases += [
        BadCase(
            "record-wav-codec-0x0133",
            "bad-wav",
            415,
            "POST",
            "/record",
            form=_auth_form(),
            files=(("file", "g729.wav", lambda: unsupported_codec_wav(0x0133), "audio/wav"),),
            code="unsupported_codec",
            detail_contains=("0x0133",),
        ),
        BadCase(
            "record-wav-bad-content-and-traversal-name",
            "bad-wav",
            415,
            "POST",
            "/record",
            form=_auth_form(),
            files=(("file", "../../etc/passwd", lambda: b"root:x:0:0:root\n", "audio/wav"),),
            code="not_wav",
        ),
    ]
    # sizes: over the service's limit (8 MiB) but under the gateway's (9 MiB) -> the service;
    # over the gateway's -> nginx, before the service sees anything
    cases += [
        BadCase(
            "record-file-just-over-service-limit",
            "oversized",
            413,
            "POST",
            "/record",
            form=_auth_form(),
            files=(("file", "big.wav", lambda: b"RIFF" + bytes(8 * MIB), "audio/wav"),),
        ),
        BadCase(
            "record-body-over-service-body-limit",
            "oversized",
            413,
            "POST",
            "/record",
            form=_auth_form(),
            files=(
                ("file", "big.wav", lambda: b"RIFF" + bytes(8 * MIB + 512 * 1024), "audio/wav"),
            ),
        ),
        BadCase(
            "record-body-over-gateway-limit",
            "oversized",
            413,
            "POST",
            "/record",
            form=_auth_form(),
            origin="gateway",
            files=(("file", "huge.wav", lambda: bytes(9 * MIB + 1), "audio/wav"),),
        ),
        BadCase(
            "quiz-body-over-gateway-limit",
            "oversized",
            413,
            "POST",
            "/quiz",
            content=lambda: b'{"questions_num": 1, "pad": "' + b"x" * (9 * MIB) + b'"}',
            content_type="application/json",
            origin="gateway",
        ),
        BadCase(
            "user-body-over-gateway-limit",
            "oversized",
            413,
            "POST",
            "/user",
            content=lambda: b"x" * (10 * MIB),
            content_type="application/json",
            origin="gateway",
        ),
    ]
    return cases


def record_access_cases() -> list[BadCase]:
    cases: list[BadCase] = []
    for method in ("GET", "DELETE"):
        auth = (("Authorization", "Bearer {a_token}"),) if method == "DELETE" else ()
        m = method.lower()
        cases += [
            BadCase(
                f"record-{m}-id-not-uuid",
                "malformed-id",
                422,
                method,
                "/record",
                params=(("id", "not-a-uuid"), ("user", "{a_id}")),
                headers=auth,
                field_named="id",
            ),
            BadCase(
                f"record-{m}-id-truncated-uuid",
                "malformed-id",
                422,
                method,
                "/record",
                params=(("id", "{a_record_truncated}"), ("user", "{a_id}")),
                headers=auth,
                field_named="id",
            ),
            BadCase(
                f"record-{m}-no-id",
                "malformed-id",
                422,
                method,
                "/record",
                params=(("user", "{a_id}"),),
                headers=auth,
                field_named="id",
            ),
            BadCase(
                f"record-{m}-no-user",
                "malformed-id",
                422,
                method,
                "/record",
                params=(("id", "{a_record}"),),
                headers=auth,
                field_named="user",
            ),
            BadCase(
                f"record-{m}-user-not-int",
                "malformed-id",
                422,
                method,
                "/record",
                params=(("id", "{a_record}"), ("user", "alice")),
                headers=auth,
                field_named="user",
            ),
            BadCase(
                f"record-{m}-user-zero",
                "malformed-id",
                422,
                method,
                "/record",
                params=(("id", "{a_record}"), ("user", "0")),
                headers=auth,
                field_named="user",
            ),
        ]
        cases += [
            BadCase(
                f"record-{m}-id-{label}",
                "hostile-text",
                422,
                method,
                "/record",
                params=(("id", payload), ("user", "{a_id}")),
                headers=auth,
                field_named="id",
            )
            for label, payload in HOSTILE_STRINGS.items()
        ]
    cases[0:0] = [
        BadCase(
            "record-get-id-almost-uuid",
            "malformed-id",
            422,
            "GET",
            "/record",
            params=(("id", "{a_record_hex}"), ("user", "{a_id}")),
            field_named="id",
        ),
        BadCase(
            "record-get-unknown-id",
            "others-records",
            404,
            "GET",
            "/record",
            params=(("id", "{missing_record}"), ("user", "{a_id}")),
        ),
        BadCase(
            "record-get-with-other-user",
            "others-records",
            404,
            "GET",
            "/record",
            params=(("id", "{a_record}"), ("user", "{b_id}")),
        ),
        BadCase(
            "record-get-unknown-user",
            "others-records",
            404,
            "GET",
            "/record",
            params=(("id", "{a_record}"), ("user", "{missing_user}")),
        ),
        BadCase(
            "record-get-range-past-end",
            "bad-header",
            416,
            "GET",
            "/record",
            params=(("id", "{a_record}"), ("user", "{a_id}")),
            headers=(("Range", "bytes=999999999-"),),
            # With the download cache on, nginx fetches the whole MP3 and judges the range.
            origin="gateway",
        ),
        BadCase(
            "record-get-range-zero-suffix",
            "bad-header",
            416,
            "GET",
            "/record",
            params=(("id", "{a_record}"), ("user", "{a_id}")),
            headers=(("Range", "bytes=-0"),),
            # With the download cache on, nginx fetches the whole MP3 and judges the range.
            origin="gateway",
        ),
        BadCase(
            "record-delete-no-token",
            "bad-token",
            401,
            "DELETE",
            "/record",
            params=(("id", "{a_record}"), ("user", "{a_id}")),
        ),
        BadCase(
            "record-delete-token-in-query",
            "bad-token",
            401,
            "DELETE",
            "/record",
            params=(("id", "{a_record}"), ("user", "{a_id}"), ("token", "{a_token}")),
        ),
        BadCase(
            "record-delete-other-users-token",
            "bad-token",
            401,
            "DELETE",
            "/record",
            params=(("id", "{a_record}"), ("user", "{a_id}")),
            headers=(("Authorization", "Bearer {b_token}"),),
        ),
        BadCase(
            "record-delete-others-record-as-self",
            "others-records",
            404,
            "DELETE",
            "/record",
            params=(("id", "{a_record}"), ("user", "{b_id}")),
            headers=(("Authorization", "Bearer {b_token}"),),
        ),
        BadCase(
            "record-delete-unknown-record",
            "others-records",
            404,
            "DELETE",
            "/record",
            params=(("id", "{missing_record}"), ("user", "{a_id}")),
            headers=(("Authorization", "Bearer {a_token}"),),
        ),
        BadCase(
            "record-delete-wrong-scheme",
            "bad-token",
            401,
            "DELETE",
            "/record",
            params=(("id", "{a_record}"), ("user", "{a_id}")),
            headers=(("Authorization", "Token {a_token}"),),
        ),
    ]
    # a user's record list
    lcat = "bad-token"
    cases += [
        BadCase("records-list-no-token", lcat, 401, "GET", "/user/{a_id}/records"),
        BadCase(
            "records-list-other-users-token",
            "others-records",
            401,
            "GET",
            "/user/{a_id}/records",
            headers=(("Authorization", "Bearer {b_token}"),),
        ),
        BadCase(
            "records-list-unknown-user",
            lcat,
            401,
            "GET",
            "/user/{missing_user}/records",
            headers=(("Authorization", "Bearer {a_token}"),),
        ),
        BadCase(
            "records-list-malformed-token",
            lcat,
            401,
            "GET",
            "/user/{a_id}/records",
            headers=(("Authorization", "Bearer " + SQL),),
        ),
        BadCase(
            "records-list-user-not-int",
            "malformed-id",
            422,
            "GET",
            "/user/abc/records",
            headers=(("Authorization", "Bearer {a_token}"),),
            field_named="user_id",
        ),
        BadCase(
            "records-list-user-traversal",
            "hostile-text",
            400,
            "GET",
            "/user/..%2F..%2Fetc%2Fpasswd/records",
            origin="gateway",
            headers=(("Authorization", "Bearer {a_token}"),),
        ),
        BadCase(
            "records-list-user-sql",
            "hostile-text",
            422,
            "GET",
            "/user/" + quote(SQL, safe="") + "/records",
            field_named="user_id",
            headers=(("Authorization", "Bearer {a_token}"),),
        ),
        BadCase(
            "records-list-limit-zero",
            "malformed-id",
            422,
            "GET",
            "/user/{a_id}/records",
            params=(("limit", "0"),),
            headers=(("Authorization", "Bearer {a_token}"),),
            field_named="limit",
        ),
        BadCase(
            "records-list-offset-negative",
            "malformed-id",
            422,
            "GET",
            "/user/{a_id}/records",
            params=(("offset", "-1"),),
            headers=(("Authorization", "Bearer {a_token}"),),
            field_named="offset",
        ),
    ]
    return cases


def routing_cases() -> list[BadCase]:
    cat = "unknown-path-or-method"
    return [
        BadCase("gateway-unknown-path", cat, 404, "GET", "/wp-admin", origin="gateway"),
        BadCase("gateway-unknown-nested", cat, 404, "GET", "/api/v1/users", origin="gateway"),
        BadCase("gateway-dotfile", cat, 404, "GET", "/.env", origin="gateway"),
        BadCase(
            "gateway-traversal-encoded",
            cat,
            400,
            "GET",
            "/quiz/%2e%2e/%2e%2e/etc/passwd",
            origin="gateway",
        ),
        BadCase(
            "gateway-traversal-resolved",
            cat,
            404,
            "GET",
            "/quiz/%2e%2e/etc/passwd",
            origin="gateway",
        ),
        BadCase(
            "gateway-unknown-service-docs",
            cat,
            404,
            "GET",
            "/services/admin/docs",
            origin="gateway",
        ),
        BadCase("gateway-health-post", cat, 405, "POST", "/health", origin="gateway"),
        BadCase("gateway-health-delete", cat, 405, "DELETE", "/health", origin="gateway"),
        BadCase(
            "gateway-uri-too-long",
            cat,
            414,
            "GET",
            "/quiz/questions",
            params=(("before_id", "1" * 20000),),
            origin="gateway",
        ),
        BadCase(
            "gateway-header-too-large",
            "bad-header",
            431,
            "GET",
            "/quiz/questions",
            headers=(("X-Big", "h" * 20000),),
            origin="gateway",
        ),
        BadCase("quiz-get", cat, 405, "GET", "/quiz"),
        BadCase("quiz-put", cat, 405, "PUT", "/quiz", json_body={"questions_num": 1}),
        BadCase("quiz-delete", cat, 405, "DELETE", "/quiz"),
        BadCase(
            "quiz-questions-post",
            cat,
            405,
            "POST",
            "/quiz/questions",
            json_body={"questions_num": 1},
        ),
        BadCase("quiz-question-delete", cat, 405, "DELETE", "/quiz/questions/1"),
        BadCase("quiz-unknown-subpath", cat, 404, "GET", "/quiz/answers"),
        BadCase("user-get", cat, 405, "GET", "/user"),
        BadCase("user-delete", cat, 405, "DELETE", "/user"),
        BadCase("user-unknown-subpath", cat, 404, "GET", "/user/{a_id}"),
        BadCase("record-put", cat, 405, "PUT", "/record", params=(("id", "{a_record}"),)),
        BadCase("record-patch", cat, 405, "PATCH", "/record"),
        BadCase("record-unknown-subpath", cat, 404, "GET", "/record/{a_record}"),
        BadCase("quiz-service-unknown-path", cat, 404, "GET", "/services/quiz/admin"),
        BadCase("audio-service-unknown-path", cat, 404, "GET", "/services/audio/admin"),
        BadCase("audio-service-ready-post", cat, 405, "POST", "/services/audio/ready"),
    ]


CATALOGUE: list[BadCase] = [
    *quiz_cases(),
    *user_cases(),
    *record_upload_cases(),
    *record_access_cases(),
    *routing_cases(),
]


def test_catalogue_is_big_enough() -> None:
    names = [case.name for case in CATALOGUE]
    assert len(names) == len(set(names)), "case names are unique"
    per_category = Counter(case.category for case in CATALOGUE)
    print(f"\nbad-input catalogue: {len(CATALOGUE)} cases: {dict(sorted(per_category.items()))}")
    assert len(CATALOGUE) >= 60


# --- running it -----------------------------------------------------------------------------


@dataclass
class Window:
    ctx: Ctx
    before: dict[str, db_snapshot.DatabaseSnapshot]
    ran: list[str] = field(default_factory=list)


def database_urls(stack: LocalStack) -> dict[str, str]:
    return {
        "quiz": stack.config.env["QUIZ_DATABASE_URL"],
        "audio": stack.config.env["AUDIO_DATABASE_URL"],
    }


async def snapshot_all(stack: LocalStack) -> dict[str, db_snapshot.DatabaseSnapshot]:
    return {name: await db_snapshot.snapshot(url) for name, url in database_urls(stack).items()}


async def _upload(gateway: httpx.AsyncClient, user_id: int, token: str) -> str:
    response = await gateway.post(
        "/record",
        data={"user_id": str(user_id), "token": token},
        files={"file": ("setup.wav", small_wav(), "audio/wav")},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["record_id"])


@pytest.fixture(scope="module")
async def window(stack: LocalStack) -> Window:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as gateway:
        # At least one question, so the quiz table's checksum covers real rows.
        async with httpx.AsyncClient(base_url=stack.emulator_url, timeout=10) as emulator:
            await skip_stored_upstream_ids(emulator, stack.config.env["QUIZ_DATABASE_URL"])
        stored = await gateway.post("/quiz", json={"questions_num": 2})
        assert stored.status_code == 200, stored.text
        a = await create_user(gateway, f"catalogue-a-{uuid.uuid4().hex[:8]}")
        b = await create_user(gateway, f"catalogue-b-{uuid.uuid4().hex[:8]}")
        ctx = Ctx(
            a_id=a.user_id,
            a_token=a.token,
            a_name=a.name,
            a_record=await _upload(gateway, a.user_id, a.token),
            b_id=b.user_id,
            b_token=b.token,
            b_record=await _upload(gateway, b.user_id, b.token),
        )
    return Window(ctx=ctx, before=await snapshot_all(stack))


async def db_user_name(stack: LocalStack, user_id: int) -> str | None:
    connection = await db_snapshot.connect(stack.config.env["AUDIO_DATABASE_URL"])
    try:
        name: str | None = await connection.fetchval(
            "SELECT name FROM users WHERE id = $1", user_id
        )
        return name
    finally:
        await connection.close()


def assert_case_problem(response: httpx.Response, case: BadCase, request_id: str) -> None:
    context = f"{case.name}: {response.status_code} {response.text[:600]}"
    body = assert_problem(response, case.status)
    # nginx refuses a bad request line (400/414) before it reads any header, X-Request-ID
    # included, so it answers with an id of its own.
    if not (case.origin == "gateway" and case.status in (400, 414, 431)):
        assert body["request_id"] == request_id, context
    if case.origin == "gateway":
        assert "instance" not in body, f"expected the gateway's own problem: {context}"
    else:
        assert body.get("instance"), f"expected the service's problem: {context}"
    for fragment in case.detail_contains:
        assert fragment.lower() in body["detail"].lower(), context
    if case.field_named is not None and case.status == 422:
        fields = [error["field"] for error in body.get("errors") or []]
        assert any(case.field_named in name for name in fields), context
    if case.code is not None:
        assert body.get("code") == case.code, context
    if case.status == 401:
        assert response.headers.get("www-authenticate", "").startswith("Bearer"), context


async def send(case: BadCase, ctx: Ctx, gateway: httpx.AsyncClient) -> None:
    request_id = f"bad-{uuid.uuid4().hex}"
    kwargs = case.request(ctx)
    kwargs["headers"]["X-Request-ID"] = request_id
    try:
        response = await gateway.request(**kwargs)
    except httpx.RemoteProtocolError as exc:  # pragma: no cover - reported with its case
        pytest.fail(f"{case.name}: the connection broke instead of an answer: {exc}")
    assert_case_problem(response, case, request_id)


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda case: case.name)
async def test_bad_request(case: BadCase, window: Window, gateway: httpx.AsyncClient) -> None:
    await send(case, window.ctx, gateway)
    window.ran.append(case.name)


async def test_databases_unchanged_after_catalogue(window: Window, stack: LocalStack) -> None:
    # Meaningless unless the whole catalogue ran first (not under -k, -x or a failure).
    missing = sorted({case.name for case in CATALOGUE} - set(window.ran))
    assert not missing, (
        f"{len(missing)} catalogue cases did not run before this check: {missing[:5]}"
    )
    after = await snapshot_all(stack)
    changes = {name: db_snapshot.diff(window.before[name], after[name]) for name in after}
    assert window.before["audio"]["public.users"].rows >= 2
    assert window.before["audio"]["public.record_chunks"].rows >= 2
    assert window.before["quiz"]["public.questions"].rows >= 2
    print(f"\ncatalogue ran {len(window.ran)} cases; database changes: {changes}")
    assert changes == {"quiz": [], "audio": []}


# --- hostile but valid text: stored verbatim, harmless ---------------------------------------

HOSTILE_NAMES = [
    "'; DROP TABLE users; --",
    "Robert'); DROP TABLE records;--",
    "1 OR 1=1",
    '" OR ""="',
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "%00%0d%0a",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "Zoë 名前 🎵",
]


async def test_hostile_names_are_stored_verbatim(
    gateway: httpx.AsyncClient, stack: LocalStack
) -> None:
    audio_url = stack.config.env["AUDIO_DATABASE_URL"]
    before = await db_snapshot.snapshot(audio_url)
    created: dict[int, str] = {}
    for payload in HOSTILE_NAMES:
        name = f"{payload} #{uuid.uuid4().hex[:6]}"
        response = await gateway.post("/user", json={"name": f"  {name}  "})
        assert response.status_code == 201, f"{payload!r}: {response.text}"
        body = response.json()
        assert body["name"] == name, "trimmed, otherwise verbatim"
        created[int(body["user_id"])] = name
        again = await gateway.post("/user", json={"name": name})
        assert again.status_code == 409, "the very same text is the same (taken) name"
        assert again.headers["content-type"] == PROBLEM
    longest = (uuid.uuid4().hex * 4)[:100]
    boundary = await gateway.post("/user", json={"name": longest})
    assert boundary.status_code == 201, "100 characters is still a valid name"
    created[int(boundary.json()["user_id"])] = longest

    for user_id, name in created.items():
        assert await db_user_name(stack, user_id) == name
    after = await db_snapshot.snapshot(audio_url)
    assert after.keys() == before.keys(), "every table still exists"
    assert after["public.users"].rows >= before["public.users"].rows + len(created)
    assert after["public.records"] == before["public.records"]


# (name sent, a fragment the stored name keeps): the multipart encoder of the client may
# escape some characters, so only the harmless core is predicted exactly.
HOSTILE_FILENAMES = [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini.wav", "boot.ini"),
    ("'; DROP TABLE records; --.wav", "DROP TABLE records"),
    ("<script>alert(1)</script>.wav", "script"),
    ('a"b;c.wav', "b;c"),
    ("line\r\nX-Injected: 1.wav", "X-Injected"),
    ("evil\u202egnp.wav", "gnp"),
    ("名前.wav", "名前"),
]


async def test_hostile_filenames_are_sanitised(gateway: httpx.AsyncClient) -> None:
    user = await create_user(gateway)
    user_id, token = user.user_id, user.token
    for raw, fragment in HOSTILE_FILENAMES:
        upload = await gateway.post(
            "/record",
            data={"user_id": str(user_id), "token": token},
            files={"file": (raw, small_wav(), "audio/wav")},
        )
        assert upload.status_code == 201, f"{raw!r}: {upload.text}"
        body = upload.json()
        original, filename = body["original_filename"], body["filename"]
        for name in (original, filename):
            assert not any(char in '/\\<>:"|?*\u202e' or ord(char) < 32 for char in name), raw
        assert fragment in filename, (raw, filename)
        assert filename.endswith(".mp3"), (raw, filename)
        download = await gateway.head(body["url"])
        assert download.status_code == 200
        disposition = download.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="')
        fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
        assert fallback.isascii(), fallback
        assert fallback.endswith(".mp3"), fallback
        assert not any(char in "/\\" for char in fallback), fallback
        assert "x-injected" not in download.headers
