// The Routines page: what the device has, when it is plugged in (a pull opens it in the editor).
"use strict";
const ORIGINS = {builtin: "built in", device: "on the device's card", own: "sent from a computer"};
document.addEventListener("DOMContentLoaded", async () => {
  const note = document.getElementById("device-routines-note");
  const table = document.getElementById("device-routines");
  const status = await (await fetch("/api/device", {credentials: "same-origin"})).json();
  if (!status.connected) { note.textContent = status.message || "No device found."; return; }
  note.textContent = `Device ${status.device_id}: built-ins and the routines sent to it.`;
  status.routines.forEach((routine) => {
    const row = table.insertRow();
    const link = Object.assign(document.createElement("a"), {textContent: routine.name,
      href: `/routines/edit?from=device&name=${encodeURIComponent(routine.name)}`});
    row.insertCell().appendChild(link);
    row.insertCell().textContent = routine.title;
    Object.assign(row.insertCell(), {className: "num", textContent: routine.length});
    row.insertCell().textContent = routine.offered ? "offered" : "hidden";
    Object.assign(row.insertCell(), {className: "muted", textContent: ORIGINS[routine.origin] || routine.origin});
  });
  table.hidden = false;
});
