"""`facepace app`: the companion page, a local web page on the person's computer.

Starlette routes and Jinja2 templates served by uvicorn on the loopback only (`command`),
behind a per-launch token, a Host check and CSRF checks (`guard`). The pages read the
computer's synced database (`history_page`), edit routines with the device's own screens
as the preview (`routine_editor`) and talk to the device over the cable (`device_desk`).
"""
