/* signaler.js — small helps on the citizens' web form (/signaler); the form works the same without it.
 *
 * - After a refused send, the summary of the points to correct takes the focus (it is also role="alert").
 * - Choosing more photos than allowed (data-max on the file input's form) is said at once, before sending.
 * No inline script or style is needed (CSP: script-src 'self').
 */
(function () {
  "use strict";
  var summary = document.getElementById("erreurs") || document.getElementById("refus");
  if (summary) {
    if (!summary.hasAttribute("tabindex")) { summary.setAttribute("tabindex", "-1"); }
    summary.focus();
  }
  var input = document.getElementById("photo");
  var max = input ? parseInt(input.getAttribute("data-max") || "0", 10) : 0;
  if (!input || !max) { return; }
  var note = document.createElement("p");
  note.className = "erreur-champ";
  note.id = "photo-nombre";
  note.setAttribute("aria-live", "polite");
  input.parentNode.insertBefore(note, input.nextSibling);
  input.addEventListener("change", function () {
    var count = input.files ? input.files.length : 0;
    note.textContent = count > max ? "Vous avez choisi " + count + " photos : " + max + " au plus." : "";
    input.setCustomValidity(count > max ? note.textContent : "");
  });
})();
