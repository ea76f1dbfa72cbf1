"""`make bench` imports every part before it runs any: one part's broken import costs the whole table."""

import bench.__main__ as bench_main


def test_every_part_imports_and_can_run():
    assert bench_main.PARTS
    assert all(callable(getattr(part, "run", None)) for part in bench_main.PARTS)
    names = [part.__name__ for part in bench_main.PARTS]
    assert len(names) == len(set(names))
