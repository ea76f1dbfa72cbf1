"""The device's side of protocol version 3: the owner's requests, and the person's say.

    desk = OwnerDesk(OwnerStore(state / "owner"), base=config, others=library.routines,
                     ask=acceptance_screen.ask, in_session=app.in_session)
    server = SyncServer(port, log, owner=desk)

Nothing from the cable changes the device until the person accepts it. A STAGE is checked
(`owner.propose`, the rules of `routines check` and `config check`), then handed to `ask`
as a `Question`, which the acceptance screen answers: a press `accept()`s, a hold
`refuse()`s. Unanswered after `answer_within` seconds of idle it is withdrawn (`timed_out`);
during a session the question waits for the session to end and the computer is told `busy`.
An accepted change is written by the store (atomically, old or new after a power cut) and
`on_change` gets what the device now holds. One change at a time; the last one's answer is
kept, so a DECISION or a STAGE the computer re-sends gets the same answer again.

The sync server's thread calls `answer` for each request, `tick` on every turn of its loop
(so an accepted change is stored even if the computer has stopped asking), and `hang_up` when
the computer goes away (its unanswered question is withdrawn). The firmware's loop offers a
USB stick's routines (`offer`, `status`, which tick too), so every entry takes one lock.

On the device two processes hold a desk on the same store (the sync process's for the
computer, the firmware's for a USB stick), so the store is read again before a change is
checked and before it is saved, both under a lock file beside it (`fcntl.flock`): a change
is checked against what the device holds at that moment, and neither desk's save loses the
other's.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from device.settings.config import Config
from device.settings.owner import (ChangeRejected, Change, Owned, Proposal, check_routine, content_hash,
                                   propose, routines_in_order)
from device.settings.ownerstore import OwnerStore
from device.settings.routines import BUILTIN_DIR, Routine
from device.settings.settable import SETTABLE
from device.settings.tomlsource import MAX_FILE_BYTES
from device.sync import ownerproto
from device.sync import protocol as p
from device.sync.ownerproto import WAITING, OwnerView, RoutineInfo

logger = logging.getLogger(__name__)

ANSWER_WITHIN = 60.0   # seconds of idle the person has to press


class Question:
    """What the device asks the person about one change. The first answer wins; a question
    withdrawn (no answer in time, the computer gone) takes none."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self._lock = threading.Lock()
        self._answer: bool | None = None
        self._withdrawn = False

    def accept(self) -> bool:
        """The person said yes (a press); False if it was too late."""
        return self._give(True)

    def refuse(self) -> bool:
        """The person said no (a hold)."""
        return self._give(False)

    def settle(self, answer: bool | None) -> bool:
        """The screen's word: True (a press), False (a hold) or None (nobody answered in the
        screen's minute: withdrawn); False if it came too late."""
        return self.withdraw() if answer is None else self._give(answer)

    @property
    def answer(self) -> bool | None:
        with self._lock:
            return self._answer

    @property
    def withdrawn(self) -> bool:
        """The screen stops asking when this turns true."""
        with self._lock:
            return self._withdrawn

    def withdraw(self) -> bool:
        """Stop asking, unless the person already answered (then False)."""
        with self._lock:
            if self._answer is None:
                self._withdrawn = True
            return self._withdrawn

    def _give(self, answer: bool) -> bool:
        with self._lock:
            if self._answer is not None or self._withdrawn:
                return False
            self._answer = answer
            return True


@dataclass
class _Staged:
    change_id: int
    change: Change
    rid: int | None       # the STAGE's, while its computer is connected
    state: str
    proposal: Proposal | None = None
    question: Question | None = None
    deadline: float = 0.0
    problems: list[str] = field(default_factory=list)
    message: str = ""
    from_computer: bool = True   # False: from a USB stick, which no hang-up withdraws


