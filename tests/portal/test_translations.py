"""The Japanese catalogue is complete, and the compiled .mo matches the .po it was built from."""

from __future__ import annotations

import gettext
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

CATALOGUE_DIR = Path(settings.LOCALE_PATHS[0]) / "ja" / "LC_MESSAGES"
PO_PATH = CATALOGUE_DIR / "django.po"
MO_PATH = CATALOGUE_DIR / "django.mo"

# The escapes msgfmt understands in a PO string.
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(.)")
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')
# printf-style (%(name)s, %s, %d …) and brace-style ({name}, {0}) placeholders.
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[sdifreExXgGoc%]|\{[^{}]*\}")


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)

    @property
    def is_header(self) -> bool:
        return self.msgid == "" and self.msgctxt is None


def _unquote(literal: str) -> str:
    """Return the text of one quoted PO string, escapes resolved."""
    assert literal.startswith('"') and literal.endswith('"') and len(literal) >= 2, literal

    def replace(match: re.Match[str]) -> str:
        assert match.group(1) in _ESCAPES, f"unknown escape \\{match.group(1)} in {literal}"
        return _ESCAPES[match.group(1)]

    return _ESCAPE.sub(replace, literal[1:-1])


def parse_po(path: Path) -> list[Entry]:
    """Parse a PO file into its entries (header first); obsolete (#~) entries are left out."""
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int] | None = None  # the keyword a continuation line appends to
    pending_flags: set[str] = set()

    def finish() -> None:
        nonlocal entry, target
        if entry is not None:
            assert entry.msgstr, f"{path}:{entry.line}: entry without msgstr"
            entries.append(entry)
        entry, target = None, None

    def start(number: int) -> Entry:
        nonlocal pending_flags
        finish()
        new, pending_flags = Entry(line=number, flags=pending_flags), set()
        return new

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            if entry is not None and entry.msgstr:
                finish()
            continue
        if line.startswith("#"):
            # Comments come before their entry, so one ends the entry before it even without a
            # blank line between them; flags ("#, fuzzy, python-format") belong to the next entry.
            if entry is not None and entry.msgstr:
                finish()
            if line.startswith("#,"):
                pending_flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith('"'):
            assert entry is not None and target is not None, f"{path}:{number}: string outside an entry"
            keyword, index = target
            if keyword == "msgstr":
                entry.msgstr[index] += _unquote(line)
            else:
                setattr(entry, keyword, getattr(entry, keyword) + _unquote(line))
            continue
        match = _KEYWORD.match(line)
        assert match, f"{path}:{number}: cannot parse {raw!r}"
        keyword, index, text = match.group(1), match.group(2), _unquote(match.group(3))
        if keyword == "msgctxt" or (keyword == "msgid" and (entry is None or entry.msgstr)):
            entry = start(number)
        assert entry is not None, f"{path}:{number}: {keyword} before msgid"
        if keyword.startswith("msgstr"):
            slot = int(index) if index is not None else 0
            entry.msgstr[slot] = text
            target = ("msgstr", slot)
        else:
            setattr(entry, keyword, text)
            target = (keyword, 0)
    finish()
    return entries


def _messages() -> list[Entry]:
    return [entry for entry in parse_po(PO_PATH) if not entry.is_header]


def _label(entry: Entry) -> str:
    context = f"[{entry.msgctxt}] " if entry.msgctxt is not None else ""
    return f"{PO_PATH.name}:{entry.line}: {context}{entry.msgid!r}"


def test_parser_reads_multi_line_and_plural_entries(tmp_path):
    po = tmp_path / "sample.po"
    po.write_text(
        # makemessages may leave no blank line after the header.
        '#, fuzzy\nmsgid ""\nmsgstr ""\n"Language: ja\\n"\n'
        '#: a.py:1\n#, python-format\nmsgid ""\n"Hello "\n"%(name)s \\"x\\""\nmsgstr "こんにちは %(name)s"\n\n'
        'msgctxt "menu"\nmsgid "File"\nmsgid_plural "Files"\nmsgstr[0] "ファイル"\n"s"\n\n'
        '#~ msgid "Old"\n#~ msgstr "古い"\n',
        encoding="utf-8",
    )
    header, hello, files = parse_po(po)
    assert header.is_header and header.flags == {"fuzzy"} and header.msgstr == {0: "Language: ja\n"}
    assert hello.msgid == 'Hello %(name)s "x"' and hello.flags == {"python-format"}
    assert hello.msgstr == {0: "こんにちは %(name)s"}
    assert (files.msgctxt, files.msgid, files.msgid_plural) == ("menu", "File", "Files")
    assert files.msgstr == {0: "ファイルs"}


