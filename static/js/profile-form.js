/* Profile form: marks "off" the sections the chosen kind does not use (the stylesheet shows the
   same sections where this script does not run), and offers only the chosen team's credentials and
   cluster members. The server ignores the fields of other kinds, so hiding never changes what
   is saved. */
(function () {
  "use strict";
  const form = document.getElementById("profile-form");
  const kind = form.elements.kind;
  const team = form.elements.team;
  const credential = form.elements.credential;
  const backend = form.elements.ibm_backend;

  function showKind() {
    form.querySelectorAll(".kind-section").forEach(function (section) {
      section.classList.toggle("off", section.dataset.kinds.split(" ").indexOf(kind.value) < 0);
    });
  }

  function showTeam() {
    const id = team.value;
    credential.querySelectorAll("option[data-team]").forEach(function (option) {
      const other = option.dataset.team !== id;
      option.hidden = other;
      option.disabled = other;
    });
    credential.querySelectorAll("optgroup").forEach(function (group) {
      group.hidden = !group.querySelector("option:not([disabled])");
    });
    if (credential.selectedOptions.length && credential.selectedOptions[0].disabled) credential.value = "";
    form.querySelectorAll(".member-group").forEach(function (group) {
      const other = group.dataset.team !== "builtin" && group.dataset.team !== id;
      group.hidden = other;
      group.querySelectorAll("input").forEach(function (input) { input.disabled = other; });
    });
    pickBackends();
  }

  /* The backend field suggests what the chosen credential's last check saw. */
  function pickBackends() { backend.setAttribute("list", "ibm-backends-" + credential.value); }

  kind.addEventListener("change", showKind);
  team.addEventListener("change", showTeam);
  credential.addEventListener("change", pickBackends);
  showKind();
  showTeam();
})();
