// Progressive enhancement only: every task on the page also works without JavaScript.
// The shortlist lives in this browser's local storage (course ids only, never anything about
// a client) and is sent to the node only when the link worker opens the sheet.
import { initAll } from "./nhsuk-frontend.min.js";

document.body.classList.add("js-enabled", "nhsuk-frontend-supported");
initAll();

const KEY = "prospectus-shortlist";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX = 50;

function load() {
  try {
    const ids = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(ids) ? ids.filter((i) => UUID.test(i)).slice(0, MAX) : [];
  } catch {
    return [];
  }
}

function save(ids) {
  localStorage.setItem(KEY, JSON.stringify(ids.slice(0, MAX)));
}

function refresh() {
  const ids = load();
  for (const c of document.querySelectorAll("[data-shortlist-count]")) {
    c.textContent = ids.length ? `(${ids.length})` : "";
  }
  for (const a of document.querySelectorAll("a[data-shortlist-link]")) {
    a.href = "/find/sheet" + (ids.length ? "?" + ids.map((i) => "id=" + i).join("&") : "");
  }
}

for (const box of document.querySelectorAll("input[data-shortlist]")) {
  box.checked = load().includes(box.value);
  box.addEventListener("change", () => {
    const ids = load().filter((i) => i !== box.value);
    if (box.checked) ids.push(box.value);
    save(ids);
    refresh();
  });
}

// Printing the sheet from a results page takes the whole shortlist, not only this page's ticks.
const results = document.getElementById("results-form");
if (results) {
  results.addEventListener("submit", (ev) => {
    if (!ev.submitter || !ev.submitter.hasAttribute("data-sheet-button")) return;
    const ticked = new Set(
      [...results.querySelectorAll("input[name=id]:checked")].map((b) => b.value),
    );
    for (const id of load()) {
      if (ticked.has(id)) continue;
      const h = document.createElement("input");
      h.type = "hidden";
      h.name = "id";
      h.value = id;
      results.appendChild(h);
    }
  });
}

for (const b of document.querySelectorAll("[data-print]")) {
  b.hidden = false;
  b.addEventListener("click", () => window.print());
}

refresh();
