// The Device page: how the device answers, a sync with its progress, and the settings form.
"use strict";
const $ = (id) => document.getElementById(id);
let current = {};

function input(row) {
  let field;
  if (row.kind === "bool") {
    field = Object.assign(document.createElement("input"), {type: "checkbox", checked: !!row.value});
  } else if (row.kind === "choice") {
    field = document.createElement("select");
    row.choices.forEach((choice) => field.appendChild(Object.assign(document.createElement("option"), {value: choice, textContent: choice, selected: choice === row.value})));
  } else if (row.kind === "int" || row.kind === "float") {
    field = Object.assign(document.createElement("input"), {type: "number", value: row.value, min: row.low, max: row.high,
                                                             step: row.kind === "int" ? 1 : "any"});
  } else {
    field = Object.assign(document.createElement("input"), {type: "text",
      value: row.value === null ? "" : Array.isArray(row.value) ? row.value.join(", ") : row.value});
  }
  if (row.value === null) field.placeholder = "not set: the device's own";
  field.name = row.name;
  field.id = `setting-${row.name}`;
  return field;
}

function valueOf(field, row) {
  if (row.kind === "bool") return field.checked;
  if (row.kind === "int" || row.kind === "float" || row.kind === "choice") return field.value === "" ? field.value : Number(field.value);
  return field.value;
}

function drawSettings(rows) {
  const form = $("settings");
  form.replaceChildren();
  rows.forEach((row) => {
    current[row.name] = row;
    const line = document.createElement("div");
    line.className = "row";
    const label = Object.assign(document.createElement("label"), {htmlFor: `setting-${row.name}`, textContent: row.name});
    const help = Object.assign(document.createElement("span"), {className: "muted",
      textContent: `${row.help} (allowed: ${row.allowed})${row.set_here ? " · set from a computer" : ""}`});
    line.append(label, input(row), help);
    form.appendChild(line);
  });
  const button = Object.assign(document.createElement("button"), {type: "submit", className: "primary", textContent: "Send the changes"});
  form.appendChild(button);
}

async function look() {
  $("connected").textContent = "looking for the device…";
  const status = await (await fetch("/api/device", {credentials: "same-origin"})).json();
  document.body.dataset.connected = String(status.connected);
  $("connected").textContent = status.connected ? "Connected" : status.connected === null ? "Busy" : "Not connected";
  $("device-id").textContent = status.connected ? `device ${status.device_id}` : "";
  $("firmware").textContent = status.connected ? `firmware ${status.firmware}, sync protocol ${status.protocol}. ${status.message}` : status.message;
  if (status.connected && status.settings.length) drawSettings(status.settings);
}

document.addEventListener("DOMContentLoaded", () => {
  look();
  $("refresh").addEventListener("click", look);
  $("sync").addEventListener("click", async () => {
    const bar = $("sync-progress");
    $("sync").disabled = true;
    bar.hidden = false;
    try {
      await followJob(await postJSON("/api/sync"), (job) => {
        if (job.total) { bar.max = job.total; bar.value = job.done; }
        say(job.message, job.state === "failed");
      });
    } catch (error) { say(error.message, true); }
    $("sync").disabled = false;
  });
  $("settings").addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = {};
    for (const [name, row] of Object.entries(current)) {
      const value = valueOf($(`setting-${name}`), row);
      const before = Array.isArray(row.value) ? row.value.join(", ") : row.value;
      if (String(value) !== String(before ?? "")) values[name] = value;
    }
    if (!Object.keys(values).length) { say("Nothing changed."); return; }
    try {
      const job = await followJob(await postJSON("/api/settings", {values}), (now) => say(now.message, now.state === "failed"));
      if (job.state === "done") look();
    } catch (error) { say(error.message, true); }
  });
});
