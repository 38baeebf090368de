/* Submit page: several circuit editors (add, remove), QASMBench examples that ask before replacing
   work, observables for the estimator ("keep every shot" for the sampler), and the cursor on the
   line a validation error names. */
(function () {
  "use strict";
  const circuits = document.getElementById("circuits");
  const template = document.getElementById("circuit-template");
  const example = document.getElementById("example");
  const primitive = document.getElementById("primitive");
  const observables = document.getElementById("observables-field");
  const starting = circuits.dataset.starting || "";  // the server's starting circuit, replaced without asking
  const loaded = new WeakMap(); // editor -> the example text it was given, to tell edits apart

  function renumber() {
    circuits.querySelectorAll(".circuit-editor").forEach((editor, i) => {
      const label = editor.querySelector("label");
      const area = editor.querySelector("textarea");
      area.id = "qasm-" + i;
      label.htmlFor = area.id;
      label.textContent = "Circuit " + (i + 1);
      editor.querySelector(".remove-circuit").setAttribute("aria-label", "Remove circuit " + (i + 1));
    });
  }

  document.getElementById("add-circuit").addEventListener("click", () => {
    circuits.appendChild(template.content.cloneNode(true));
    renumber();
    circuits.lastElementChild.querySelector("textarea").focus();
  });

  circuits.addEventListener("click", (event) => {
    const button = event.target.closest(".remove-circuit");
    if (!button || circuits.children.length < 2) return;
    const editor = button.closest(".circuit-editor");
    const area = editor.querySelector("textarea");
    if (area.value.trim() && !window.confirm("Remove this circuit and its text?")) return;
    editor.remove();
    renumber();
  });

  let lastFocused = null;
  circuits.addEventListener("focusin", (event) => { if (event.target.tagName === "TEXTAREA") lastFocused = event.target; });

  function unsaved(area) {
    const text = area.value.trim();
    return text !== "" && text !== starting.trim() && text !== (loaded.get(area) || "").trim();
  }

  if (example) {
    example.addEventListener("change", async () => {
      const name = example.value;
      if (!name) return;
      const area = lastFocused && document.body.contains(lastFocused) ? lastFocused : circuits.querySelector("textarea");
      if (unsaved(area) && !window.confirm("Replace this circuit's text with the example " + name + "?")) {
        example.value = "";
        return;
      }
      const resp = await fetch(example.dataset.base + encodeURIComponent(name) + ".qasm", { credentials: "same-origin" });
      example.value = "";
      if (!resp.ok) return;
      area.value = await resp.text();
      loaded.set(area, area.value);
      const title = document.querySelector("input[name=name]");
      if (title && !title.value) title.value = name;
    });
  }

  const memory = document.getElementById("memory-field");
  function toggleObservables() {
    const estimator = primitive.value === "estimator";
    observables.hidden = !estimator;
    // Only a sampler has shots to keep: a disabled box is not sent with the form.
    memory.hidden = estimator;
    memory.querySelector("input").disabled = estimator;
  }
  primitive.addEventListener("change", toggleObservables);
  toggleObservables();

  const wrong = circuits.querySelector("textarea[data-error-line]:not([data-error-line=''])");
  if (wrong) {
    const line = Number(wrong.dataset.errorLine);
    const lines = wrong.value.split("\n");
    const start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    wrong.focus();
    wrong.setSelectionRange(start, start + (lines[line - 1] || "").length);
    wrong.scrollTop = Math.max(0, (line - 5) * 18);
  }
})();
