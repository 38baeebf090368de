/* Submit page: the job's QPU-seconds estimate before the button, from POST /api/v1/jobs with
   "dry_run": true (nothing is stored), refreshed as the circuits, profile or shots change. */
(function () {
  "use strict";
  const form = document.getElementById("submit-form");
  const out = document.getElementById("estimate");
  if (!form || !out) return;
  let timer = null;
  let asked = 0;

  function body() {
    const data = new FormData(form);
    const circuits = data.getAll("qasm").filter((text) => text.trim()).map((qasm) => ({ qasm }));
    const shots = (data.get("shots") || "").trim();
    const primitive = data.get("primitive") || "sampler";
    const payload = { profile: data.get("profile"), circuits, primitive, dry_run: true };
    if (shots) payload.shots = Number(shots);
    if ((data.get("team") || "").match(/^\d+$/)) payload.team = Number(data.get("team"));
    try {
      const values = (data.get("parameter_values") || "").trim();
      if (values) payload.circuits = circuits.map((c) => ({ ...c, parameter_values: JSON.parse(values) }));
    } catch (err) { /* not JSON yet: estimated without them; the submit says what is wrong */ }
    if (primitive === "estimator") {
      const terms = (data.get("observables") || "").split(/\s+/).filter(Boolean);
      if (terms.length) payload.observables = circuits.map(() => terms);
    }
    return payload;
  }

  function show(text, state) {
    out.textContent = text;
    out.dataset.state = state;
  }

  async function refresh() {
    const payload = body();
    if (!payload.circuits.length) return show("", "empty");
    const mine = ++asked;
    show("estimating…", "pending");
    let answer, status;
    try {
      const response = await fetch("/api/v1/jobs", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
        body: JSON.stringify(payload),
      });
      status = response.status;
      answer = await response.json();
    } catch (err) {
      if (mine === asked) show("no estimate (the portal did not answer)", "error");
      return;
    }
    if (mine !== asked) return;
    if (status === 402) {
      return show("Over budget: " + answer.detail, "refused");
    }
    if (status !== 200) return show("Not valid yet: " + (answer.detail || status), "invalid");
    out.dataset.seconds = answer.estimated_qpu_seconds === null ? "" : answer.estimated_qpu_seconds;
    if (answer.estimated_qpu_seconds === null) return show("Runs on a simulator: no QPU time.", "simulator");
    const left = (answer.budgets || []).map((b) => b.remaining_seconds);
    let text = "Estimated QPU time: " + answer.estimated_qpu_seconds.toFixed(3) + " s";
    text += answer.counts_against_budget ? " (counts against budgets" : " (a fake device: counts against no budget";
    text += left.length ? "; " + Math.min(...left).toFixed(3) + " s left)" : ")";
    show(text, "ok");
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
  refresh();
})();
