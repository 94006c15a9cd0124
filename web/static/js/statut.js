// Report page: the rejection reason is only asked for when the agent picks "rejete" (checked on the server too).
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("statut");
  const reason = document.getElementById("motif-rejet");
  if (!status || !reason) return;
  const select = reason.querySelector("select");
  const update = () => {
    const rejecting = status.value === "rejete";
    reason.hidden = !rejecting;
    if (select) select.required = rejecting;
  };
  status.addEventListener("change", update);
  update();
});
