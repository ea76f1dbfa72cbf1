"""Files on the card are hostile: whatever they hold, reading them gives the project's error
with file and line, never a crash, and a valid file's keys are placed on their lines."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings

from device.settings.config import load_config
from device.base.errors import ConfigError, RoutineError
from device.settings.routines import builtin_paths, load_library, load_routine
from device.settings.linemap import LineMap
from device.settings.tomlsource import MAX_FILE_BYTES, MAX_MESSAGES, TomlReadError, parse_toml, read_toml
from tests.support.toml_documents import broken_documents, check_broken_bytes, check_valid_document, documents

SHORT = settings(derandomize=True, deadline=None, max_examples=60, database=None)


@SHORT
@given(documents())
def test_valid_documents_place_every_key_and_load_without_crashing(document):
    check_valid_document(document)


@SHORT
@given(broken_documents())
def test_broken_documents_give_only_the_projects_errors(raw):
    check_broken_bytes(raw)


# The file: tomllib reads it, the scanner once took the escaped quote for the end.
ESCAPED_QUOTE = 'title = """a\\"""\n"bad\n"""\n[[zones]]\nid = "x"\n'


def test_an_escaped_quote_before_closing_quotes_is_not_the_end_of_the_string(tmp_path):
    lines = LineMap.scan(ESCAPED_QUOTE)
    assert (lines.line_of(("title",)), lines.line_of(("zones", 0, "id"))) == (1, 5)
    path = tmp_path / "mine.toml"
    path.write_text(ESCAPED_QUOTE)
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    assert f"{path}:4: zone 'x': title is missing" in map(str, caught.value.problems)


@pytest.mark.parametrize(("text", "line"), [
    ('a = """x\\\\"""\nb = 1\n', 2),          # an escaped backslash, then the closing quotes
    ('a = """x""""\nb = 1\n', 2),              # a quote of the content right before them
    ("a = '''x'''''\nb = 1\n", 2),
    ('a = """\\\n  x"""\nb = 1\n', 3),         # a line-ending backslash
    ('a = [\n  """\n]""",\n]\nb = 1\n', 5),    # a bracket inside a multi-line string in an array
    ('a = {x = "}", y = [1,\n 2]}\nb = 1\n', 3),
])
def test_strings_and_brackets_that_span_lines(text, line):
    parse_toml(text.encode(), Path("t.toml"))  # valid TOML
    assert LineMap.scan(text).line_of(("b",)) == line


@pytest.mark.parametrize(("content", "wanted"), [
    ("x = " + "[" * 500 + "]" * 500, r"^{path}:2: invalid TOML: arrays or inline tables nested too deeply$"),
    ("x = " + "{a=" * 500 + "1" + "}" * 500, r"^{path}:2: invalid TOML: arrays or inline tables nested too deeply$"),
    ("x = " + "9" * 5000, r"^{path}:2: invalid TOML: a number too long to read \(at most 4300 digits\)$"),
    ("x = 1\n" * 2_000_000, r"^{path}: too large: a routine or config file is at most 64 KiB$"),
])
def test_what_tomllib_cannot_take_is_a_file_error_with_its_line(tmp_path, content, wanted):
    path = tmp_path / "hostile.toml"
    path.write_text("# first line\n" + content + "\n")
    started = time.process_time()
    with pytest.raises(TomlReadError, match=wanted.format(path=path)):
        read_toml(path)
    with pytest.raises(ConfigError, match=wanted.format(path=path)):
        load_config(path)
    with pytest.raises(RoutineError, match=wanted.format(path=path)):
        load_routine(path)
    assert time.process_time() - started < 2.0   # CPU time, not wall time: a 10 MB file once took 6-34 s


def test_a_file_just_under_the_limit_is_read(tmp_path):
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES - 1) + b"\n")
    assert read_toml(path).data == {}


def test_a_folder_or_a_fifo_named_like_a_file_is_refused_without_waiting(tmp_path):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)   # opening it for reading would wait for a writer forever
    with pytest.raises(TomlReadError, match=rf"^{folder}: cannot read: Is a directory$"):
        read_toml(folder)
    with pytest.raises(TomlReadError, match=rf"^{fifo}: not a regular file$"):
        read_toml(fifo)


def test_many_problems_show_the_first_twenty_and_a_count(tmp_path):
    path = tmp_path / "many.toml"
    path.write_text('title = "Many"\n' + "".join(f'[[zones]]\nid = "z{n}"\n' for n in range(30)))
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    problems = [str(problem) for problem in caught.value.problems]
    assert len(problems) == MAX_MESSAGES + 1
    assert problems[0] == f"{path}:2: zone 'z0': title is missing"
    assert problems[-1] == f"{path}: and {30 * 6 - MAX_MESSAGES} more problems"


@pytest.mark.parametrize(("value", "shown"), [
    ("1" + "0" * 60, "got a number of more than 40 digits"),
    ("0x" + "F" * 5000, "got a number of more than 40 digits"),
    ('"' + "x" * 1000 + '"', 'got "' + "x" * 40 + '..." (1000 characters)'),
])
def test_huge_values_are_named_not_printed(tmp_path, value, shown):
    path = tmp_path / "config.toml"
    path.write_text(f"[motor]\nmin_duty = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:2: [motor] min_duty must be " + (
        "a number, " if value.startswith('"') else "0.0..1.0, ") + shown


HOSTILE_FILES = {
    "escaped-quote.toml": ESCAPED_QUOTE.encode(),
    "deep.toml": b"x = " + b"[" * 500 + b"]" * 500 + b"\n",
    "digits.toml": b"x = " + b"9" * 5000 + b"\n",
    "huge.toml": b"x = 1\n" * 2_000_000,
    "latin1.toml": b'title = "Caf\xe9"\n',
}


def test_hostile_user_routines_are_skipped_and_the_built_ins_stay(tmp_path):
    for name, content in HOSTILE_FILES.items():
        (tmp_path / name).write_bytes(content)
    library = load_library(tmp_path)
    assert library.names() == [path.stem for path in builtin_paths()]
    assert sorted(error.file.name for error in library.errors) == sorted(HOSTILE_FILES)


@pytest.mark.parametrize("name", ["escaped-quote.toml", "deep.toml"])   # the others: ConfigError above
def test_a_hostile_config_stops_the_start_with_exit_78(tmp_path, name):
    config = tmp_path / name
    config.write_bytes(HOSTILE_FILES[name])
    result = subprocess.run([sys.executable, "-m", "device", "--config", str(config), "sim", "--headless",
                             "--speed", "max"], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).parents[3], env=dict(os.environ, FACEPACE_STATE_DIR=str(tmp_path)))
    assert result.returncode == 78, result.stderr
    assert result.stderr.startswith(f"{config}:") and "Traceback" not in result.stderr
