// shotfeed's OGraf v1 graphic element (docs/overlays.md, section OGraf).
//
// graphicClass(options) makes the class a graphic's module default-exports: an HTMLElement
// that the host registers (customElements.define), creates, appends, then drives through
// load / playAction / updateAction / stopAction / customAction / dispose.
//
// The element shows the server's own overlay page: its shadow DOM holds a frame of the
// server's bridge page (/ograf/{name}/frame.html), which frames the overlay
// (/overlays/{name}?game=…&autoplay=0) and relays this element's calls, by postMessage, to the
// overlay's CasparCG functions update/play/next/stop. The bridge is what makes it work from a
// host page on any origin (a host cannot call into a frame of another origin).
//
// Rules kept here:
// - nothing is painted before the first playAction: the frame stays hidden (visibility) until
//   then, and again once a stopAction has taken the graphic out;
// - every action returns a promise of {statusCode, statusMessage?} (playAction adds
//   currentStep); calls may overlap: they run one after another, in the order they came;
// - the data (load / updateAction, partial) is the server URL, the game and the overlay's
//   query parameters; a change to any of them loads a new frame behind the current one and
//   swaps when it is ready (on air, it comes in without an animation, on the current state);
//   data.state goes to the overlay's update().

const TAG = "shotfeed-ograf";
const READY_TIMEOUT_MS = 15000; // load() resolves with 504 when the overlay is not up by then
const REPLY_TIMEOUT_MS = 10000;
const STEP_COUNT = 1; // play -> on air (step 0), stop -> off; another play goes to the end
const NOT_QUERY = new Set(["serverUrl", "state"]);

const STYLE = `
:host { display: block; position: absolute; left: 0; top: 0; width: 100%; height: 100%;
        overflow: hidden; pointer-events: none; }
iframe { position: absolute; left: 0; top: 0; width: 100%; height: 100%; border: 0;
         background: transparent; visibility: hidden; }
iframe.on { visibility: visible; }
`;

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function ok(extra) {
  return Object.assign({ statusCode: 200, statusMessage: "OK" }, extra || {});
}

function fail(statusCode, statusMessage, extra) {
  return Object.assign({ statusCode, statusMessage }, extra || {});
}

function queryValue(v) {
  if (typeof v === "boolean") return v ? "1" : "0";
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "string") return v;
  return null;
}

/** The class for one overlay. `options`: {overlay, serverUrl (null: where this file is served
 * from), customActions: ["next"] or []}. */
