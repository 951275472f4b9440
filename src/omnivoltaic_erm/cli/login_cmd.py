"""``erm login``: check the credentials and cache a token for later commands."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import click

from ._app import Settings, erm

if TYPE_CHECKING:
    from .._auth import TokenCache
    from ..client import AsyncErmClient


@erm.command("login")
@click.pass_obj
def login(settings: Settings) -> None:
    """Sign in, check that the token works, and cache it for later commands.

    The token is kept (mode 0600) under $XDG_CACHE_HOME/omnivoltaic-erm, or
    ~/.cache/omnivoltaic-erm, until it expires; later commands reuse it, and need no
    password while it is valid. The password itself is never stored. A login that fails
    leaves the token cached before it in place.
    """
    from datetime import UTC, datetime

    from .._auth import TokenCache
    from . import _output
    from ._run import login_staging, run_client

    async def sign_in(client: AsyncErmClient) -> tuple[str, str, TokenCache]:
        cache = TokenCache.for_account(client.url, client.email)
        staging = login_staging(cache)
        try:
            async with contextlib.aclosing(client.iter_items(page_size=1)) as items:
                async for _ in items:
                    break
            # The new token works: only now does it replace the cached one.
            if staging.exists():
                os.replace(staging, cache.path)
        finally:
            staging.unlink(missing_ok=True)
            staging.with_suffix(".lock").unlink(missing_ok=True)
        return client.url, client.email, cache

    url, email, cache = run_client(settings, sign_in, fresh_sign_in=True)
    token = cache.load()
    expiry = datetime.fromtimestamp(token.expires_at, UTC) if token else None
    if settings.as_json:
        _output.emit_json(
            {
                "url": url,
                "email": email,
                "token_expires_at": expiry.isoformat() if expiry else None,
                "token_cache": str(cache.path),
            }
        )
        return
    out = _output.stdout()
    out.print(f"Signed in to {url} as {email}.", soft_wrap=True)
    out.print(f"Token cached until {_output.when(expiry)} in {cache.path}", soft_wrap=True)
