/* A session's page: its jobs' rows follow the team job stream as the job list's do. A frame for a
   job shown re-renders its row (never with an older sequence number); a new job, a finished one,
   or a (re)connect refetches the session's rows and summary, in which the server keeps only the
   session's own jobs. */
(function () {
  "use strict";
  const tbody = document.getElementById("job-rows");
  const summary = document.getElementById("session-summary");
  const live = document.getElementById("live");
  const pending = {};

  function rowOf(id) { return tbody.querySelector('tr[data-job="' + id + '"]'); }
  function seqOf(row) { return Number(row.dataset.seq); }
  function parseRows(html) {
    const holder = document.createElement("tbody");
    holder.innerHTML = html.trim();
    return holder;
  }

  async function refreshRow(id) {
    let html;
    try {
      const resp = await fetch(qportal.url("row", id), { credentials: "same-origin" });
      if (!resp.ok) return;
      html = await resp.text();
    } catch (err) {
      return;  /* the next frame or reconnect tries again */
    }
    const row = rowOf(id);
    const fresh = parseRows(html).firstElementChild;
    if (row && fresh && seqOf(fresh) >= seqOf(row)) {
      qportal.localTimes(fresh);
      row.replaceWith(fresh);
    }
  }

  let allTimer = null;
  function refreshAll(delay) {
    clearTimeout(allTimer);
    allTimer = setTimeout(async function () {
      let answer = null;
      try {
        const resp = await fetch("?fragment=rows", { credentials: "same-origin" });
        if (resp.ok) answer = await resp.json();
      } catch (err) {
        answer = null;
      }
      if (answer === null) {  // try again, less and less often, until the list is whole
        refreshAll(Math.min(Math.max(2 * (delay || 0), 1000), 10000));
        return;
      }
      const rows = parseRows(answer.rows);
      qportal.localTimes(rows);
      rows.querySelectorAll("tr[data-job]").forEach(function (fresh) {
        const shown = rowOf(fresh.dataset.job);
        if (shown && seqOf(shown) > seqOf(fresh)) fresh.replaceWith(shown);
      });
      tbody.replaceChildren(...rows.childNodes);
      summary.innerHTML = answer.summary;
      qportal.localTimes(summary);
    }, delay || 150);
  }

  function scheduleRow(id) {
    clearTimeout(pending[id]);
    pending[id] = setTimeout(function () { delete pending[id]; refreshRow(id); }, 100);
  }

  function onFrame(frame) {
    if (frame.type === "hello" || frame.type === "teams") { refreshAll(); return; }
    const row = rowOf(frame.job);
    if (row && frame.kind === "deleted") { row.remove(); return; }
    if (row) {
      if (frame.seq > seqOf(row)) scheduleRow(frame.job);
      if (qportal.finished.indexOf(frame.status) >= 0) refreshAll(500);  // the summary may change
    } else if (frame.kind === "queued") {
      refreshAll();  // perhaps a job of this session: the server says
    }
  }

  qportal.localTimes(document);
  qportal.socket(qportal.url("team_socket", ""), onFrame, function (state) { qportal.showState(live, state); });
})();
