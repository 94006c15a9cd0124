/* Photo viewer of the report page: a thumbnail opens the photo in a dialog; arrows go to the next or
 * previous photo, Escape closes. Without JavaScript the thumbnail is a plain link to the photo. */
(function () {
  "use strict";
  var list = document.querySelector("[data-visionneuse]");
  var dialog = document.getElementById("visionneuse");
  if (!list || !dialog || typeof dialog.showModal !== "function") { return; }
  var links = Array.prototype.slice.call(list.querySelectorAll("a.vignette"));
  var image = dialog.querySelector("img");
  var caption = dialog.querySelector(".legende");
  var current = 0;

  function show(index) {
    if (!links.length) { return; }
    current = (index + links.length) % links.length;
    var link = links[current];
    image.src = link.getAttribute("href");
    image.alt = link.getAttribute("data-nom") || "Photo";
    caption.textContent = (link.getAttribute("data-nom") || "") + " (" + (current + 1) + "/" + links.length + ")";
    if (!dialog.open) { dialog.showModal(); }
  }

  links.forEach(function (link, index) {
    link.addEventListener("click", function (event) { event.preventDefault(); show(index); });
  });
  dialog.addEventListener("click", function (event) {
    var action = event.target.getAttribute && event.target.getAttribute("data-action");
    if (action === "suivante") { show(current + 1); }
    if (action === "precedente") { show(current - 1); }
    if (action === "fermer") { dialog.close(); }
  });
  dialog.addEventListener("keydown", function (event) {
    if (event.key === "ArrowRight") { show(current + 1); }
    if (event.key === "ArrowLeft") { show(current - 1); }
  });
})();