def test_header_declares_japanese_and_is_not_fuzzy():
    header = parse_po(PO_PATH)[0]
    assert header.is_header
    assert "fuzzy" not in header.flags
    fields = dict(line.split(": ", 1) for line in header.msgstr[0].splitlines() if ": " in line)
    assert fields["Language"] == "ja"
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"
    assert fields["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"


def test_every_entry_is_translated():
    messages = _messages()
    assert messages, f"no messages in {PO_PATH}"
    untranslated = [
        _label(entry)
        for entry in messages
        if not entry.msgstr
        or any(not text.strip() for text in entry.msgstr.values())
        or (entry.msgid_plural is not None and sorted(entry.msgstr) != [0])  # nplurals=1
    ]
    assert not untranslated, "untranslated:\n" + "\n".join(untranslated)


def test_no_entry_is_fuzzy():
    fuzzy = [_label(entry) for entry in parse_po(PO_PATH) if "fuzzy" in entry.flags]
    assert not fuzzy, "fuzzy:\n" + "\n".join(fuzzy)


def test_translations_keep_the_placeholders():
    changed = []
    for entry in _messages():
        sources = [entry.msgid] if entry.msgid_plural is None else [entry.msgid, entry.msgid_plural]
        allowed = [sorted(_PLACEHOLDER.findall(source)) for source in sources]
        changed += [
            f"{_label(entry)} -> {text!r}"
            for text in entry.msgstr.values()
            if sorted(_PLACEHOLDER.findall(text)) not in allowed
        ]
    assert not changed, "placeholders differ:\n" + "\n".join(changed)


class _Missing(gettext.NullTranslations):
    """The fallback of the compiled catalogue: marks a lookup the .mo could not answer."""

    MARK = "\0missing\0"

    def gettext(self, message):
        return self.MARK

    def ngettext(self, msgid1, msgid2, n):
        return self.MARK

    def pgettext(self, context, message):
        return self.MARK

    def npgettext(self, context, msgid1, msgid2, n):
        return self.MARK


def _compiled() -> gettext.GNUTranslations:
    assert MO_PATH.exists(), f"{MO_PATH} is missing: run `manage.py compilemessages`"
    with MO_PATH.open("rb") as mo:
        translations = gettext.GNUTranslations(mo)
    translations.add_fallback(_Missing())
    return translations


def test_compiled_catalogue_matches_the_po():
    translations = _compiled()
    assert translations.info().get("language") == "ja"
    stale = []
    for entry in _messages():
        if entry.msgid_plural is None:
            if entry.msgctxt is None:
                got = translations.gettext(entry.msgid)
            else:
                got = translations.pgettext(entry.msgctxt, entry.msgid)
            if got != entry.msgstr[0]:
                stale.append(f"{_label(entry)}: .mo has {got!r}, .po has {entry.msgstr[0]!r}")
            continue
        for n in range(200):
            form = translations.plural(n)
            if entry.msgctxt is None:
                got = translations.ngettext(entry.msgid, entry.msgid_plural, n)
            else:
                got = translations.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, n)
            if got != entry.msgstr.get(form):
                stale.append(f"{_label(entry)} (n={n}): .mo has {got!r}, .po has {entry.msgstr.get(form)!r}")
                break
    assert not stale, "the .mo is out of date with the .po; run `manage.py compilemessages`:\n" + "\n".join(stale)


def test_compiled_catalogue_has_no_other_messages():
    # A .mo starts with its magic number and the count of the messages it holds (header included).
    data = MO_PATH.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic == 0x950412DE else ">"
    count = struct.unpack(f"{order}I", data[8:12])[0]
    assert count == len(_messages()) + 1, "the .mo holds messages the .po no longer has; run `compilemessages`"
