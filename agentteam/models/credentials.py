"""Credentials that hide outside ``api_key``: in an endpoint URL or behind a ``${VAR}``.

``http://user:${KEY}@host/v1`` and ``https://host/v1?api-key=...`` carry keys in the
URL, and ``extra_headers: {Authorization: "Bearer ${TOKEN}"}`` in a header. Each is
registered with ``errors.register_secret`` (so every output redacts it), and
endpoints are shown with their credentials masked.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import register_secret
from ..team import VAR_RE

# Query parameters and variable names that carry credentials.
_SECRET_NAME = re.compile(r"key|token|secret|pass|pwd|sig|auth|cred|session", re.I)


def _split(url: str):
    try:
        return urlsplit(url)
    except ValueError:       # e.g. a bad IPv6 literal: nothing to find, shown as it is
        return None


def _secret_query(query: str) -> list[tuple[str, str]]:
    """(name, raw value) of each query parameter that looks like a credential."""
    pairs = (p.partition("=") for p in query.split("&") if p)
    return [(name, value) for name, _, value in pairs if value and _SECRET_NAME.search(name)]


def url_secrets(url: str) -> list[str]:
    """The credentials in a URL: the userinfo's password (or a lone token as user
    name) and the values of query parameters named like keys, raw and decoded."""
    parts = _split(url)
    if parts is None:
        return []
    raw: list[str] = []
    if "@" in parts.netloc:
        user, _, password = parts.netloc.rpartition("@")[0].partition(":")
        raw.append(password or user)
    raw += [value for _, value in _secret_query(parts.query)]
    return [v for r in raw for v in {r, unquote(r)}]


def mask_url(url: str) -> str:
    """``url`` for people: ``user:key@`` becomes ``***@`` and key-like query values ``***``."""
    parts = _split(url)
    if parts is None:
        return url
    netloc, query = parts.netloc, parts.query
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    secret = {name for name, _ in _secret_query(query)}
    if secret:
        query = "&".join(f"{p.partition('=')[0]}=***" if p.partition("=")[0] in secret else p
                         for p in query.split("&"))
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def register_params(params: dict) -> None:
    """Register the key and the URL credentials of a profile's parameters."""
    register_secret(params.get("api_key"))
    for key in ("api_base", "base_url"):
        if isinstance(params.get(key), str):
            for value in url_secrets(params[key]):
                register_secret(value)


def register_var_values(values, env) -> None:
    """Register the value of each credential-named ``${VAR}`` the values refer to
    (``${TOKEN}`` in a header, ``${KEY}`` inside a URL), wherever it is used."""
    if isinstance(values, dict):
        values = list(values.values())
    if isinstance(values, (list, tuple)):
        for v in values:
            register_var_values(v, env)
    elif isinstance(values, str):
        for var in VAR_RE.findall(values):
            if _SECRET_NAME.search(var):
                register_secret(env.get(var))
