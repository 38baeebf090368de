/* Keys page: the new key's Copy button; revoking asks first (confirmed, the form says confirm=yes;
   without this script the server answers with a page that asks). */
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    const form = ev.target.closest("form[data-confirm]");
    if (!form) return;
    if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); return; }
    form.elements.confirm.value = "yes";
  });
  const button = document.getElementById("copy-key");
  if (!button) return;
  button.addEventListener("click", function () {
    const input = document.getElementById(button.dataset.copy);
    input.select();
    const done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
})();
