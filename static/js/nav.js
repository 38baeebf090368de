// The Menu button of narrow screens: opens and closes the navigation.
document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.getElementById("nav-toggle");
  if (!toggle) return;
  toggle.addEventListener("click", () => {
    const open = toggle.closest("header").classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
});