class OwnerDesk:
    def __init__(self, store: OwnerStore, *, base: Config, others: list[Routine] | tuple[Routine, ...],
                 ask: Callable[[Question], None], in_session: Callable[[], bool] = lambda: False,
                 on_change: Callable[[Owned], None] | None = None, answer_within: float = ANSWER_WITHIN,
                 grace: float = 0.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.base = base              # defaults < /etc: what the computer's settings go on top of
        self.others = list(others)    # built-ins and /etc's routines: shown, hidden, never deleted
        self._ask = ask
        self._in_session = in_session
        self._on_change = on_change
        self.answer_within = answer_within
        # A screen that times the person's minute itself withdraws the question; the desk's own
        # deadline, `grace` later, is the backstop for a screen that never answers.
        self.grace = grace
        self._monotonic = monotonic
        loaded = self._load()
        self.owned = loaded.owned
        self.notice = loaded.notice   # for the screen: the stored settings were unreadable
        self._ids = itertools.count(1)
        self._staged: _Staged | None = None
        self._stick_rids = itertools.count(-1, -1)   # never a computer's: no re-send is taken for one
        # The sync's thread and the loop (a USB stick's routines) both come here.
        self._lock = threading.RLock()

    # --- Requests -----------------------------------------------------------------------

    def answer(self, message: p.Message, rid: int) -> bytes:
        with self._lock:
            return self._answer(message, rid)

    def offer(self, change: Change) -> int | None:
        """A change from a USB stick, asked like a computer's; its change id, or None while
        another change waits for the person (offer it again later)."""
        with self._lock:
            self.tick()
            staged = self._staged
            if staged is not None and staged.state in WAITING:
                return None
            staged = self._stage(change, next(self._stick_rids))
            staged.from_computer = False
            return staged.change_id

    def status(self, change_id: int) -> tuple[str, list[str], str] | None:
        """(state, problems, message) of change `change_id`, if it is the last one."""
        with self._lock:
            self.tick()
            staged = self._staged
            if staged is None or staged.change_id != change_id:
                return None
            return staged.state, list(staged.problems), staged.message

    def _answer(self, message: p.Message, rid: int) -> bytes:
        self.tick()
        if message.type == p.READ_OWNER:
            self._reload()
            return ownerproto.owner_reply(rid, self.view())
        if message.type == p.READ_ROUTINE:
            name = ownerproto.decode_read_routine(message.body)
            return ownerproto.routine_reply(rid, name, self._routine_bytes(name))
        if message.type == p.STAGE:
            return self._reply(rid, self._stage(ownerproto.decode_stage(message.body), rid))
        change_id = ownerproto.decode_decision(message.body)
        staged = self._staged
        if staged is None or staged.change_id != change_id:
            raise p.ProtocolError(p.E_BAD_PAYLOAD, f"no change {change_id} on this device (did it restart?)")
        return self._reply(rid, staged)

    def view(self) -> OwnerView:
        own = {name: check_routine(name, data) for name, data in self.owned.routines.items()}
        everything = [own.get(routine.name, routine) for routine in self.others]
        everything += [routine for name, routine in sorted(own.items()) if all(o.name != name for o in self.others)]
        order = [routine.name for routine in routines_in_order(self.owned, self.others)]
        defaults = {setting.name: setting.value_in(self.base, order=order) for setting in SETTABLE}
        return OwnerView(
            settings={**defaults, **self.owned.settings},
            overridden=tuple(setting.name for setting in SETTABLE if setting.name in self.owned.settings),
            settings_hash=content_hash(self.owned.settings_bytes),
            routines=tuple(RoutineInfo(routine.name, routine.title, routine.total_seconds, routine.content_hash,
                                       "own" if routine.name in own else
                                       "builtin" if routine.source.parent == BUILTIN_DIR else "device")
                           for routine in everything),
            order=tuple(order))

    def _routine_bytes(self, name: str) -> bytes:
        if name in self.owned.routines:
            return self.owned.routines[name]
        routine = next((routine for routine in self.others if routine.name == name), None)
        if routine is None:
            raise p.ProtocolError(p.E_BAD_PAYLOAD, f"the device has no routine named {name!r}")
        try:
            with open(routine.source, "rb") as file:
                return file.read(MAX_FILE_BYTES)
        except OSError as error:
            raise p.ProtocolError(p.E_BAD_PAYLOAD, f"cannot read routine {name!r}: {error.strerror}") from None

    def _stage(self, change: Change, rid: int) -> _Staged:
        staged = self._staged
        if staged is not None and staged.change == change and (staged.state in WAITING or staged.rid == rid):
            return staged    # re-sent, or asked again while the person has not answered
        if staged is not None and staged.state in WAITING:
            raise p.ProtocolError(p.E_PENDING, "another change is waiting for the person's answer on the device")
        staged = _Staged(next(self._ids), change, rid, "unchanged")
        self._reload()   # the other process's desk may have stored a change since
        try:
            proposal = propose(self.owned, change, base=self.base, others=self.others)
        except ChangeRejected as rejected:
            staged.state, staged.problems = "rejected", rejected.lines
            proposal = None
        self._staged = staged
        if proposal is None:
            return staged
        staged.proposal, staged.question = proposal, Question(proposal.prompt)
        staged.deadline = self._monotonic() + self.answer_within + self.grace
        staged.state = "busy" if self._in_session() else "asking"
        try:
            self._ask(staged.question)
        except Exception:   # a screen problem must not stop the sync
            logger.exception("could not ask about a change from the computer")
            staged.question.withdraw()
            staged.state, staged.message = "failed", "the device could not ask; try again"
        return staged

    @staticmethod
    def _reply(rid: int, staged: _Staged) -> bytes:
        return ownerproto.change_reply(rid, staged.change_id, staged.state, staged.problems, staged.message)

    # --- The person's answer ------------------------------------------------------------

    def tick(self) -> None:
        """Move a waiting change on: store it once accepted (in idle), drop it when too late."""
        with self._lock:
            self._tick()

    def _tick(self) -> None:
        staged = self._staged
        if staged is None or staged.state not in WAITING:
            return
        now = self._monotonic()
        if self._in_session():
            # Nothing changes during a session, and the person's minute starts after it.
            staged.state, staged.deadline = "busy", now + self.answer_within + self.grace
            return
        answer = staged.question.answer
        if answer is None:
            if (now > staged.deadline or staged.question.withdrawn) and staged.question.withdraw():
                staged.state = "timed_out"
                staged.message = f"nobody pressed the button on the device within {self.answer_within:g} s"
            else:
                staged.state = "asking"
            return
        if not answer:
            staged.state = "refused"
            return
        try:
            with self._store_locked():
                # Checked again on what the store holds now: the other desk may have saved.
                self.owned = self.store.load().owned
                proposal = propose(self.owned, staged.change, base=self.base, others=self.others)
                if proposal is not None:
                    self.store.save(proposal.after)
        except ChangeRejected as rejected:
            staged.state, staged.problems = "rejected", rejected.lines
            return
        except OSError as error:
            logger.error("could not store a change from the computer: %s", error)
            staged.state, staged.message = "failed", f"the device could not store it ({error.strerror or error})"
            return
        if proposal is None:
            staged.state = "unchanged"
            return
        self.owned = proposal.after
        staged.state = "accepted"
        logger.info("change from the computer accepted: %s", staged.question.prompt)
        if self._on_change is not None:
            try:
                self._on_change(self.owned)
            except Exception:
                logger.exception("on_change failed after a change from the computer")

    def abandon(self, message: str) -> None:
        """The screen that asked is gone (the firmware stopped or restarted): a change still
        waiting for the person ends `failed` with `message`."""
        with self._lock:
            staged = self._staged
            if staged is not None and staged.state in WAITING and staged.question.withdraw():
                staged.state, staged.message = "failed", message

    # --- The store, shared with the other process's desk ---------------------------------

    @contextmanager
    def _store_locked(self):
        lock_path = self.store.folder.with_name(self.store.folder.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)   # closing releases the lock

    def _load(self):
        try:
            with self._store_locked():
                return self.store.load()
        except OSError as error:   # no lock file (a read-only state folder): read as it is
            logger.warning("cannot lock the owner store: %s", error)
            return self.store.load()

    def _reload(self) -> None:
        self.owned = self._load().owned

    def hang_up(self) -> None:
        """The computer went away: an unanswered question is withdrawn (an accepted change
        is still stored, at the next tick)."""
        with self._lock:
            self._hang_up()

    def _hang_up(self) -> None:
        staged = self._staged
        if staged is None or not staged.from_computer:
            return
        staged.rid = None   # the next computer's request ids are its own: none is a re-send of these
        if staged.state in WAITING and staged.question.withdraw():
            staged.state, staged.message = "timed_out", "the computer went away before the person answered"
