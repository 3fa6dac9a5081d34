"""Property tests: bad input at scale (issue 7, item 3). The strategies and bounds they share."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Hypothesis keeps caches in ./.hypothesis unless told otherwise: keep the project folder clean.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "jweboffice-hypothesis"))

import hypothesis  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Characters that bend text handling: NUL and other controls (\x1c is whitespace to Python),
# bidi marks and overrides, zero-width space and BOM, ideographic and no-break spaces,
# full-width, mathematical, circled and superscript digits (NFKC folds them to ASCII),
# Arabic-Indic and Devanagari digits (NFKC keeps them; str.isdigit() is True for them),
# a combining accent (NFKC composes it, shortening the text) and U+FDFA (NFKC makes 18 characters).
AWKWARD = (
    "\x00\x01\x08\x1b\x7f\x85\t\n\r\x0b\x1c "
    "\u200e\u200f\u202a\u202e\u2066\u2069\u200b\ufeff\u3000\u00a0"
    "０１９𝟏𝟘①¹٣०ﷺe\u0301|=%&+;'\"<>\\"
)

hostile_text = st.one_of(
    st.text(),  # any code point but surrogates
    st.text(alphabet=AWKWARD, max_size=40),
    # Up to 10,000 characters, built cheaply: a short chunk repeated.
    st.builds(lambda chunk, times: chunk * times, st.text(min_size=1, max_size=8), st.integers(1, 10_000 // 8)),
)


def bounded(max_examples: int) -> hypothesis.settings:
    """A bounded run: no deadline (a request takes what it takes), no example database in the project."""
    return hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
