// The OGraf bridge (/ograf/{name}/frame.html, in the shadow DOM of shotfeed's OGraf element):
// frames the overlay page, which is on this origin, and relays the element's postMessage calls
// to the overlay's CasparCG functions: {op: "play"|"stop"|"next"|"update", id, skipAnimation,
// data}. It answers {type: "ready"} once the overlay is up (its functions in, its fonts loaded),
// {type: "error", statusCode, statusMessage} when it cannot be (no such game, wrong key...),
// and {type: "reply", id, ok} to each call, after the call's in/out animation.
// Only the window that framed this page is listened to; what is sent back is statuses only.
(() => {
  "use strict";
  const TAG = "shotfeed-ograf";
  const READY_TIMEOUT_MS = 14000;
  const info = JSON.parse(document.getElementById("bridge").textContent);
  const parent = window.parent;
  const post = (msg) => {
    if (parent && parent !== window) parent.postMessage(Object.assign({ [TAG]: 1 }, msg), "*");
  };
  if (info.error || !info.src) {
    post({ type: "error", statusCode: (info.error && info.error.statusCode) || 500, statusMessage: (info.error && info.error.statusMessage) || "no overlay" });
    return;
  }

  const frame = document.createElement("iframe");
  frame.title = `shotfeed ${info.overlay}`;
  frame.setAttribute("allowtransparency", "true");
  frame.setAttribute("scrolling", "no");
  frame.src = info.src;
  document.body.appendChild(frame);

  let overlay = null; // the overlay's window, once it is up
  const waiting = [];

  const up = () => {
    try {
      const w = frame.contentWindow;
      if (!w || !w.shotfeed || typeof w.play !== "function") return null;
      // the page shows nothing until its fonts are in (at most 2 s): be ready after that
      if (w.document.documentElement.classList.contains("sf-loading")) return null;
      return w;
    } catch (err) {
      return null;
    }
  };
  const started = Date.now();
  const poll = setInterval(() => {
    const w = up();
    if (w) {
      clearInterval(poll);
      overlay = w;
      post({ type: "ready" });
      for (const msg of waiting.splice(0)) run(msg);
    } else if (Date.now() - started > READY_TIMEOUT_MS) {
      clearInterval(poll);
      post({ type: "error", statusCode: 504, statusMessage: `the ${info.overlay} overlay did not come up` });
    }
  }, 25);

  const ms = (w, name) => {
    const raw = w.getComputedStyle(w.document.documentElement).getPropertyValue(name).trim();
    const n = parseFloat(raw);
    if (!Number.isFinite(n)) return 0;
    return raw.endsWith("ms") ? n : raw.endsWith("s") ? n * 1000 : n;
  };

  function run(msg) {
    const w = overlay;
    const skip = msg.skipAnimation === true;
    const call = (fn) => (skip ? w.shotfeed.jump(fn) : fn());
    let wait = 0;
    try {
      switch (msg.op) {
        case "update":
          w.update(JSON.stringify(msg.data)); // a string: the overlay parses it in its own realm
          break;
        case "play":
          call(() => w.play());
          wait = skip ? 0 : ms(w, "--in-ms");
          break;
        case "stop":
          call(() => w.stop());
          wait = skip ? 0 : ms(w, "--out-ms");
          break;
        case "next":
          call(() => w.next());
          wait = skip ? 0 : ms(w, "--out-ms");
          break;
        default:
          post({ type: "reply", id: msg.id, ok: false, statusMessage: `unknown op ${String(msg.op).slice(0, 20)}` });
          return;
      }
    } catch (err) {
      post({ type: "reply", id: msg.id, ok: false, statusMessage: String((err && err.message) || err) });
      return;
    }
    // answer once the in/out animation is through (the next frame at least)
    setTimeout(() => requestAnimationFrame(() => post({ type: "reply", id: msg.id, ok: true })), wait);
  }

  window.addEventListener("message", (e) => {
    if (e.source !== parent) return;
    const msg = e.data;
    if (!msg || typeof msg !== "object" || msg[TAG] !== 1 || typeof msg.op !== "string") return;
    if (overlay) run(msg);
    else waiting.push(msg);
  });
})();
