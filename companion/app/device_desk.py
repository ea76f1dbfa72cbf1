"""The Device page's link to the device: what it is, and one job at a time over the cable.

A job (sync, a routine push, settings) runs on a worker thread; the page asks how it stands
(`job()`) while it runs, since a push waits for the person's press on the device. Everything
goes through the same client code as the commands (`companion.sync_client`,
`companion.owner_client`), so the page and `facepace sync` / `routines push` / `settings set`
behave alike.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from companion import owner_client as owner
from companion import sync_client as host
from companion.hostdb import HostDb
from companion.owner_commands import SAID
from device.base import timefmt
from device.base.errors import FacepaceError
from device.base.output_safety import for_terminal
from device.settings.owner import PutRoutine, SetSettings, check_routine
from device.settings.settable import BY_NAME, SETTABLE

TIMEOUT = 5.0


@dataclass(frozen=True)
class Job:
    id: int
    kind: str                  # sync, push, settings
    state: str = "running"     # running, done, failed
    message: str = ""
    done: int = 0
    total: int = 0

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "state": self.state, "message": self.message,
                "done": self.done, "total": self.total}


class Busy(FacepaceError):
    """Another job is still talking to the device."""


@dataclass
class DeviceDesk:
    db_path: Path | None = None
    port: str | None = None               # None: find the device by its USB name
    timeout: float = TIMEOUT
    poll: float = owner.POLL
    after_sync: Callable[[], object] | None = None   # run on the job's thread before it says done
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _job: Job | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # --- reading ------------------------------------------------------------------------

    @contextmanager
    def _device(self) -> Iterator[owner.Device]:
        port = host.open_device(self.port or host.find_port(), timeout=self.timeout)
        try:
            device = owner.connect(host.Link(port, timeout=self.timeout))
            yield device
            owner.bye(device)
        finally:
            port.close()

    def status(self) -> dict:
        """The device as it answers now: id, firmware, protocol, settings with their ranges."""
        if not self._lock.acquire(blocking=False):
            return {"connected": None, "message": "the device is busy with a job"}
        try:
            with self._device() as device:
                welcome = device.welcome
                view = owner.read_owner(device) if device.changeable else None
        except FacepaceError as error:
            return {"connected": False, "message": str(error)}
        finally:
            self._lock.release()
        return {"connected": True, "device_id": welcome.device_id, "firmware": welcome.firmware,
                "protocol": welcome.protocol, "changeable": view is not None,
                "settings": settings_rows(view.settings, view.overridden) if view else [],
                "routines": [{"name": r.name, "title": r.title, "length": timefmt.duration(r.seconds),
                              "origin": r.origin, "offered": r.name in view.order} for r in view.routines]
                if view else [],
                "message": "" if view else f"firmware {welcome.firmware} syncs, but changing its"
                                           " settings and routines needs a firmware update"}

    def pull_routine(self, name: str) -> str:
        """A routine the device has, as its TOML text (`routines pull`)."""
        if not self._lock.acquire(blocking=False):
            raise Busy("the device is busy with another job: wait for it to finish")
        try:
            with self._device() as device:
                data = owner.read_routine(device, name)
        finally:
            self._lock.release()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise FacepaceError(f"the device sent routine '{name}' as something that is not text") from None

    # --- jobs ---------------------------------------------------------------------------

    def job(self) -> Job | None:
        return self._job

    def _start(self, kind: str, work: Callable[[Callable[..., None]], str]) -> Job:
        if not self._lock.acquire(blocking=False):
            raise Busy("the device is busy with another job: wait for it to finish")
        job = self._job = Job(next(self._ids), kind, message="connecting to the device...")

        def note(**changes: Any) -> None:
            if self._job is not None and self._job.id == job.id:
                self._job = replace(self._job, **changes)

        def run() -> None:
            try:
                final = {"state": "done", "message": work(note)}
            except FacepaceError as error:
                final = {"state": "failed", "message": str(error)}
            except Exception as error:   # a bug must not leave the page waiting for ever
                final = {"state": "failed", "message": f"unexpected error: {type(error).__name__}: {error}"}
            finally:
                self._lock.release()
            note(**final)    # only now: the page's next request must find the device free

        threading.Thread(target=run, name=f"facepace-app-{kind}", daemon=True).start()
        return job

    def sync(self) -> Job:
        def work(note) -> str:
            with HostDb.open(self.db_path) as db:
                port = host.open_device(self.port or host.find_port(), timeout=self.timeout)
                try:
                    note(message="syncing...")
                    result = host.sync(port, db, timeout=self.timeout,
                                       progress=lambda done, total: note(done=done, total=total))
                finally:
                    port.close()
            if self.after_sync is not None:
                note(message="synced; reading the history...")
                self.after_sync()
            return for_terminal(result.summary())
        return self._start("sync", work)

    def push_routine(self, name: str, data: bytes) -> Job:
        check_routine(name, data)     # the device's own limits, before anything is sent
        return self._start("push", lambda note: self._propose(note, PutRoutine(name, data),
                                                              f"Routine '{name}' is on the device."))

    def set_settings(self, values: dict[str, Any]) -> Job:
        return self._start("settings", lambda note: self._propose(
            note, SetSettings(tuple(values.items())), "Settings changed on the device."))

    def _propose(self, note, change, success: str) -> str:
        with self._device() as device:
            final = owner.propose(device, change, poll=self.poll,
                                  on_state=lambda state: note(message=SAID.get(state.state, "sent...")))
        if final.state == "accepted":
            return success
        if final.state == "unchanged":
            return "The device had this already: nothing changed."
        if final.state == "rejected":
            raise FacepaceError("the device rejected it: " + "; ".join(map(for_terminal, final.problems)))
        if final.state == "refused":
            raise FacepaceError("refused on the device: nothing changed")
        raise FacepaceError(f"{for_terminal(final.message) or final.state.replace('_', ' ')}: nothing changed")


def settings_rows(values: dict[str, Any], overridden: tuple[str, ...]) -> list[dict]:
    """Each setting the computer may change, for the form: value, kind and allowed range."""
    rows = []
    for setting in SETTABLE:
        if setting.name not in values:
            continue
        rule = setting.rule
        kind = ("list" if setting.name == "routine_order" else "text" if rule is None else
                "bool" if rule.kind is bool else "choice" if rule.choices else rule.kind.__name__)
        rows.append({"name": setting.name, "help": setting.help, "allowed": setting.allowed, "kind": kind,
                     "value": values[setting.name], "set_here": setting.name in overridden,
                     "low": rule.low if rule is not None else None, "high": rule.high if rule is not None else None,
                     "choices": list(rule.choices) if rule is not None else []})
    return rows


def setting_value(name: str, written: Any) -> Any:
    """A value from the form, as the device takes it; `FacepaceError` names what is allowed."""
    setting = BY_NAME.get(name)
    if setting is None:
        raise FacepaceError(f"{name} is not a setting the device takes from the computer")
    if written is None or written == "default":
        return None
    value = written
    rule = setting.rule
    try:
        if name == "routine_order" and isinstance(written, str):
            value = [part.strip() for part in written.split(",") if part.strip()]
        elif rule is not None and rule.kind in (int, float) and isinstance(written, str):
            value = rule.kind(written)
        elif rule is not None and rule.kind is int and isinstance(written, float) and written.is_integer():
            value = int(written)
    except ValueError:
        pass      # the rule's message below says what is allowed
    problem = setting.problem(value)
    if problem:
        raise FacepaceError(f"{name} {problem}")
    return value
