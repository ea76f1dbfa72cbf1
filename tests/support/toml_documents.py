"""TOML documents for the fuzzers: hypothesis strategies, a small writer, and the properties.

`documents()` draws a document as data (root keys, tables, arrays of tables, each key with a
value) and writes it with every shape TOML allows: bare, quoted and dotted keys, the four
kinds of strings (multi-line basic ones with escaped and unescaped quotes, line-ending
backslashes), arrays over several lines with comments, inline tables, CRLF. The writer
knows the line of every key and header it writes, so the scanner's answer can be checked.
Names are drawn mostly from the routine and config schemas, so the validators are reached.

`tests/device/settings/test_tomlsource.py` runs the properties with a short budget; `bench/toml_fuzz.py`
runs them for a minute.
"""

from __future__ import annotations

import textwrap
import re
import tempfile
import tomllib
from pathlib import Path

from hypothesis import strategies as st

from device.settings.config import load_config
from device.base.errors import ConfigError, RoutineError
from device.settings.routines import load_routine
from device.settings.linemap import LineMap, Scanner
from device.settings.tomlsource import TomlReadError, parse_toml

SCHEMA_NAMES = ["title", "description", "zones", "id", "cue", "seconds", "tempo", "intensity", "sides",
                "enabled", "button", "motor", "display", "timeouts", "session", "sync", "pin",
                "bounce_ms", "hold_seconds", "frequency", "kick_ms", "min_duty", "max_duty", "haptics",
                "bus", "address", "rotation", "dim_after", "off_after", "routine", "port"]
BARE = re.compile(r"[A-Za-z0-9_-]+")

# Pieces that matter to a scanner (runs of quotes, a line that looks like a key or a header),
# plus characters that only look like line ends.
TRICKY = ['"', '""', '"""', '""""', "'", "''", "'''", "\\", '\\"', "[", "]", "{", "}", "=", "#", ".", ",",
          "\n", "\r\n", "\t", " ", "\x0c", "\u2028", "\u00e9", "\U0001f600", "\x01", "\x7f",
          '\nkey = "v"\n', "\n[table]\n", "\n[[array]]\n", '\n"quoted', "\n'quoted"]
text_content = st.lists(st.sampled_from(TRICKY) | st.characters(codec="utf-8", exclude_categories=("Cs",)),
                        max_size=12).map("".join)
key_names = st.sampled_from(SCHEMA_NAMES) | st.text(st.sampled_from("ab_-9\"' .\\\u00e9\n#[]="), max_size=6)


# --- the writer -------------------------------------------------------------------------

def _escape(char: str) -> str:
    """A character as a basic string must write it: controls (but tab) and DEL escaped."""
    if char in '"\\':
        return "\\" + char
    if char != "\t" and (ord(char) < 0x20 or ord(char) == 0x7F):
        return f"\\u{ord(char):04X}"
    return char


def basic(text: str) -> str:
    return '"' + "".join(_escape(char) for char in text) + '"'


def literal_allowed(text: str) -> bool:
    return not any(char in "'\n\r\x7f" or (ord(char) < 0x20 and char != "\t") for char in text)


def multiline_basic(text: str, line_ending: str, *, fold: bool = False) -> str:
    """Quotes written raw where TOML allows (never three in a row), escaped where it does not,
    so the closing delimiter can follow an escaped quote: the case that once crashed the scanner."""
    out, quotes = [], 0
    for char in text:
        if char == '"':
            quotes += 1
            out.append('\\"' if quotes % 3 == 1 else '"')
            continue
        quotes = 0
        if char == "\n":
            out.append(line_ending)
        else:
            out.append(_escape(char))
    # A raw quote or two may sit right before the closing quotes (TOML allows it); `fold`
    # starts with a line-ending backslash, which swallows the line break and indent after it.
    fold_text = "\\" + line_ending + "   " if fold else ""
    return '"""' + line_ending + fold_text + "".join(out) + '"""'


def multiline_literal_allowed(text: str) -> bool:
    return "'''" not in text and not text.endswith("'") and all(
        char in "\t\n" or (ord(char) >= 0x20 and char != "\x7f") for char in text)


