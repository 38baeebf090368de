/* Profiles list: deleting asks first. Confirmed, the form says so (confirm=yes); without this
   script the server answers with a page that asks. */
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    const form = ev.target.closest("form[data-confirm]");
    if (!form) return;
    if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); return; }
    form.elements.confirm.value = "yes";
  });
})();
