"""Every default of the client, in one place.

Durations are in seconds. The code-generation limits are the handbook's: at least 6 s
between two code events of one item, at most 10 code events per item in any 24 hours and
1096 in all, 1 to 1096 days per days code, and (from public schema descriptions) 5 free
and 5 reset codes per item. The sandbox keeps defaults of its own
(``omnivoltaic_erm.sandbox.defaults``, read in part from the schema's descriptions), and
the tests compare the two wherever both name the same source, so that a wrong default on
either side shows.
"""

from __future__ import annotations

# Transport.
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_CONNECTION_LIMIT = 32
USER_AGENT = "omnivoltaic-erm"

# Retries.
DEFAULT_MAX_RETRIES = 4
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
RETRY_JITTER = 0.25
# A server's wait hint (Retry-After, retryAfter) is honoured up to this; a longer or
# infinite one ends the call with the RateLimitError that carries it.
MAX_RETRY_AFTER = 60.0

# Exactly once: the longest a code request can spend on its way (in a proxy, a gateway's
# queue) before the server executes it. A request whose outcome is unknown is sent again
# only once it has been out this long, or where the item's fleet enforces a longer
# interval between codes. An assumption about the network, so a setting
# (ClientConfig.max_hold).
MAX_HOLD = 60.0

# Tokens: renewed this long before they expire.
TOKEN_REFRESH_MARGIN = 300.0

# Code-generation limits, per item. The handbook ("Global variables in Code Generation"):
# at least 6 s between two code events.
CODE_INTERVAL = 6.0
# Added to every client-side interval wait. The client measures an item's interval from
# the moment it received the previous code, which is already after the server recorded
# it; the margin only covers the millisecond rounding of timestamps read from history.
INTERVAL_MARGIN = 0.005
# The handbook: not more than 10 codes a day; the schema's dayCodeCountLimit: "within 24
# hours".
DAILY_CODE_LIMIT = 10
DAILY_WINDOW = 86400.0
# The handbook ("cannot go beyond 1096") and the schema's totalCodeCountLimit ("1096
# events").
TOTAL_CODE_LIMIT = 1096
MIN_CODE_DAYS = 1
# The handbook: "cannot go beyond 1096 days".
MAX_CODE_DAYS = 1096
# The schema's freeCodeCount and resetCodeCount descriptions.
FREE_CODE_LIMIT = 5
RESET_CODE_LIMIT = 5
# Credit stacking (the schema's maxCreditStackCodeEvents description: 5 code events); off
# unless an item's fleet turns it on.
CREDIT_STACK_EVENTS = 5

# The batch journal: how long a write waits for another program (a backup, an sqlite3
# shell) that holds the journal's SQLite write lock, before the write fails.
JOURNAL_BUSY_TIMEOUT = 10.0

# Client concurrency and pagination.
MAX_CONCURRENCY = 16
PAGE_SIZE = 100

# Environment variables read when an argument is not given.
ENV_URL = "ERM_URL"
ENV_EMAIL = "ERM_EMAIL"
ENV_PASSWORD = "ERM_PASSWORD"
ENV_PROXY = "ERM_PROXY"
# Items a client remembers before it forgets the least recently used (``_items``).
MAX_ITEMS = 10_000
# Recording answers for contract checks (see ``_recording``): a directory, and the
# probability that one operation is recorded.
ENV_RECORD = "ERM_RECORD"
ENV_RECORD_SAMPLE = "ERM_RECORD_SAMPLE"

# ErmClient (the synchronous face): how long an interrupted call waits for its cancelled
# work to stop, and how long close() waits for the connection pool to close.
SYNC_CANCEL_GRACE = 10.0
SYNC_CLOSE_TIMEOUT = 5.0