@st.composite
def strings(draw) -> tuple[str, str]:
    """(TOML text, value) of a string in one of the four kinds, chosen from those that can hold it."""
    text = draw(text_content)
    kinds = ["basic", "multiline", "multiline"]  # the hardest kind, drawn most often
    if literal_allowed(text):
        kinds.append("literal")
    if multiline_literal_allowed(text):
        kinds.append("multiline literal")
    kind = draw(st.sampled_from(kinds))
    if kind == "basic":
        return basic(text), text
    if kind == "literal":
        return f"'{text}'", text
    if kind == "multiline literal":
        return "'''\n" + text + "'''", text
    return multiline_basic(text, "\n", fold=draw(st.booleans())), text


def key(draw, name: str) -> str:
    if BARE.fullmatch(name) and draw(st.booleans()):
        return name
    if literal_allowed(name) and draw(st.booleans()):
        return f"'{name}'"
    return basic(name)


scalars = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.integers(0, 2**64).map(hex),
    st.integers(-(10**6), 10**6).map(lambda number: f"{number:_}"),
    st.floats().map(repr),  # Python's repr of a float, inf and nan included, is TOML
    st.booleans().map(lambda flag: "true" if flag else "false"),
    st.sampled_from(["1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", "1979-05-27 07:32:00.999+01:00"]),
    *[strings().map(lambda pair: pair[0])] * 4,  # strings are where a scanner goes wrong
)


@st.composite
def values(draw, depth: int = 0) -> str:
    """The TOML text of a value; arrays may span lines, with comments between items."""
    if depth >= 3 or draw(st.integers(0, 3)):
        return draw(scalars)
    if draw(st.booleans()):
        items = draw(st.lists(values(depth + 1), max_size=4))
        gaps = [draw(st.sampled_from([", ", ",\n  ", ",  # ] } \"\"\" comment\n  "])) for _ in items[1:]]
        body = items[0] + "".join(gap + item for gap, item in zip(gaps, items[1:])) if items else ""
        before = draw(st.sampled_from(["", "\n  ", "  # [[x]]\n"]))
        after = draw(st.sampled_from(["", "\n"] + ([",", ",\n", ",  # ]\n"] if items else [])))
        return "[" + before + body + after + "]"
    names = draw(st.lists(key_names, max_size=3, unique=True))
    pairs = [f"{key(draw, name)} = {draw(values(depth + 1))}" for name in names]
    return "{" + ", ".join(pairs) + "}" if pairs else "{}"


class Writer:
    """Writes lines and remembers the line of every key path it places."""

    def __init__(self, draw, line_ending: str) -> None:
        self.draw = draw
        self.line_ending = line_ending
        self.parts: list[str] = []
        self.line = 1
        self.expected: dict[tuple, int] = {}

    def write(self, text: str) -> None:
        self.parts.append(text + self.line_ending)
        self.line += (text + "\n").count("\n")

    def place(self, path: tuple) -> None:
        self.expected.setdefault(path, self.line)

    def filler(self) -> None:
        """Blank lines and comments that mention keys, headers and quotes."""
        for _ in range(self.draw(st.integers(0, 2))):
            self.write(self.draw(st.sampled_from(["", "# [x] y = 1 \"\"\" '''", "   ", "\t# zones"])))

    def pairs(self, table: tuple, entries: dict) -> None:
        for name, (sub_name, value) in entries.items():
            self.filler()
            spacing = self.draw(st.sampled_from([" = ", "=", "\t=  "]))
            written = key(self.draw, name)
            self.place(table + (name,))
            if sub_name is not None:
                written += self.draw(st.sampled_from([".", " . "])) + key(self.draw, sub_name)
                self.place(table + (name, sub_name))
            comment = self.draw(st.sampled_from(["", "  # trailing = \"x\" [y]"]))
            value_text = value.replace("\n", self.line_ending)
            self.write(f"{written}{spacing}{value_text}{comment}")

    def header(self, names: tuple[str, ...], path: tuple, *, array: bool) -> None:
        self.filler()
        inner = self.draw(st.sampled_from([".", " . "])).join(key(self.draw, name) for name in names)
        pad = self.draw(st.sampled_from(["", " "]))
        open_, close = ("[[", "]]") if array else ("[", "]")
        for end in range(1, len(path) + 1):
            self.place(path[:end])
        self.write(f"{open_}{pad}{inner}{pad}{close}" + self.draw(st.sampled_from(["", " # [not] a = 1"])))

    def text(self) -> str:
        return "".join(self.parts)


