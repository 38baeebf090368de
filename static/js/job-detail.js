/* Job detail: applies event frames in sequence order; a gap or a reconnect refetches the missed
   events over REST, so a lost frame never leaves the page stale. Panels (summary, the circuit
   table's page, the opened circuit's result) are re-rendered by the server from the same
   partials as the first page load. */
(function () {
  "use strict";
  const root = document.getElementById("job");
  const id = root.dataset.job;
  const events = document.getElementById("events");
  const live = document.getElementById("live");
  let lastSeq = Number(root.dataset.seq);
  let connected = false;
  let gone = false;  // deleted: nothing more to fetch

  const eventTemplate = document.getElementById("event-template");

  /* A new event row: the server's own row template (jobs/_event.html), filled in. */
  function appendEvent(e) {
    const li = eventTemplate.content.firstElementChild.cloneNode(true);
    li.dataset.seq = e.seq;
    li.className = "ev-" + e.kind;
    li.querySelector(".seq").textContent = "#" + e.seq;
    const time = li.querySelector("time");
    time.textContent = String(e.created).slice(11, 19);
    time.setAttribute("datetime", e.created);
    li.querySelector(".kind").textContent = e.kind;
    li.querySelector(".msg").textContent = e.message;
    events.append(li);
  }

  function setStatus(status) {
    const badge = document.getElementById("status");
    if (badge && status) { badge.textContent = status; badge.className = "badge big " + status; }
  }

  function apply(e) {
    if (e.seq <= lastSeq) return;
    appendEvent(e);
    lastSeq = e.seq;
    root.dataset.seq = lastSeq;
    setStatus(e.status);
    schedulePanels();
  }

  let catching = false, again = false, retryDelay = 0, retryTimer = null;
  async function catchUp() {
    if (catching) { again = true; return; }
    catching = true;
    clearTimeout(retryTimer);
    try {
      do {
        again = false;
        const missed = await qportal.api("GET", qportal.url("events", id) + "?after=" + lastSeq);
        missed.forEach(apply);
      } while (again);
      retryDelay = 0;
    } catch (err) {
      // Try again, less and less often, until the events are whole (a frame or reconnect may sooner).
      retryDelay = Math.min(Math.max(2 * retryDelay, 1000), 10000);
      retryTimer = setTimeout(catchUp, retryDelay);
    } finally {
      catching = false;
    }
  }

  function onFrame(frame) {
    if (frame.type === "hello") {
      if (frame.last_seq > lastSeq) catchUp(); else schedulePanels();
      return;
    }
    if (frame.job !== id || frame.seq <= lastSeq) return;
    if (frame.kind === "deleted") { gone = true; qportal.flash("This job was deleted (" + frame.message + ")."); return; }
    if (frame.seq === lastSeq + 1) apply(frame); else catchUp();
  }

  let panelTimer = null;
  function schedulePanels() {
    clearTimeout(panelTimer);
    panelTimer = setTimeout(refreshPanels, 150);
  }

  async function refreshPanels() {
    let data;
    try { data = await qportal.api("GET", root.dataset.panels + location.search); } catch (err) { return; }
    document.getElementById("summary").innerHTML = data.summary;
    const rows = document.getElementById("circuit-rows");
    if (rows) rows.innerHTML = data.table;
    const slot = document.getElementById("result");
    if (slot && !slot.dataset.final && data.result) {
      slot.innerHTML = data.result;
      if (data.result_final) slot.dataset.final = "1";
    }
    if (data.last_seq > lastSeq) catchUp();
  }

  /* The opened circuit's histogram: sort, scale and the ideal overlay, from the bars' own data. */
  function redrawHistogram(figure) {
    const byCount = figure.querySelector(".hist-sort").value === "count";
    const log = figure.querySelector(".hist-log").checked;
    const ideal = figure.querySelector(".hist-ideal");
    const showIdeal = !ideal || ideal.checked;
    const bars = figure.querySelector(".bars");
    const rows = Array.from(bars.querySelectorAll(".bar-row"));
    rows.sort(function (a, b) {
      if (byCount) return Number(b.dataset.count) - Number(a.dataset.count) || (a.dataset.key < b.dataset.key ? -1 : 1);
      return a.dataset.key < b.dataset.key ? -1 : 1;
    });
    rows.forEach(function (row) {
      row.querySelector(".bar").style.width = (log ? row.dataset.log : row.dataset.linear) + "%";
      const mark = row.querySelector(".ideal-mark");
      if (mark) {
        mark.style.left = (log ? row.dataset.idealLog : row.dataset.idealLinear) + "%";
        mark.hidden = !showIdeal;
      }
      bars.append(row);
    });
    figure.dataset.sort = byCount ? "count" : "key";
    figure.dataset.scale = log ? "log" : "linear";
  }
  root.addEventListener("change", function (ev) {
    const figure = ev.target.closest("figure.histogram");
    if (figure && ev.target.closest(".hist-tools")) redrawHistogram(figure);
  });

  /* What each action button asks first (null: nothing to ask), does, and says when it fails. */
  const actions = {
    cancel: {
      ask: function () { return "Cancel this job? A running job is stopped; this cannot be undone."; },
      run: async function () { await qportal.api("POST", qportal.url("cancel", id)); schedulePanels(); },
      failed: "Could not cancel: ",
    },
    rerun: {
      ask: function () { return null; },
      run: async function () { location.href = qportal.url("job", (await qportal.api("POST", qportal.url("rerun", id))).id); },
      failed: "Could not run again: ",
    },
    archive: {
      ask: function () { return "Archive this job? It leaves the job list (tick \u201cArchived\u201d there to see it again)."; },
      run: async function () { await qportal.api("POST", qportal.url("archive", id)); schedulePanels(); },
      failed: "Could not archive: ",
    },
    unarchive: {
      ask: function () { return null; },
      run: async function () { await qportal.api("POST", qportal.url("unarchive", id)); schedulePanels(); },
      failed: "Could not unarchive: ",
    },
    delete: {
      ask: function (button) {
        return (button.dataset.running ? "This job has not finished: cancel it, and delete it once it has stopped? " : "Delete this job? ")
          + "Its circuits, results and events are removed for good.";
      },
      run: async function () { await qportal.api("DELETE", qportal.url("api_job", id)); location.href = qportal.url("list", id); },
      failed: "Could not delete: ",
    },
  };

  root.addEventListener("click", async function (ev) {
    const button = ev.target.closest("[data-cancel], [data-rerun], [data-archive], [data-unarchive], [data-delete]");
    if (!button) return;
    ev.preventDefault();
    const name = Object.keys(actions).find(function (key) { return key in button.dataset; });
    const action = actions[name];
    const question = action.ask(button);
    if (question && !window.confirm(question)) return;
    button.disabled = true;
    try {
      await action.run();
    } catch (err) {
      button.disabled = false;
      qportal.flash(action.failed + err.message);
    }
  });

  // Running times keep moving; without a socket, poll for events instead.
  setInterval(function () {
    if (gone) return;
    const summary = document.querySelector("#summary .summary");
    const active = summary && qportal.unfinished.indexOf(summary.dataset.status) >= 0;
    if (!connected) catchUp();
    if (active) schedulePanels();
  }, 10000);

  qportal.socket(qportal.url("job_socket", id), onFrame, function (state) {
    connected = state === "live";
    qportal.showState(live, state);
  });
})();
