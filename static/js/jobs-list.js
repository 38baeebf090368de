/* Jobs list: rows re-rendered from the server's row partial whenever a frame says a job changed,
   and all of them (with the count line) refetched on every (re)connect and every new job, until a
   refetch succeeds. Answers can arrive out of order, so a row is never replaced by one with an
   older sequence number. Times are shown in the viewer's time zone, named in the header. */
(function () {
  "use strict";
  const table = document.getElementById("jobs");
  const tbody = document.getElementById("job-rows");
  const live = document.getElementById("live");
  const query = table.dataset.query;
  const cursor = table.dataset.cursor;  /* the page shown: the rows after (or before) this cursor */
  const pager = document.getElementById("pager");
  const pending = {};

  function showTimes(root) {
    const zone = qportal.localTimes(root);
    document.getElementById("time-zone").textContent = "(" + zone + ")";
  }

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
      return;  /* the next frame, reconnect or poll tries again */
    }
    const row = rowOf(id);
    const fresh = parseRows(html).firstElementChild;
    if (row && fresh && seqOf(fresh) >= seqOf(row)) {
      showTimes(fresh);
      row.replaceWith(fresh);
    }
  }

  let allTimer = null;
  function refreshAll(delay) {
    clearTimeout(allTimer);
    allTimer = setTimeout(async function () {
      const url = "?" + (query ? query + "&" : "") + (cursor ? "cursor=" + cursor + "&" : "") + "fragment=rows";
      let answer = null;
      try {
        const resp = await fetch(url, { credentials: "same-origin" });
        if (resp.ok) answer = await resp.json();
      } catch (err) {
        answer = null;
      }
      if (answer === null) {  // try again, less and less often, until the list is whole
        refreshAll(Math.min(Math.max(2 * (delay || 0), 1000), 10000));
        return;
      }
      const rows = parseRows(answer.rows);
      showTimes(rows);
      rows.querySelectorAll("tr[data-job]").forEach(function (fresh) {
        const shown = rowOf(fresh.dataset.job);
        if (shown && seqOf(shown) > seqOf(fresh)) fresh.replaceWith(shown);
      });
      tbody.replaceChildren(...rows.childNodes);
      pager.innerHTML = answer.pager;
    }, delay || 150);
  }

  function scheduleRow(id) {
    clearTimeout(pending[id]);
    pending[id] = setTimeout(function () { delete pending[id]; refreshRow(id); }, 100);
  }

  function onFrame(frame) {
    if (frame.type === "hello" || frame.type === "teams") { refreshAll(); return; }  // (re)connected, or joined/left a team
    const row = rowOf(frame.job);
    if (row && frame.kind === "deleted") { row.remove(); return; }
    if (row) {
      if (frame.seq > Number(row.dataset.seq)) scheduleRow(frame.job);
    } else if (frame.kind === "queued") {
      refreshAll();  // a new job: the server applies the filters and the order, and counts again
    }
  }

  // Archive and unarchive move the row out of this list (archived jobs are listed apart).
  tbody.addEventListener("click", async function (ev) {
    const button = ev.target.closest("[data-archive], [data-unarchive]");
    if (!button) return;
    ev.preventDefault();
    const archive = "archive" in button.dataset;
    const id = archive ? button.dataset.archive : button.dataset.unarchive;
    if (archive && !window.confirm("Archive this job? It leaves the list (tick \u201cArchived\u201d to see it again).")) return;
    button.disabled = true;
    try {
      await qportal.api("POST", qportal.url(archive ? "archive" : "unarchive", id));
      rowOf(id).remove();
    } catch (err) {
      button.disabled = false;
      qportal.flash("Could not " + (archive ? "archive: " : "unarchive: ") + err.message);
    }
  });

  tbody.addEventListener("click", async function (ev) {
    const button = ev.target.closest("[data-cancel]");
    if (!button) return;
    ev.preventDefault();
    if (!window.confirm("Cancel this job? A running job is stopped; this cannot be undone.")) return;
    button.disabled = true;
    try {
      await qportal.api("POST", qportal.url("cancel", button.dataset.cancel));
      scheduleRow(button.dataset.cancel);
    } catch (err) {
      button.disabled = false;
      qportal.flash("Could not cancel: " + err.message);
    }
  });

  // A new page size applies at once.
  document.getElementById("page-size").addEventListener("change", function (ev) { ev.target.form.submit(); });

  showTimes(tbody);

  // Keep queued/running times moving for jobs that are not finished.
  setInterval(function () {
    tbody.querySelectorAll("tr[data-job]").forEach(function (row) {
      if (qportal.unfinished.indexOf(row.dataset.status) >= 0) scheduleRow(row.dataset.job);
    });
  }, 15000);

  qportal.socket(qportal.url("team_socket", ""), onFrame, function (state) { qportal.showState(live, state); });
})();
