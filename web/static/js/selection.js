// Queue: "tout sélectionner sur la page" ticks or unticks every report of the page (without JavaScript, each
// box is ticked by hand); it shows "mixed" when only some are ticked.
document.addEventListener("DOMContentLoaded", () => {
  const all = document.querySelector("[data-tout-selectionner]");
  const form = document.getElementById("selection");
  if (!all || !form) return;
  const boxes = () => Array.from(form.querySelectorAll('input[type="checkbox"][name="n"]'));
  const sync = () => {
    const ticked = boxes().filter((b) => b.checked).length;
    all.checked = ticked > 0 && ticked === boxes().length;
    all.indeterminate = ticked > 0 && ticked < boxes().length;
  };
  all.addEventListener("change", () => {
    boxes().forEach((b) => { b.checked = all.checked; });
    sync();
  });
  form.addEventListener("change", (event) => { if (event.target !== all) sync(); });
});