export function graphicClass(options) {
  const overlay = String(options.overlay);
  const customActions = new Set(options.customActions || []);
  // served by shotfeed, this file is /ograf/{name}/graphic.mjs: the server is two levels up;
  // a packaged graphic (a host serves the folder) carries its server's URL in options instead
  const defaultServer = options.serverUrl || new URL("../../", import.meta.url).href;

  return class ShotfeedGraphic extends HTMLElement {
    constructor() {
      super();
      this._root = this.attachShadow({ mode: "open" });
      try {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(STYLE);
        this._root.adoptedStyleSheets = [sheet];
      } catch (err) {
        const style = document.createElement("style");
        style.textContent = STYLE;
        this._root.appendChild(style);
      }
      this._data = {};
      this._state = null; // the last data.state, handed to every new frame too
      this._stateDue = false; // this._state still to hand to the current frame
      this._frame = null; // {iframe, origin, url, ready}
      this._frames = []; // every frame alive (the current one and one loading behind it)
      this._step = undefined; // undefined: the start/end state (nothing on air)
      this._queue = Promise.resolve();
      this._pending = new Map();
      this._nextId = 0;
      this._disposed = false;
      this._listening = false;
      this._onMessage = (e) => this._message(e);
    }

    // -- the OGraf interface -------------------------------------------------------------

    load(params) {
      const p = isObject(params) ? params : {};
      return this._enqueue(async () => {
        if (p.renderType !== undefined && p.renderType !== "realtime") {
          return fail(400, "shotfeed graphics render in real time only (supportsNonRealTime: false)");
        }
        if (!this._listening) {
          window.addEventListener("message", this._onMessage);
          this._listening = true;
        }
        this._data = {};
        this._state = null;
        this._merge(p.data);
        return this._apply();
      });
    }

    dispose() {
      this._disposed = true;
      if (this._listening) window.removeEventListener("message", this._onMessage);
      this._listening = false;
      for (const reply of this._pending.values()) reply({ ok: false, statusMessage: "disposed" });
      this._pending.clear();
      for (const frame of this._frames) this._drop(frame);
      this._frames = [];
      this._frame = null;
      this._step = undefined;
      return Promise.resolve(ok());
    }

    playAction(params) {
      const p = isObject(params) ? params : {};
      return this._enqueue(async () => {
        const frame = this._frame;
        if (!frame) return fail(409, "not loaded: load() first (or it failed)", { currentStep: this._step });
        let target;
        if (typeof p.goto === "number") target = p.goto;
        else {
          const delta = typeof p.delta === "number" ? p.delta : 1;
          target = (this._step === undefined ? -1 : this._step) + delta;
        }
        if (target >= STEP_COUNT) {
          const res = await this._stop(!!p.skipAnimation);
          return Object.assign(res, { currentStep: undefined });
        }
        target = Math.max(0, Math.floor(target));
        frame.iframe.classList.add("on"); // visible first, so the in-animation is seen
        const reply = await this._call(frame, "play", { skipAnimation: !!p.skipAnimation });
        if (!reply.ok) return fail(500, reply.statusMessage || "play failed", { currentStep: this._step });
        this._step = target;
        return ok({ currentStep: this._step });
      });
    }

    stopAction(params) {
      const p = isObject(params) ? params : {};
      return this._enqueue(() => this._stop(!!p.skipAnimation));
    }

    updateAction(params) {
      const p = isObject(params) ? params : {};
      return this._enqueue(async () => {
        if (!this._frame) return fail(409, "not loaded: load() first (or it failed)");
        const before = Object.assign({}, this._data);
        this._merge(p.data);
        const res = await this._apply();
        // refused (no such game, wrong key...): the graphic goes on as it was, with its data
        if (res.statusCode !== 200) this._data = before;
        return res;
      });
    }

    customAction(params) {
      const p = isObject(params) ? params : {};
      return this._enqueue(async () => {
        const id = typeof p.id === "string" ? p.id : "";
        if (!customActions.has(id)) return fail(404, `no custom action ${JSON.stringify(id.slice(0, 40))}`);
        if (!this._frame) return fail(409, "not loaded: load() first (or it failed)");
        const reply = await this._call(this._frame, id, { skipAnimation: !!p.skipAnimation });
        return reply.ok ? ok() : fail(500, reply.statusMessage || `${id} failed`);
      });
    }

    // -- inside ---------------------------------------------------------------------------

    /** Run fn after every call before it (overlapping calls keep their order); never rejects. */
    _enqueue(fn) {
      const run = this._queue.then(() => (this._disposed ? fail(410, "disposed") : fn()));
      this._queue = run.catch(() => undefined);
      return run.catch((err) => fail(500, String((err && err.message) || err)));
    }

    _merge(data) {
      if (!isObject(data)) return;
      for (const [k, v] of Object.entries(data)) {
        if (k === "state") this._state = isObject(v) ? v : null;
        else if (v === null || v === undefined || v === "") delete this._data[k];
        else this._data[k] = v;
      }
      if (isObject(data.state)) this._stateDue = true;
    }

    _url() {
      const server = String(this._data.serverUrl || defaultServer);
      const base = new URL(server.endsWith("/") ? server : `${server}/`);
      if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error("serverUrl must be http(s)");
      const url = new URL(`ograf/${encodeURIComponent(overlay)}/frame.html`, base);
      for (const [k, v] of Object.entries(this._data)) {
        if (NOT_QUERY.has(k)) continue;
        const value = queryValue(v);
        if (value !== null) url.searchParams.set(k, value);
      }
      return url.href;
    }

    /** Make the frame match the data: a new one when the URL changed, then the state. */
    async _apply() {
      let url;
      try {
        url = this._url();
      } catch (err) {
        return fail(400, `bad serverUrl: ${String((err && err.message) || err)}`);
      }
      if (!this._frame || this._frame.url !== url) {
        const frame = this._open(url);
        const status = await frame.ready;
        if (this._disposed) return fail(410, "disposed");
        if (status.statusCode !== 200) {
          this._drop(frame);
          return status;
        }
        const old = this._frame;
        if (this._step !== undefined) {
          // on air: the new frame comes in on the current state, without an animation
          frame.iframe.classList.add("on");
          await this._call(frame, "play", { skipAnimation: true });
        }
        this._frame = frame;
        if (old) this._drop(old);
        if (this._state) this._stateDue = true;
      }
      if (this._stateDue && this._state) {
        this._stateDue = false;
        const reply = await this._call(this._frame, "update", { data: this._state });
        if (!reply.ok) return fail(500, reply.statusMessage || "update failed");
      }
      return ok();
    }

    async _stop(skipAnimation) {
      const frame = this._frame;
      this._step = undefined;
      if (!frame) return ok();
      const reply = await this._call(frame, "stop", { skipAnimation });
      if (this._step === undefined) frame.iframe.classList.remove("on");
      return reply.ok ? ok() : fail(500, reply.statusMessage || "stop failed");
    }

    _open(url) {
      const iframe = document.createElement("iframe");
      iframe.setAttribute("allowtransparency", "true");
      iframe.setAttribute("scrolling", "no");
      iframe.title = `shotfeed ${overlay}`;
      const frame = { iframe, url, origin: new URL(url).origin, settle: null, timer: 0 };
      frame.ready = new Promise((resolve) => {
        frame.settle = (status) => {
          clearTimeout(frame.timer);
          frame.settle = null;
          resolve(status);
        };
      });
      frame.timer = setTimeout(() => {
        if (frame.settle) frame.settle(fail(504, `the ${overlay} overlay did not load from ${frame.origin}`));
      }, READY_TIMEOUT_MS);
      iframe.src = url;
      this._frames.push(frame);
      this._root.appendChild(iframe);
      return frame;
    }

    _drop(frame) {
      clearTimeout(frame.timer);
      if (frame.settle) frame.settle(fail(410, "frame replaced or disposed"));
      frame.iframe.remove();
      this._frames = this._frames.filter((f) => f !== frame);
    }

    _message(e) {
      const msg = e.data;
      if (!isObject(msg) || msg[TAG] !== 1) return;
      const frame = this._frames.find((f) => f.iframe.contentWindow === e.source);
      if (!frame || e.origin !== frame.origin) return;
      if (msg.type === "ready") {
        if (frame.settle) frame.settle(ok());
      } else if (msg.type === "error") {
        const code = Number.isInteger(msg.statusCode) ? msg.statusCode : 500;
        if (frame.settle) frame.settle(fail(code, String(msg.statusMessage || "the overlay failed")));
      } else if (msg.type === "reply") {
        const reply = this._pending.get(msg.id);
        if (reply) reply(msg);
      }
    }

    /** One call to the overlay through the bridge; resolves with its reply {ok, ...}. */
    _call(frame, op, extra) {
      const id = ++this._nextId;
      return new Promise((resolve) => {
        const timer = setTimeout(() => done({ ok: false, statusMessage: `no answer to ${op}` }), REPLY_TIMEOUT_MS);
        const done = (msg) => {
          clearTimeout(timer);
          this._pending.delete(id);
          resolve(msg);
        };
        this._pending.set(id, done);
        const win = frame.iframe.contentWindow;
        if (!win) return done({ ok: false, statusMessage: "the frame is gone" });
        win.postMessage(Object.assign({ [TAG]: 1, id, op }, extra || {}), frame.origin);
      });
    }
  };
}
