// Hall display: the current call large, the last calls, people waiting, and spoken calls
// played one after another (a queue, never overlapping).
"use strict";
(function () {
  const main = document.getElementById("main");
  const gate = document.getElementById("audio-gate");
  const queue = [];
  let playing = false;
  let audioOn = false;
  // Kept for tests and diagnostics: when each call's audio started and ended.
  window.hallAudioLog = [];

  function text(id, value) { document.getElementById(id).textContent = value; }

  async function refresh(flash) {
    const r = await fetch("/hall/state");
    if (!r.ok) return;
    const s = await r.json();
    text("now-ticket", s.current ? s.current.ticket : "—");
    text("now-counter", s.current ? String(s.current.counter) : "—");
    const recent = document.getElementById("recent");
    recent.replaceChildren(...s.recent.map(function (c) {
      const li = document.createElement("li");
      const t = document.createElement("span"); t.className = "mono"; t.textContent = c.ticket;
      const n = document.createElement("span"); n.textContent = "sportello " + c.counter;
      li.append(t, n); return li;
    }));
    const waiting = document.getElementById("waiting");
    waiting.replaceChildren(...s.waiting.map(function (w) {
      const li = document.createElement("li");
      li.textContent = w.service + " – " + w.name + ": " + w.count;
      return li;
    }));
    text("rule", s.fairness);
    if (flash) {
      const now = document.querySelector(".hall-now");
      now.classList.remove("flash"); void now.offsetWidth; now.classList.add("flash");
    }
  }

  function playNext() {
    if (playing || queue.length === 0) return;
    playing = true;
    const url = queue.shift();
    const audio = new Audio(url);
    const entry = { url: url, start: null, end: null };
    window.hallAudioLog.push(entry);
    audio.addEventListener("playing", function () { if (entry.start === null) entry.start = performance.now(); });
    const done = function () { if (entry.end === null) entry.end = performance.now(); playing = false; playNext(); };
    audio.addEventListener("ended", done);
    audio.addEventListener("error", done);
    audio.play().catch(done);
  }

  document.getElementById("enable-audio").addEventListener("click", function () {
    audioOn = true;
    gate.hidden = true;
    playNext();
  });

  setInterval(function () {
    const d = new Date();
    text("clock", d.toLocaleTimeString("it-IT", { hour: "2-digit", minute: "2-digit" }));
  }, 1000);

  let last = main.dataset.after;
  function connect() {
    const source = new EventSource("/hall/events?after=" + last);
    source.addEventListener("hello", function () { refresh(false); });
    source.addEventListener("update", function (ev) { last = ev.lastEventId || last; refresh(false); });
    source.addEventListener("resync", function () { refresh(false); });
    source.addEventListener("call", function (ev) {
      last = ev.lastEventId || last;
      const call = JSON.parse(ev.data);
      refresh(true);
      if (call.fresh && audioOn) { queue.push(call.audio); playNext(); }
    });
    // A stream refused (the server's cap on open streams) is not retried by the browser.
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    });
  }
  connect();
  refresh(false);
})();
