// Staff console: commands without reloading the page, and the panel kept live by server-sent
// events. Works without JavaScript too (forms post and the server redirects back).
"use strict";
(function () {
  const main = document.getElementById("main");
  const counter = main.dataset.counter;
  const csrf = main.dataset.csrf;
  const status = document.getElementById("status");
  const offline = document.getElementById("offline");
  let refreshing = null;
  let lastHtml = null;

  async function refresh() {
    if (refreshing) { refreshing.again = true; return; }
    refreshing = { again: false };
    try {
      const r = await fetch("/console/panel?counter=" + (counter || 0), { credentials: "same-origin" });
      if (r.status === 401) { window.location = "/login"; return; }
      if (r.ok) {
        const html = await r.text();
        const panel = document.getElementById("panel");
        if (html === lastHtml) return;
        lastHtml = html;
        const focused = document.activeElement && document.activeElement.id;
        panel.innerHTML = html;
        if (focused) { const el = document.getElementById(focused); if (el) el.focus(); }
      }
    } finally {
      const again = refreshing.again;
      refreshing = null;
      if (again) refresh();
    }
  }

  document.addEventListener("submit", async function (ev) {
    const form = ev.target;
    if (!form.classList.contains("js-command")) return;
    ev.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    // Not form.action: the input named "action" shadows that property.
    const r = await fetch(form.getAttribute("action"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
    });
    let answer = { ok: false, message: "Risposta non valida dal server (HTTP " + r.status + ")" };
    try { answer = await r.json(); } catch (e) { /* keep the default */ }
    status.textContent = answer.message;
    status.className = "status" + (answer.ok ? "" : " error");
    refresh();
  });

  // The page was rendered at event `after`; the stream replays anything later, so the first
  // hello needs no refresh (replacing the panel under the operator's pointer loses clicks).
  // After a reconnection the page may be stale: refresh.
  let connectedBefore = false;
  let check = null;
  function connect() {
    const source = new EventSource("/console/events?after=" + main.dataset.after);
    source.addEventListener("open", function () { offline.hidden = true; });
    source.addEventListener("error", function () {
      offline.hidden = false;
      // A stream refused (the server's cap on open streams) is not retried by the browser.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
      // A stream refused because the login expired looks like a lost connection: ask the server
      // (refresh goes to the login page on 401), at most every few seconds.
      if (check) return;
      check = setTimeout(function () {
        check = null;
        refresh().catch(function () { /* still offline */ });
      }, 3000);
    });
    source.addEventListener("hello", function () {
      offline.hidden = true;
      if (connectedBefore) refresh();
      connectedBefore = true;
    });
    source.addEventListener("queue", refresh);
    source.addEventListener("resync", refresh);
  }
  connect();
})();
