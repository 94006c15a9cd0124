/*
 * Guichet: when a map's background tiles cannot be loaded (the tile server is unreachable, offline, or refused by
 * the network), say so on the map instead of leaving an outline on white without explanation. Loaded right after
 * Leaflet, before the page's map script: every tile layer created afterwards reports its first failed tile once.
 */
(function () {
  "use strict";
  if (!window.L || !L.TileLayer) { return; }
  var NOTICE = "Fond de carte indisponible : le serveur de tuiles ne répond pas. " +
               "Le contour de la commune et les repères restent affichés.";

  L.TileLayer.addInitHook(function () {
    var told = false;
    this.on("tileerror", function () {
      if (told || !this._map) { return; }
      told = true;
      var container = this._map.getContainer();
      container.classList.add("carte--sans-fond");
      var notice = document.createElement("p");
      notice.className = "carte-sans-fond";
      notice.setAttribute("role", "status");
      notice.textContent = NOTICE;
      container.parentNode.insertBefore(notice, container.nextSibling);
    });
  });
})();
