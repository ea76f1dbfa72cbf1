"""The companion page's routes: History, Routines and Device, and the JSON the page's small
script calls. `create_app` builds the Starlette app with the guard in front of everything."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from companion.app import history_page, routine_editor
from companion.app.device_desk import DeviceDesk, setting_value
from companion.app.guard import Guard, Secrets
from companion.hostdb import HostDb
from device.base import durable, timefmt
from device.base.errors import FacepaceError
from device.cli.log import ESTIMATED_NOTE
from device.log import history, report, session_columns
from device.settings.routines import RoutineLibrary, load_library
from device.settings.settable import ROUTINE_NAME

STATIC = Path(__file__).parent / "static"
# Only our own files run and load (the previews are data: PNGs); no other site may frame the
# page (a click on a framed "Send to device" would be the person's); no address leaks on.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
                               " frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}
MAX_BODY = 64 * 1024        # a routine is at most 16 KiB; the editor's JSON carries it twice


@dataclass
class AppConfig:
    keys: Secrets
    db_path: Path | None = None               # None: HostDb's default
    routines_dir: Path | None = None          # the person's own routines on this computer
    desk: DeviceDesk = field(default_factory=DeviceDesk)
    now: Callable[[], float] = time.time


def create_app(config: AppConfig) -> Guard:
    env = Environment(loader=PackageLoader("companion.app"), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)

    def page(request: Request, template: str, **values) -> HTMLResponse:
        html = env.get_template(template).render(csrf=config.keys.csrf, path=request.url.path, **values)
        return HTMLResponse(html, headers=PAGE_HEADERS)

    def library() -> RoutineLibrary:
        return load_library(config.routines_dir)

    def sessions(device: str | None) -> list:
        with HostDb.open(config.db_path) as db:
            return db.sessions(device_id=device)

    # --- History ------------------------------------------------------------------------

    views: list[tuple[tuple, tuple]] = []      # (key, (devices, view)), the newest last

    def history_view(device: str | None) -> tuple[list[str], history_page.HistoryView]:
        """The History numbers, worked out again only when the database changed (a sync), the
        day did, or a routine (the zones' titles): 10,000 sessions take a while to read, and the
        page is looked at more often than it changes."""
        lib = library()
        with HostDb.open(config.db_path) as db:
            key = (device, history.local_day(config.now()), db.state(), [r.content_hash for r in lib.routines])
            found = next((view for known, view in views if known == key), None)
            if found is None:
                found = (db.devices(), history_page.build(
                    db.day_totals(device_id=device), db.routine_sessions(device_id=device),
                    db.zone_seconds(device_id=device), lib, config.now()))
                views[:] = [*views[-7:], (key, found)]
        return found

    # A sync from the page works the numbers out before it says it is done.
    config.desk.after_sync = lambda: history_view(None)

    async def home(request: Request) -> Response:
        return RedirectResponse("/history", 303)

    async def show_history(request: Request) -> Response:
        device = request.query_params.get("device") or None
        devices, view = await run_in_threadpool(history_view, device)   # the loop keeps serving
        return page(request, "history.html", view=view, devices=devices, device=device,
                    minutes_text=history_page.minutes_text, estimated_note=ESTIMATED_NOTE)

    async def day(request: Request) -> Response:
        device = request.query_params.get("device") or None
        try:
            wanted = date.fromisoformat(request.path_params["day"])
        except ValueError:
            return Response("no such day", 404)
        today = history.local_day(config.now())
        lib = library()
        titles = report.zone_titles(lib.routines)
        # As in the calendar: a session dated after today (a clock set back) is today's.
        lines = [history_page.session_line(record, quality, lib, titles)
                 for record, quality in await run_in_threadpool(sessions, device)
                 if min(history.local_day(record.wall_start), today) == wanted]
        return page(request, "day.html", day=wanted, lines=lines[::-1], device=device,
                    estimated_note=ESTIMATED_NOTE)

    async def export(request: Request) -> Response:
        """Every field, as `facepace history --csv/--json` writes them."""
        device = request.query_params.get("device") or None
        found = await run_in_threadpool(sessions, device)
        kind = request.url.path.rpartition(".")[2]
        disposition = {"Content-Disposition": f'attachment; filename="facepace-history.{kind}"'}
        if kind == "json":
            return Response(json.dumps([session_columns.session_fields(row) for row in found], indent=1),
                            media_type="application/json", headers=disposition)
        out = io.StringIO()
        session_columns.write_csv(found, out)
        return Response(out.getvalue(), media_type="text/csv", headers=disposition)

    # --- Routines -----------------------------------------------------------------------

    async def routines(request: Request) -> Response:
        lib = library()
        return page(request, "routines.html", routines=[
            {"name": r.name, "title": r.title, "length": timefmt.duration(r.total_seconds),
             "zones": len(r.active_zones), "builtin": lib.is_builtin(r)} for r in lib.routines],
            skipped=[str(problem) for error in lib.errors for problem in error.problems[:1]])

    async def edit(request: Request) -> Response:
        name = request.query_params.get("name", "")
        routine = library().get(name)
        if request.query_params.get("from") == "device":
            text = await run_in_threadpool(config.desk.pull_routine, routine_name(name))
        elif routine is None:
            text, name = routine_editor.toml_of(NEW_ROUTINE), "my-routine"
        else:
            text = routine.source.read_text("utf-8")
        return page(request, "edit.html", name=name, start=routine_editor.answer(name, toml=text))

    async def preview(request: Request) -> Response:
        body = await json_body(request)
        name = routine_name(body.get("name"))
        if "form" in body:
            return JSONResponse(routine_editor.answer(name, form=body["form"]))
        return JSONResponse(routine_editor.answer(name, toml=str(body.get("toml", ""))))

    async def save(request: Request) -> Response:
        name, data = await routine_from(request)
        if config.routines_dir is None:
            raise FacepaceError("no folder for your routines on this computer")
        config.routines_dir.mkdir(parents=True, exist_ok=True)
        durable.write_atomically(config.routines_dir / f"{name}.toml", data)
        return JSONResponse({"message": f"Saved as {config.routines_dir / f'{name}.toml'}"})

    async def send(request: Request) -> Response:
        name, data = await routine_from(request)
        return JSONResponse(config.desk.push_routine(name, data).as_dict())

    # --- Device -------------------------------------------------------------------------

    async def device_page(request: Request) -> Response:
        with HostDb.open(config.db_path) as db:
            synced = db.device_notes()
        return page(request, "device.html", synced=synced)

    async def device_status(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(config.desk.status))

    async def start_sync(request: Request) -> Response:
        await json_body(request)
        return JSONResponse(config.desk.sync().as_dict())

    async def change_settings(request: Request) -> Response:
        body = await json_body(request)
        values = body.get("values")
        if not isinstance(values, dict) or not values:
            raise FacepaceError("nothing to change")
        return JSONResponse(config.desk.set_settings(
            {name: setting_value(name, value) for name, value in values.items()}).as_dict())

    async def job(request: Request) -> Response:
        current = config.desk.job()
        return JSONResponse(current.as_dict() if current else None)

    async def refused(request: Request, error: FacepaceError) -> Response:
        return JSONResponse({"message": str(error), "problems": routine_editor.problem_list(error)}, 400)

    app = Starlette(routes=[
        Route("/", home),
        Route("/history", show_history),
        Route("/history/{day}", day),
        Route("/export.csv", export),
        Route("/export.json", export),
        Route("/routines", routines),
        Route("/routines/edit", edit),
        Route("/api/routines/preview", preview, methods=["POST"]),
        Route("/api/routines/save", save, methods=["POST"]),
        Route("/api/routines/send", send, methods=["POST"]),
        Route("/device", device_page),
        Route("/api/device", device_status),
        Route("/api/sync", start_sync, methods=["POST"]),
        Route("/api/settings", change_settings, methods=["POST"]),
        Route("/api/job", job),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], exception_handlers={FacepaceError: refused})
    return Guard(app, keys=config.keys)


NEW_ROUTINE = {"title": "My routine", "description": "", "zones": [
    {"id": "cheeks", "title": "Cheeks", "cue": "Nose to ear, along the cheekbone", "seconds": 60,
     "tempo": 30, "intensity": 3, "sides": 2, "enabled": True}]}


async def json_body(request: Request) -> dict:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise FacepaceError(f"too large: at most {MAX_BODY // 1024} KiB")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise FacepaceError("the request is not JSON") from None
    if not isinstance(body, dict):
        raise FacepaceError("the request must be a JSON object")
    return body


async def routine_from(request: Request) -> tuple[str, bytes]:
    """The name and file of a routine to save or send, refused with its problems until it is right."""
    body = await json_body(request)
    name = routine_name(body.get("name"))
    return name, routine_editor.ready(name, str(body.get("toml", "")))


def routine_name(name) -> str:
    if not isinstance(name, str) or not ROUTINE_NAME.fullmatch(name):
        raise FacepaceError(f"{name!r} cannot name a routine: 1..32 lowercase letters, digits and -")
    return name
