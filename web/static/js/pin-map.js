/* pin-map.js — a small map where a point is dropped, bound to two coordinate inputs (Leaflet, vendored).
 *
 * Markup (every element with class "pin-map" is set up when the page loads):
 *
 *   <input id="lat" name="lat"> <input id="lon" name="lon">
 *   <div class="pin-map" data-lat-input="lat" data-lon-input="lon"
 *        data-center="48.86,2.35" data-zoom="13"
 *        data-tiles="https://tile.example/{z}/{x}/{y}.png" data-attribution="© ..."
 *        data-outline="/carte/commune.geojson" data-fit="outline"
 *        data-label="Carte : placez le problème"></div>
 *
 *   data-lat-input / data-lon-input  ids of the two inputs the widget fills (required)
 *   data-center "lat,lon"            where the map opens when the inputs are empty (default: France)
 *   data-zoom                        zoom level at opening (default 13); a filled point opens at least at 16
 *   data-tiles, data-attribution     tile URL template and its credit; empty: a plain background, the point
 *                                    can still be dropped (the town's CSP must allow the tiles' origin)
 *   data-outline                     optional URL of a GeoJSON (the commune's outline) drawn on the map
 *   data-fit="outline"               open on the whole outline (rather than data-center) while no point is set
 *   data-label                       accessible name of the map (default "Carte")
 *
 * Behaviour: a click or tap drops the marker (draggable) and fills both inputs with 6 decimals, firing
 * "input" and "change" on them; typing coordinates (or another script setting them and firing "change")
 * moves the marker. Keyboard: focus the map, pan with the arrow keys, zoom with + and -, press Enter or
 * Space to drop the point at the centre (shown by a cross-hair). Each placement is announced to screen
 * readers. Without JavaScript or Leaflet the inputs keep working on their own.
 *
 * Script API: window.PinMap.init(element) sets up one element (returns its handle, also element.pinMap);
 * window.PinMap.initAll(root) every ".pin-map" under root. A handle has map, set(lat, lon), clear().
 * No inline script or style is needed (CSP: script-src 'self').
 */
