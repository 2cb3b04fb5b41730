"""Masks credentials in text bound for a log, keeping what an operator reads a line for: the method,
host, path shape and status of a request stay; query values, URL userinfo, bearer tokens, API keys
(``lk_…``), webhook secrets (``whsec_…``), Discord tokens and interaction tokens in webhook paths
become ``***``.

Shapes catch what no one registered (a client's webhook ``?token=…``, a presigned URL's
``X-Amz-Signature``); ``add_secret`` adds exact values the shapes may miss (the bot token in
``.env`` need not look like a Discord token).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

MASK = "***"
MIN_SECRET = 6  # shorter registered values would mask ordinary words

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#'\"<>]*@")
# A query attached to a URL's path or host (not ``what?`` in prose, nor SQL's ``(?, ?)``): each value masked.
_QUERY = re.compile(r"(?<=[\w/.~%-])\?(?P<query>[^\s#'\"<>]+)")
# Discord's interaction and webhook routes carry their token as the segment after the id.
_WEBHOOK_PATH = re.compile(r"(?P<head>/(?:webhooks|interactions)/[^/\s?#'\"<>]+/)[^/\s?#'\"<>]+")
_AUTHORIZATION = re.compile(
    r"(?P<head>authorization['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|bot|basic|token)\s+)?)[^\s'\",;}]+", re.I
)
_BEARER = re.compile(r"(?P<head>\bbearer\s+)[^\s'\",;}]+", re.I)
_API_KEY = re.compile(r"(?<![A-Za-z0-9])(?P<head>lk_)[A-Za-z0-9_-]+")
_WEBHOOK_SECRET = re.compile(r"(?<![A-Za-z0-9])(?P<head>whsec_)[A-Za-z0-9+/=_-]+")
# Discord's interaction tokens wherever they stand alone (a positional SQL parameter): "interaction:…".
_INTERACTION_TOKEN = re.compile(r"(?<![A-Za-z0-9])aW50ZXJhY3Rpb24[^\s'\",;&)}\]/?#]*")
# A Discord bot token (and any JWT alike): three base64url parts joined by dots.
_DOTTED_TOKEN = re.compile(r"(?<![\w-])[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}")
# ``token=…``, ``'token': '…'``, ``"webhook_secret": "…"`` in reprs and JSON (a gateway event's
# interaction token among them).
_NAMED = re.compile(
    r"(?P<head>['\"]?\b\w*(?:token|secret|password|passwd|api_key|apikey)['\"]?\s*[:=]\s*['\"]?)"
    r"[^\s'\",;&)}\]]+",
    re.I,
)
_HEADED = (_WEBHOOK_PATH, _AUTHORIZATION, _BEARER, _API_KEY, _WEBHOOK_SECRET, _NAMED)


def add_secret(value: str) -> None:
    """Mask this exact value (and its URL-encoded form) wherever it appears from now on."""
    value = value.strip()
    if len(value) < MIN_SECRET:
        return
    global _secrets
    with _lock:
        found = {*_secrets, value, quote(value, safe="")}
        _secrets = tuple(sorted(found, key=len, reverse=True))  # a longer one before its parts


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _QUERY.sub(_masked_query, text)
    for pattern in _HEADED:
        text = pattern.sub(lambda m: m["head"] + MASK, text)
    return _DOTTED_TOKEN.sub(MASK, _INTERACTION_TOKEN.sub(MASK, text))


def _masked_query(match: re.Match[str]) -> str:
    parts = (p.partition("=") for p in match["query"].split("&"))
    return "?" + "&".join(f"{name}={MASK}" if sep else (MASK if name else "") for name, sep, _ in parts)
