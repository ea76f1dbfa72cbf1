"""What the companion page's tests share (tests/companion/app): its fixed port and clock, and
the headers its own script sends with a change."""

from __future__ import annotations

PORT = 8765
NOW = 1_796_300_000.0          # Thu 3 Dec 2026, 12:13 UTC; the page's clock is injected


def changing(keys) -> dict:
    return {"Origin": f"http://127.0.0.1:{PORT}", "X-CSRF-Token": keys.csrf}


def wait_until(condition, *, guard: float = 60.0, what: str = "the condition"):
    """Wait for `condition()` to be true (a worker thread makes it so), with a generous guard for
    a busy machine; returns its value."""
    import time

    deadline = time.monotonic() + guard
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)
    return value


class SimulatedDevice:
    """The device's side of the cable on one end of a pty pair: the real `SyncServer` serving a
    session log, with an `OwnerDesk` whose question the person answers. `answer` is "accept",
    "refuse", or "ask": the question waits in `questions` for the test to answer, as a person
    pressing the button after reading the screen."""

    def __init__(self, folder, *, answer: str = "accept") -> None:
        import queue

        from device.log.sessionlog import SessionLog
        from device.settings.config import Config
        from device.settings.ownerstore import OwnerStore
        from device.settings.routines import load_library
        from device.sync.ownerdesk import OwnerDesk
        from device.sync.server import SyncServer
        from tests.support.sync_testing import PtyLink

        self.answer = answer
        self.questions: queue.Queue = queue.Queue()
        self.prompts: list[str] = []
        self.link = PtyLink()
        self.port = self.link.host_port
        self.store = OwnerStore(folder / "owner")
        desk = OwnerDesk(self.store, base=Config(), others=list(load_library(None).routines), ask=self._ask)
        self.log = SessionLog.open(folder / "device" / "sessions.db", clock_synced=lambda: True)
        self.server = SyncServer(self.link.device_port, self.log, owner=desk, reopen_delay=0.05).start()
        assert self.server.serving.wait(10)

    def _ask(self, question) -> None:
        self.prompts.append(question.prompt)
        if self.answer == "ask":
            self.questions.put(question)
        else:
            getattr(question, self.answer)()

    def close(self) -> None:
        self.server.close()
        self.log.close()
        self.link.close()
