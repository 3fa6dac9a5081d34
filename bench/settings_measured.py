"""Production settings with each response's query count in a header (benchmarks only)."""

from jweboffice.settings import *  # noqa: F403
from jweboffice.settings import MIDDLEWARE

MIDDLEWARE = ["bench.querycount.QueryCountMiddleware", *MIDDLEWARE]