(function () {
  "use strict";

  var FRANCE = [46.6, 2.4];
  var PLACED_ZOOM = 16;

  function number(text) {
    if (text === null || text === undefined) { return NaN; }
    var cleaned = String(text).trim().replace(",", ".");
    return cleaned === "" ? NaN : Number(cleaned);
  }

  function validLatLon(lat, lon) {
    return isFinite(lat) && isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
  }

  function parseCenter(text) {
    var parts = String(text || "").split(",");
    if (parts.length === 2) {
      var lat = number(parts[0]);
      var lon = number(parts[1]);
      if (validLatLon(lat, lon)) { return [lat, lon]; }
    }
    return null;
  }

  function fire(input, type) {
    input.dispatchEvent(new Event(type, { bubbles: true }));
  }

  function init(element) {
    if (!element || element.pinMap) { return element ? element.pinMap : null; }
    var L = window.L;
    var latInput = document.getElementById(element.getAttribute("data-lat-input") || "");
    var lonInput = document.getElementById(element.getAttribute("data-lon-input") || "");
    if (!L || !latInput || !lonInput) { return null; }

    var tiles = (element.getAttribute("data-tiles") || "").trim();
    var zoom = parseInt(element.getAttribute("data-zoom") || "13", 10);
    if (!isFinite(zoom)) { zoom = 13; }
    var center = parseCenter(element.getAttribute("data-center")) || FRANCE;

    element.classList.add("pin-map--ready");
    if (!tiles) { element.classList.add("pin-map--plain"); }
    element.setAttribute("role", "application");
    element.setAttribute("aria-label", element.getAttribute("data-label") || "Carte");

    var map = L.map(element, { center: center, zoom: zoom, keyboard: true, zoomSnap: 1, maxZoom: 19 });
    if (tiles) {
      L.tileLayer(tiles, { attribution: element.getAttribute("data-attribution") || "", maxZoom: 19 }).addTo(map);
    }

    var cross = document.createElement("div");
    cross.className = "pin-map-cross";
    cross.setAttribute("aria-hidden", "true");
    element.appendChild(cross);

    var status = document.createElement("p");
    status.className = "pin-map-status";
    status.setAttribute("aria-live", "polite");
    element.parentNode.insertBefore(status, element.nextSibling);

    var marker = null;
    var syncing = false;

    function announce(lat, lon) {
      status.textContent = "Point placé : latitude " + lat.toFixed(6) + ", longitude " + lon.toFixed(6) + ".";
    }

    function fillInputs(latlng) {
      syncing = true;
      latInput.value = latlng.lat.toFixed(6);
      lonInput.value = latlng.lng.toFixed(6);
      [latInput, lonInput].forEach(function (input) { fire(input, "input"); fire(input, "change"); });
      syncing = false;
      announce(latlng.lat, latlng.lng);
    }

    function showMarker(latlng) {
      if (marker === null) {
        marker = L.marker(latlng, { draggable: true, keyboard: false, title: "Point placé", alt: "Point placé" });
        marker.on("dragend", function () { fillInputs(marker.getLatLng()); });
        marker.addTo(map);
      } else {
        marker.setLatLng(latlng);
      }
    }

    function drop(latlng) {
      var wrapped = L.latLng(latlng.lat, latlng.lng).wrap();
      showMarker(wrapped);
      fillInputs(wrapped);
    }

    function fromInputs(recentre) {
      if (syncing) { return; }
      var lat = number(latInput.value);
      var lon = number(lonInput.value);
      if (!validLatLon(lat, lon)) { return; }
      showMarker(L.latLng(lat, lon));
      if (recentre) { map.setView([lat, lon], Math.max(map.getZoom(), PLACED_ZOOM)); }
    }

    map.on("click", function (event) { drop(event.latlng); });
    element.addEventListener("keydown", function (event) {
      // Enter/Space on the map itself (not on a control or link inside it) drops the point at the centre.
      if (event.target !== element || (event.key !== "Enter" && event.key !== " ")) { return; }
      event.preventDefault();
      drop(map.getCenter());
    });
    [latInput, lonInput].forEach(function (input) {
      input.addEventListener("change", function () { fromInputs(true); });
      input.addEventListener("input", function () { fromInputs(false); });
    });

    var outline = (element.getAttribute("data-outline") || "").trim();
    if (outline && window.fetch) {
      fetch(outline, { credentials: "same-origin", headers: { "Accept": "application/geo+json, application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          var layer = L.geoJSON(data, { interactive: false, style: { className: "pin-map-outline" } }).addTo(map);
          var fit = element.getAttribute("data-fit") === "outline" || !parseCenter(element.getAttribute("data-center"));
          if (marker === null && fit && layer.getBounds().isValid()) {
            map.fitBounds(layer.getBounds());
          }
        })
        .catch(function () { /* the outline is a help, never required */ });
    }

    fromInputs(true);
    if (element.offsetParent === null) {
      // Inside a closed <details> or a hidden tab: measure again once visible.
      var recheck = function () { map.invalidateSize(); };
      document.addEventListener("toggle", recheck, true);
    }

    var handle = {
      map: map,
      set: function (lat, lon) { if (validLatLon(lat, lon)) { drop(L.latLng(lat, lon)); map.panTo([lat, lon]); } },
      clear: function () {
        if (marker !== null) { map.removeLayer(marker); marker = null; }
        latInput.value = ""; lonInput.value = "";
        fire(latInput, "change"); fire(lonInput, "change");
        status.textContent = "Point retiré.";
      }
    };
    element.pinMap = handle;
    return handle;
  }

  function initAll(root) {
    var nodes = (root || document).querySelectorAll(".pin-map");
    var handles = [];
    for (var i = 0; i < nodes.length; i++) {
      var handle = init(nodes[i]);
      if (handle) { handles.push(handle); }
    }
    return handles;
  }

  window.PinMap = { init: init, initAll: initAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { initAll(document); });
  } else {
    initAll(document);
  }
})();
