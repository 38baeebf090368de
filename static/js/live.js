/* Shared by live pages: CSRF-aware fetch, a websocket that reconnects by itself, and a banner for
   what went wrong that clears itself once the problem is gone (the next API call that succeeds, or
   the socket back after a drop) and has a close button. */
window.qportal = (function () {
  "use strict";

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function api(method, url) {
    const resp = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
    });
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) {
      const detail = body && body.detail ? body.detail : resp.status + " " + resp.statusText;
      throw new Error(detail);
    }
    clearFlash();
    return body;
  }

  /* Open ws path; call onFrame(frame) for each JSON frame and onState("live"|"reconnecting"). */
  function socket(path, onFrame, onState) {
    let delay = 500;
    let ws = null;
    let dropped = false;
    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      ws = new WebSocket(scheme + location.host + path);
      ws.onopen = function () {
        delay = 500;
        if (dropped) clearFlash();  // the server is back: what failed while it was away may work now
        dropped = false;
        onState("live");
      };
      ws.onmessage = function (msg) {
        let frame;
        try { frame = JSON.parse(msg.data); } catch (e) { return; }
        onFrame(frame);
      };
      ws.onclose = function () {
        dropped = true;
        onState("reconnecting");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
    return { close: function () { if (ws) { ws.onclose = null; ws.close(); } } };
  }

  function showState(el, state) {
    if (!el) return;
    el.textContent = state === "live" ? "live" : "reconnecting…";
    el.className = "live " + state;
  }

  function flash(message) {
    let box = document.getElementById("flash");
    if (!box) {
      box = document.createElement("div");
      box.id = "flash";
      box.className = "error flash";
      box.setAttribute("role", "alert");
      const text = document.createElement("span");
      text.className = "flash-text";
      const close = document.createElement("button");
      close.type = "button";
      close.className = "flash-close";
      close.setAttribute("aria-label", "Dismiss");
      close.textContent = "×";
      close.addEventListener("click", clearFlash);
      box.append(text, close);
      document.querySelector("main").prepend(box);
    }
    box.querySelector(".flash-text").textContent = message;
  }

  function clearFlash() {
    const box = document.getElementById("flash");
    if (box) box.remove();
  }

  /* Every <time datetime> under root shown as YYYY-MM-DD HH:MM in the viewer's time zone (the
     server writes UTC); returns the zone's name, e.g. "Europe/Berlin". */
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const short = new Intl.DateTimeFormat("en-GB", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const long = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
  function localTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      const part = {};
      short.formatToParts(when).forEach(function (p) { part[p.type] = p.value; });
      el.textContent = part.year + "-" + part.month + "-" + part.day + " " + part.hour + ":" + part.minute;
      el.title = long.format(when);
    });
    return zone;
  }

  /* URLs and status sets come from the server (<body data-urls data-unfinished data-finished>). */
  const body = document.body.dataset;
  const urls = JSON.parse(body.urls || "{}");
  function url(name, id) { return urls[name].replace("{id}", encodeURIComponent(id)); }
  const unfinished = (body.unfinished || "").split(" ");
  const finished = (body.finished || "").split(" ");

  return {
    csrfToken: csrfToken, api: api, socket: socket, showState: showState, flash: flash,
    clearFlash: clearFlash,
    localTimes: localTimes, url: url, unfinished: unfinished, finished: finished,
  };
})();