entries = st.dictionaries(key_names, st.tuples(st.none() | key_names, values()), max_size=4)
tables = st.tuples(entries, st.none() | st.tuples(key_names, entries))
top_level = st.dictionaries(key_names, st.one_of(
    st.tuples(st.just("value"), st.tuples(st.none() | key_names, values())),
    st.tuples(st.just("table"), tables),
    st.tuples(st.just("array"), st.lists(tables, min_size=1, max_size=3)),
), max_size=5)


@st.composite
def documents(draw) -> tuple[str, dict[tuple, int]]:
    """(text of a valid TOML document, the line of every key path the writer placed)."""
    writer = Writer(draw, draw(st.sampled_from(["\n", "\r\n"])))
    top = draw(top_level)
    writer.pairs((), {name: pair for name, (kind, pair) in top.items() if kind == "value"})
    for name, (kind, content) in top.items():
        if kind == "table":
            _table(writer, (name,), content, array=False)
        elif kind == "array":
            for index, table in enumerate(content):
                _table(writer, (name,), table, array=True, index=index)
    writer.filler()
    return writer.text(), writer.expected


def _table(writer: Writer, names: tuple, table, *, array: bool, index: int | None = None) -> None:
    own, sub = table
    path = names + ((index,) if array else ())
    writer.header(names, path, array=array)
    if sub is not None and sub[0] in own:
        sub = None  # a sub-table may not reuse a key of its table
    writer.pairs(path, own)
    if sub is not None:
        sub_name, sub_entries = sub
        writer.header(names + (sub_name,), path + (sub_name,), array=False)
        writer.pairs(path + (sub_name,), sub_entries)


# Bytes that break documents in the ways people and cards do.
BREAKERS = [b'"', b"'", b'"""', b"'''", b"[", b"]", b"[[", b"{", b"=", b"\\", b"\n", b"\r", b"\x00",
            b"\xff", b"\xc3", b"#", b".", b"9" * 5000, b"[" * 600, b"{a=" * 400, b"\xef\xbb\xbf"]


@st.composite
def broken_documents(draw) -> bytes:
    """A valid document with bytes deleted, inserted or cut off."""
    raw = bytearray(draw(documents())[0].encode())
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "cut"]))
        if action == "insert":
            raw[position:position] = draw(st.sampled_from(BREAKERS) | st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del raw[position:position + draw(st.integers(1, 8))]
        else:
            del raw[position:]
    return bytes(raw)


# --- the properties ---------------------------------------------------------------------

def check_valid_document(document: tuple[str, dict[tuple, int]]) -> None:
    """tomllib accepts it; the scanner, without its safety net, places every key on its line;
    the loaders raise nothing but the project's errors."""
    text, expected = document
    tomllib.loads(text)  # the writer only writes valid TOML
    lines = LineMap(Scanner(text).scan())
    misplaced = {path: (lines.line_of(path), line) for path, line in expected.items()
                 if lines.line_of(path) != line}
    assert not misplaced, f"(found, written) lines: {misplaced}"
    check_loaders(text.encode())


def check_broken_bytes(raw: bytes) -> None:
    """Whatever the bytes, reading gives a TOML source or a TomlReadError naming the file, and
    the loaders raise only the project's errors."""
    path = Path("broken.toml")
    try:
        parse_toml(raw, path)
    except TomlReadError as error:
        assert error.file == path and str(error).startswith("broken.toml"), error
    check_loaders(raw)


def check_loaders(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.toml"
        path.write_bytes(raw)
        for load, error_type in ((load_routine, RoutineError), (load_config, ConfigError)):
            try:
                load(path)
            except error_type as error:
                messages = str(error).splitlines()
                assert messages and all(message.startswith(f"{path}:") for message in messages), messages
                assert all(problem.file == path for problem in error.problems), error.problems
                assert len(messages) <= 21


# The person's own routine the tests push from the computer (one six-minute zone).
EVENING_CALM = textwrap.dedent("""\
    title = "Evening calm"

    [[zones]]
    id = "cheeks"
    title = "Cheeks"
    cue = "Slow circles"
    seconds = 360
    tempo = 30
    intensity = 3
    sides = 1
    """)
