"""Base class of the generated ERM client.

The generator copies this file into the generated package. The transport itself is
hand-written and lives in ``omnivoltaic_erm._transport``, so that the copy stays a
two-line shim and no behaviour is ever edited inside ``generated/``.
"""

from omnivoltaic_erm._transport import GraphQLTransport


class ErmBaseClient(GraphQLTransport):
    """The generated ``Client`` inherits the aiohttp transport from here."""
