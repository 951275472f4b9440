"""Base classes of the generated ERM clients.

The generator copies this file into the generated package. The transport and its
request pipeline are hand-written and live in ``omnivoltaic_erm._transport``, so that the
copy stays a shim and no behaviour is ever edited inside ``generated/``.
"""

from omnivoltaic_erm._transport import GraphQLTransport, SyncTransport


class ErmBaseClient(GraphQLTransport):
    """The generated ``Client`` inherits the aiohttp transport and pipeline from here."""


class SyncErmBaseClient(SyncTransport):
    """The generated ``SyncClient`` runs each ``Client`` operation through this."""
