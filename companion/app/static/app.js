// Shared by the pages: JSON requests with this page's CSRF token, and following a device job.
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]').content;

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({message: response.statusText}));
  if (!response.ok) throw Object.assign(new Error(data.message || response.statusText), {data});
  return data;
}

function say(text, failed) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("failed", !!failed);
}

// Ask how a job stands until it is over; `onChange` hears every state.
async function followJob(job, onChange) {
  while (job && job.state === "running") {
    onChange(job);
    await new Promise((resolve) => setTimeout(resolve, 250));
    job = await (await fetch("/api/job", {credentials: "same-origin"})).json();
  }
  onChange(job);
  return job;
}

document.querySelectorAll("time.when").forEach((node) => {
  node.textContent = new Date(Number(node.dataset.unix) * 1000).toLocaleString();
});

document.querySelectorAll("[data-submit-on-change]").forEach((field) => {
  field.addEventListener("change", () => field.form.submit());
});
