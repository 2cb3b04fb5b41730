"""The masker: no secret survives where log lines carry them, and the rest of the line does."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot import redact
from bot.redact import add_secret

# What a URL, a header or a token can carry unescaped (RFC 3986 unreserved); lk_ keys are base64url,
# whsec_ secrets base64.
URL_SAFE = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"), min_size=8
)
BASE64URL = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), min_size=8
)
BASE64 = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), min_size=8
)

# Where the bot's dependencies put secrets: httpx's request line, discord.py's DEBUG lines (REST and
# gateway), a client's presigned image URL, headers, reprs.
TEMPLATES = (
    'HTTP Request: POST https://hooks.example.com/in?token={s} "HTTP/1.1 204 No Content"',
    'HTTP Request: GET https://alice:{s}@files.example.com/a.png "HTTP/1.1 200 OK"',
    "HTTP Request: GET https://{s}@files.example.com/a.png",
    "GET https://b.s3.amazonaws.com/a.png?X-Amz-Credential=AKIA%2F1&X-Amz-Signature={s}&X-Amz-Expires=60",
    "fetching http://cdn.example/x.png?{s}",
    "POST https://discord.com/api/v10/interactions/1234/{s}/callback?with_response=1 with {{}} returned 200",
    "PATCH https://discord.com/api/v10/webhooks/99/{s}/messages/@original with None has returned 200",
    "POST https://discord.com/api/v10/webhooks/99/{s}?wait=1 has received {{}}",
    "For Shard ID None: WebSocket Event: {{'t': 'INTERACTION_CREATE', 'd': {{'id': '1', 'token': '{s}'}}}}",
    '{{"type": 2, "token": "{s}", "data": {{}}}}',
    "headers: {{'Authorization': 'Bearer {s}', 'Accept': '*/*'}}",
    "Authorization: Bot {s}",
    "401 for Bearer {s}",
    "Job(id=3, interaction_token='{s}', status=running)",
    "password={s}",
    "executing UPDATE jobs SET message_id = ? WHERE token = ?, (7, 'aW50ZXJhY3Rpb24{s}')",
)


@given(template=st.sampled_from(TEMPLATES), secret=URL_SAFE)
def test_no_secret_survives_where_logs_carry_them(template: str, secret: str) -> None:
    assume(secret not in template.format(s=""))  # a "secret" that is the line's own words proves nothing
    assert secret not in redact.redact(template.format(s=secret))


@given(secret=BASE64URL, before=st.sampled_from(["key ", "(", "'", "api_key=", "Bearer "]))
def test_no_api_key_survives(secret: str, before: str) -> None:
    assert secret not in redact.redact(f"{before}lk_{secret} used")


@given(secret=BASE64, before=st.sampled_from(["secret ", "(", "'", "signing with "]))
def test_no_webhook_secret_survives(secret: str, before: str) -> None:
    assert secret not in redact.redact(f"{before}whsec_{secret} ok")


@given(
    token=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=redact.MIN_SECRET),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_a_registered_secret_never_survives(token: str, before: str, after: str) -> None:
    """The bot token as .env has it, whatever its shape."""
    assume(token.strip() == token and "*" not in token)  # the mask itself cannot be the secret
    saved = redact._secrets
    try:
        add_secret(token)
        assert token not in redact.redact(before + token + after)
    finally:
        redact._secrets = saved


@given(
    parts=st.tuples(
        st.text(st.sampled_from("ABCDEFabcdef0123456789_-"), min_size=24, max_size=26),
        st.text(st.sampled_from("ABCDEFabcdef0123456789_-"), min_size=6, max_size=6),
        st.text(st.sampled_from("ABCDEFabcdef0123456789_-"), min_size=27, max_size=38),
    )
)
def test_a_discord_token_is_masked_by_its_shape(parts: tuple[str, str, str]) -> None:
    token = ".".join(parts)
    assert token not in redact.redact(f"logging in using static token {token}")


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            'HTTP Request: POST https://bob:pw@hooks.example.com/v1/in?token=abc123&x=1 "HTTP/1.1 503 Busy"',
            'HTTP Request: POST https://***@hooks.example.com/v1/in?token=***&x=*** "HTTP/1.1 503 Busy"',
        ),
        (
            "POST http://127.0.0.1:5/api/v10/interactions/42/aW50ZXJhY3Rpb24xyz/callback?with_response=1 "
            "with None has returned 200",
            "POST http://127.0.0.1:5/api/v10/interactions/42/***/callback?with_response=*** "
            "with None has returned 200",
        ),
        ("Authorization: Bearer lk_abcdefghij", "Authorization: Bearer ***"),
        (
            "job 3 token_expires_at=5 max_tokens=3 bulk_insert what? SELECT id WHERE a IN (?, ?) AND b = ?",
            "job 3 token_expires_at=5 max_tokens=3 bulk_insert what? SELECT id WHERE a IN (?, ?) AND b = ?",
        ),
    ],
    ids=["httpx", "discord.py", "header", "no secret"],
)
def test_the_useful_part_of_a_line_stays(line: str, kept: str) -> None:
    assert redact.redact(line) == kept
