"""An app built by the composition root on a simulator's parts, with options the simulator does not
offer (a system to ask for the power-off, a session log on a test's card)."""

from __future__ import annotations

from device.core.assemble import build_app


def app_on(sim, **options):
    """`build_app` as the simulator calls it (its clock, motor, display, button and trace), plus
    `options`; run it with `app.run(sim.events, ...)` in place of `sim.app`."""
    options.setdefault("routine_name", sim.routine_name)
    return build_app(sim.config, sim.routines, clock=sim.clock, set_motor=sim.motor.set,
                     display=sim.device.display, trace=sim.trace or (lambda event, **fields: None),
                     button_is_pressed=lambda: sim.button.is_pressed, **options)
