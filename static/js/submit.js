/* Submit page: load QASMBench examples into the editor, show observables for the estimator,
   and put the cursor on the line a validation error names. */
(function () {
  "use strict";
  const qasm = document.getElementById("qasm");
  const example = document.getElementById("example");
  const primitive = document.getElementById("primitive");
  const observables = document.getElementById("observables-field");

  if (example) {
    example.addEventListener("change", async function () {
      if (!example.value) return;
      const resp = await fetch(example.dataset.base + encodeURIComponent(example.value) + ".qasm", { credentials: "same-origin" });
      if (!resp.ok) return;
      qasm.value = await resp.text();
      const name = document.querySelector("input[name=name]");
      if (name && !name.value) name.value = example.value;
    });
  }

  function toggleObservables() { observables.hidden = primitive.value !== "estimator"; }
  primitive.addEventListener("change", toggleObservables);
  toggleObservables();

  const line = Number(qasm.dataset.errorLine);
  if (line > 0) {
    const lines = qasm.value.split("\n");
    const start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    const end = start + (lines[line - 1] || "").length;
    qasm.focus();
    qasm.setSelectionRange(start, end);
    qasm.scrollTop = Math.max(0, (line - 5) * 18);
  }
})();
