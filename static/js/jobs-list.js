/* Jobs list: rows re-rendered from the server's row partial whenever a frame says a job changed. */
(function () {
  "use strict";
  const table = document.getElementById("jobs");
  const tbody = document.getElementById("job-rows");
  const live = document.getElementById("live");
  const query = table.dataset.query;
  const page = table.dataset.page;
  const pending = {};

  function rowOf(id) { return tbody.querySelector('tr[data-job="' + id + '"]'); }

  async function refreshRow(id) {
    const resp = await fetch("/jobs/" + id + "/row/", { credentials: "same-origin" });
    if (!resp.ok) return;
    const row = rowOf(id);
    if (!row) return;
    const holder = document.createElement("tbody");
    holder.innerHTML = (await resp.text()).trim();
    row.replaceWith(holder.firstElementChild);
  }

  let allTimer = null;
  function refreshAll() {
    clearTimeout(allTimer);
    allTimer = setTimeout(async function () {
      const url = "?" + (query ? query + "&" : "") + "page=" + page + "&fragment=rows";
      const resp = await fetch(url, { credentials: "same-origin" });
      if (resp.ok) tbody.innerHTML = await resp.text();
    }, 150);
  }

  function scheduleRow(id) {
    clearTimeout(pending[id]);
    pending[id] = setTimeout(function () { delete pending[id]; refreshRow(id); }, 100);
  }

  function onFrame(frame) {
    if (frame.type === "hello") { refreshAll(); return; }  // (re)connected: whatever we missed
    const row = rowOf(frame.job);
    if (row) {
      if (frame.seq > Number(row.dataset.seq)) scheduleRow(frame.job);
    } else if (frame.kind === "queued" && page === "1") {
      refreshAll();  // a new job; the server applies the filters
    }
  }

  tbody.addEventListener("click", async function (ev) {
    const button = ev.target.closest("[data-cancel]");
    if (!button) return;
    ev.preventDefault();
    button.disabled = true;
    try {
      await qportal.api("POST", "/api/v1/jobs/" + button.dataset.cancel + "/cancel");
      scheduleRow(button.dataset.cancel);
    } catch (err) {
      button.disabled = false;
      qportal.flash("Could not cancel: " + err.message);
    }
  });

  // Keep queued/running times moving for jobs that are not finished.
  setInterval(function () {
    tbody.querySelectorAll("tr[data-job]").forEach(function (row) {
      if (["queued", "submitting", "running"].indexOf(row.dataset.status) >= 0) scheduleRow(row.dataset.job);
    });
  }, 15000);

  qportal.socket("/ws/jobs/", onFrame, function (state) { qportal.showState(live, state); });
})();
