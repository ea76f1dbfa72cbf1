// The routine editor: the form and the TOML text kept in step through the server, which checks
// the routine with `routines check`'s rules and draws each zone with the device's own code.
"use strict";
const $ = (id) => document.getElementById(id);
const start = JSON.parse($("start").textContent);
const NUMBERS = ["seconds", "tempo", "intensity", "sides"];
let form = start.form || {title: "", description: "", zones: []};
let asked = 0;

function zoneFromFieldset(fieldset) {
  const zone = {};
  fieldset.querySelectorAll("[data-key]").forEach((input) => {
    const key = input.dataset.key;
    if (input.type === "checkbox") zone[key] = input.checked;
    else if (NUMBERS.includes(key)) zone[key] = input.value.trim() === "" || isNaN(Number(input.value)) ? input.value : Number(input.value);
    else zone[key] = input.value;
  });
  return zone;
}

function readForm() {
  return {title: $("title").value, description: $("description").value,
          zones: [...$("zones").querySelectorAll("fieldset.zone")].map(zoneFromFieldset)};
}

function drawForm() {
  $("title").value = form.title || "";
  $("description").value = form.description || "";
  const holder = $("zones");
  holder.replaceChildren();
  (form.zones || []).forEach((zone, index) => {
    const fieldset = $("zone-form").content.firstElementChild.cloneNode(true);
    fieldset.querySelector(".zone-number").textContent = `Zone ${index + 1}`;
    fieldset.dataset.index = index;
    fieldset.querySelectorAll("[data-key]").forEach((input) => {
      const value = zone[input.dataset.key];
      if (input.type === "checkbox") input.checked = value !== false;
      else input.value = value === undefined ? "" : String(value);
    });
    holder.appendChild(fieldset);
  });
}

function showProblems(problems) {
  $("problems").replaceChildren(...problems.map((p) => Object.assign(document.createElement("li"), {textContent: p.text})));
  document.querySelectorAll("fieldset.zone").forEach((fieldset) => {
    const mine = problems.filter((p) => p.zone === Number(fieldset.dataset.index));
    fieldset.classList.toggle("has-problem", mine.length > 0);
    fieldset.querySelector(".zone-problems").replaceChildren(
      ...mine.map((p) => Object.assign(document.createElement("li"), {textContent: p.text})));
  });
}

function showPreview(preview) {
  const holder = $("screens");
  if (!preview) { $("total").textContent = ""; holder.classList.add("stale"); return; }
  holder.classList.remove("stale");
  $("total").textContent = `· ${preview.total} in all`;
  holder.replaceChildren(...preview.zones.map((zone, index) => {
    const box = document.createElement("div");
    box.className = "screen-zone";
    box.dataset.zone = index;
    const title = document.createElement("h3");
    title.textContent = `${index + 1}. ${zone.title} · ${zone.length}`;
    box.appendChild(title);
    zone.screens.forEach((screen) => {
      const image = new Image(384, 192);
      image.src = screen.png;
      image.alt = `${zone.title} ${screen.side}`.trim() + " as the device shows it";
      image.dataset.side = screen.side;
      box.appendChild(image);
    });
    const rhythm = document.createElement("p");
    rhythm.className = "rhythm";
    rhythm.textContent = zone.rhythm.text;
    if (zone.rhythm.every_ms) {  // ten seconds of ticks, to scale: 70 ms on in each beat
      const ticks = document.createElement("div");
      ticks.className = "ticks";
      for (let t = 0; t < 10000; t += zone.rhythm.every_ms) {
        const tick = document.createElement("i");
        tick.style.width = "2px";
        tick.style.marginLeft = `${Math.max(0, (zone.rhythm.every_ms - 70) / 10000 * 100)}%`;
        ticks.appendChild(tick);
      }
      rhythm.appendChild(ticks);
    }
    box.appendChild(rhythm);
    return box;
  }));
}

// Only the newest answer is shown: an older one arriving late must not undo a newer edit.
async function refresh(body, from) {
  const mine = ++asked;
  const ask = () => postJSON("/api/routines/preview", {name: $("name").value, ...body});
  // A preview changes nothing, so a request lost on the way (a TypeError from fetch) is asked again once.
  const answer = await ask().catch((e) => (e instanceof TypeError ? ask() : Promise.reject(e)))
    .catch((e) => ({problems: [{text: e.message, zone: null}], preview: null}));
  if (mine !== asked) return;
  if (from !== "toml" && answer.toml !== undefined) $("toml").value = answer.toml;
  if (from !== "form" && answer.form) { form = answer.form; drawForm(); }
  showProblems(answer.problems || []);
  showPreview(answer.preview);
  document.body.dataset.previewed = String(mine);
}

function formChanged() { form = readForm(); refresh({form}, "form"); }

document.addEventListener("DOMContentLoaded", () => {
  drawForm();
  $("toml").value = start.toml;
  showProblems(start.problems);
  showPreview(start.preview);
  document.body.dataset.previewed = "0";
  $("title").addEventListener("input", formChanged);
  $("description").addEventListener("input", formChanged);
  $("zones").addEventListener("input", formChanged);
  $("zones").addEventListener("change", formChanged);
  $("toml").addEventListener("input", () => refresh({toml: $("toml").value}, "toml"));
  $("name").addEventListener("input", () => refresh({toml: $("toml").value}, "toml"));
  $("add-zone").addEventListener("click", () => {
    form = readForm();
    const n = form.zones.length + 1;
    form.zones.push({id: `zone-${n}`, title: `Zone ${n}`, cue: "Gentle strokes", seconds: 30, tempo: 30, intensity: 2, sides: 1, enabled: true});
    drawForm(); refresh({form}, "form");
  });
  $("zones").addEventListener("click", (event) => {
    const act = event.target.dataset.act;
    if (!act) return;
    form = readForm();
    const index = Number(event.target.closest("fieldset").dataset.index);
    const [zone] = form.zones.splice(index, 1);
    if (act === "up") form.zones.splice(Math.max(0, index - 1), 0, zone);
    if (act === "down") form.zones.splice(Math.min(form.zones.length, index + 1), 0, zone);
    drawForm(); refresh({form}, "form");
  });
  $("save").addEventListener("click", async () => {
    try { say((await postJSON("/api/routines/save", {name: $("name").value, toml: $("toml").value})).message); }
    catch (error) { say(error.message, true); }
  });
  $("send").addEventListener("click", async () => {
    $("send").disabled = true;
    try {
      const job = await postJSON("/api/routines/send", {name: $("name").value, toml: $("toml").value});
      await followJob(job, (now) => say(now.message, now.state === "failed"));
    } catch (error) { say(error.message, true); }
    $("send").disabled = false;
  });
});
