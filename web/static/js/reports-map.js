/* reports-map.js — the back office's map of reports (Leaflet + leaflet.markercluster, both vendored).
 *
 * Reads everything from #carte-signalements's data-* attributes (no inline script: CSP script-src 'self'):
 *   data-src          GeoJSON of the filtered reports (web/map.py), with total/sans_position/affiches/tronque
 *   data-tiles        tile URL template and data-attribution its credit; empty: plain background
 *   data-outline      optional GeoJSON of the commune's outline (drawn, and used to frame an empty map)
 *   data-hotspots     optional GeoJSON of hotspots (web/stats.py: Points with radius_m, label, count),
 *                     toggled by the #carte-points-chauds checkbox
 *   data-categories   JSON legend: [{n, code, label, fill, text}], the last entry for unclassified reports
 * The table #liste-signalements lists the reports in the visible area (the keyboard and screen-reader
 * alternative to the markers); #carte-compte announces the counts.
 */
(function () {
  "use strict";

  var FRANCE = [46.6, 2.4];
  var LIST_MAX = 200;  // rows of the accessible list; beyond, the user is asked to zoom
  var SVG = "http://www.w3.org/2000/svg";

  function number(n) { return Number(n).toLocaleString("fr-FR"); }

  function plural(n, one, many) { return number(n) + " " + (n > 1 ? many : one); }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function safeColour(value, fallback) {
    return /^#[0-9A-Fa-f]{6}$/.test(value || "") ? value : fallback;
  }

  function iconFor(entry) {
    var svg = '<svg xmlns="' + SVG + '" width="26" height="26" viewBox="0 0 26 26" aria-hidden="true" focusable="false">' +
      '<circle cx="13" cy="13" r="11" fill="' + safeColour(entry.fill, "#595959") + '" stroke="#1e1e1e" stroke-width="2"/>' +
      '<text x="13" y="17.5" text-anchor="middle" font-size="12" font-weight="700" font-family="system-ui, sans-serif" fill="' +
      safeColour(entry.text, "#FFFFFF") + '">' + String(entry.n).replace(/[^0-9?]/g, "") + "</text></svg>";
    return window.L.divIcon({ className: "rm-marqueur", html: svg, iconSize: [26, 26], iconAnchor: [13, 13],
                              popupAnchor: [0, -12] });
  }

  function clusterIcon(cluster) {
    var n = cluster.getChildCount();
    var size = n < 100 ? 34 : (n < 1000 ? 42 : 50);
    var span = el("span", number(n));
    var div = el("div");
    div.appendChild(span);
    return window.L.divIcon({ className: "rm-groupe", html: div.outerHTML, iconSize: [size, size] });
  }

  function popup(p) {
    var box = el("div", null, "rm-bulle");
    var title = el("p");
    title.appendChild(el("strong", "N° " + p.numero));
    box.appendChild(title);
    box.appendChild(el("p", p.categorie_libelle));
    box.appendChild(el("p", p.statut + " — reçu le " + p.date));
    if (p.position) { box.appendChild(el("p", p.position.charAt(0).toUpperCase() + p.position.slice(1))); }
    var link = el("a", "Ouvrir le signalement");
    link.href = p.url;
    box.appendChild(link);
    return box;
  }

  function init(element) {
    var L = window.L;
    var status = document.getElementById("carte-compte");
    if (!L || !L.markerClusterGroup) {
      if (status) { status.textContent = "La carte n'a pas pu être chargée. Les exports restent disponibles."; }
      return;
    }
    var legend = [];
    try { legend = JSON.parse(element.getAttribute("data-categories") || "[]"); } catch (e) { legend = []; }
    var fallback = legend.length ? legend[legend.length - 1] : { n: "?", fill: "#595959", text: "#FFFFFF" };
    var byCode = {};
    var icons = {};
    legend.forEach(function (entry) { if (entry.code) { byCode[entry.code] = entry; } });
    function entryOf(code) { return byCode[code] || fallback; }
    function icon(code) {
      var key = byCode[code] ? code : "";
      if (!icons[key]) { icons[key] = iconFor(entryOf(code)); }
      return icons[key];
    }

    var tiles = (element.getAttribute("data-tiles") || "").trim();
    element.setAttribute("role", "region");
    element.setAttribute("aria-label", element.getAttribute("data-label") || "Carte");
    var map = L.map(element, { center: FRANCE, zoom: 6, maxZoom: 19, keyboard: true });
    if (tiles) {
      L.tileLayer(tiles, { attribution: element.getAttribute("data-attribution") || "", maxZoom: 19 }).addTo(map);
    }
    var cluster = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 50,
                                         spiderfyOnMaxZoom: true, iconCreateFunction: clusterIcon });
    map.addLayer(cluster);

    var features = [];
    var outlineBounds = null;
    var framedByMarkers = false;
    var baseUrl = element.getAttribute("data-src") || "";

    function say(text) { if (status) { status.textContent = text; } }

    function countLegend() {
      var counts = {};
      features.forEach(function (f) {
        var key = byCode[f.properties.categorie] ? f.properties.categorie : "";
        counts[key] = (counts[key] || 0) + 1;
      });
      Array.prototype.forEach.call(document.querySelectorAll(".rm-legende li[data-categorie]"), function (li) {
        var n = counts[li.getAttribute("data-categorie")] || 0;
        var out = li.querySelector(".rm-nombre");
        if (out) { out.textContent = "(" + number(n) + ")"; }
      });
    }

    function renderList() {
      var body = document.querySelector("#liste-signalements tbody");
      var summary = document.getElementById("liste-resume");
      if (!body) { return; }
      var bounds = map.getBounds();
      var visible = features.filter(function (f) {
        var c = f.geometry.coordinates;
        return bounds.contains([c[1], c[0]]);
      });
      var rows = document.createDocumentFragment();
      visible.slice(0, LIST_MAX).forEach(function (f) {
        var p = f.properties;
        var tr = el("tr");
        var first = el("td");
        var link = el("a", p.numero);
        link.href = p.url;
        first.appendChild(link);
        tr.appendChild(first);
        tr.appendChild(el("td", p.date));
        tr.appendChild(el("td", p.categorie_libelle));
        tr.appendChild(el("td", p.statut));
        rows.appendChild(tr);
      });
      body.replaceChildren(rows);
      if (summary) {
        summary.textContent = visible.length > LIST_MAX
          ? plural(visible.length, "signalement", "signalements") + " dans la zone affichée : les " + number(LIST_MAX) +
            " plus récents sont listés. Zoomez pour voir les autres."
          : (visible.length ? plural(visible.length, "signalement", "signalements") + " dans la zone affichée."
                            : "Aucun signalement dans la zone affichée.");
      }
    }

    function show(data, framed) {
      features = (data.features || []).filter(function (f) {
        return f && f.geometry && f.geometry.coordinates && f.geometry.coordinates.length === 2;
      });
      cluster.clearLayers();
      var markers = features.map(function (f) {
        var p = f.properties;
        var c = f.geometry.coordinates;
        var marker = L.marker([c[1], c[0]], { icon: icon(p.categorie), keyboard: true,
                                              title: "N° " + p.numero + " — " + p.categorie_libelle + " — " + p.statut,
                                              alt: "N° " + p.numero });
        marker.bindPopup(function () { return popup(p); });
        return marker;
      });
      cluster.addLayers(markers);
      var text = plural(data.affiches, "signalement", "signalements") + " sur la carte";
      if (data.tronque) { text += " (les plus récents sur " + number(data.dans_la_zone) + ")"; }
      if (data.sans_position) {
        text += " ; " + plural(data.sans_position, "signalement", "signalements") + " sans position n'y figure" +
          (data.sans_position > 1 ? "nt" : "") + " pas";
      }
      say(text + ".");
      var cap = document.getElementById("carte-plafond");
      if (cap) { cap.hidden = !data.tronque; }
      countLegend();
      if (!framed) {
        if (markers.length) {
          framedByMarkers = true;
          // from the points themselves: with chunked loading the cluster group fills in later
          map.fitBounds(L.latLngBounds(markers.map(function (m) { return m.getLatLng(); })),
                        { padding: [20, 20], maxZoom: 16 });
        } else if (outlineBounds) {
          map.fitBounds(outlineBounds);
        }
      }
      renderList();
    }

    function load(url, framed) {
      say("Chargement des signalements…");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json, application/json" } })
        .then(function (answer) {
          if (answer.status === 401) { throw new Error("Session expirée : rechargez la page pour vous reconnecter."); }
          if (!answer.ok) { throw new Error("Les signalements n'ont pas pu être chargés (erreur " + answer.status + ")."); }
          return answer.json();
        })
        .then(function (data) { show(data, framed); })
        .catch(function (error) {
          if (window.console && !(error && /^(Session|Les signalements)/.test(error.message))) { console.error(error); }
          say(error && error.message && /^(Session|Les signalements)/.test(error.message)
            ? error.message : "Les signalements n'ont pas pu être chargés. Réessayez dans un instant.");
        });
    }

    // The outline and the reports load side by side; the map frames the markers, else the commune.
    var outline = element.getAttribute("data-outline");
    if (outline) {
      fetch(outline, { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.json() : null; })
        .then(function (geo) {
          if (!geo) { return; }
          var layer = L.geoJSON(geo, { interactive: false, style: function () {
            return { color: "#000091", weight: 2, fill: !tiles, fillColor: "#f5f5fe", fillOpacity: 1 };
          } }).addTo(map);
          layer.bringToBack();
          outlineBounds = layer.getBounds();
          if (!features.length && !framedByMarkers) { map.fitBounds(outlineBounds); }
        })
        .catch(function () { /* the markers still show without the outline */ });
    }
    load(baseUrl, false);

    map.on("moveend", renderList);

    var area = document.getElementById("carte-zone");
    if (area) {
      area.addEventListener("click", function () {
        var b = map.getBounds();
        var box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); });
        var clamp = [Math.max(-180, box[0]), Math.max(-90, box[1]), Math.min(180, box[2]), Math.min(90, box[3])];
        load(baseUrl + (baseUrl.indexOf("?") >= 0 ? "&" : "?") + "bbox=" + clamp.join(","), true);
      });
    }

    var hotspotsUrl = element.getAttribute("data-hotspots");
    var toggle = document.getElementById("carte-points-chauds");
    if (hotspotsUrl && toggle) {
      var hotspots = null;
      toggle.addEventListener("change", function () {
        if (!toggle.checked) { if (hotspots) { map.removeLayer(hotspots); } return; }
        if (hotspots) { hotspots.addTo(map); return; }
        fetch(hotspotsUrl, { credentials: "same-origin" })
          .then(function (answer) { if (!answer.ok) { throw new Error(String(answer.status)); } return answer.json(); })
          .then(function (geo) {
            hotspots = L.geoJSON(geo, {
              pointToLayer: function (feature, latlng) {
                var p = feature.properties || {};
                var radius = Number(p.radius_m);
                return L.circle(latlng, { radius: isFinite(radius) && radius > 0 ? radius : 50, className: "rm-chaud",
                                          color: "#b34000", weight: 2, fillColor: "#b34000", fillOpacity: 0.15 });
              },
              onEachFeature: function (feature, layer) {
                var p = feature.properties || {};
                var count = Number(p.count) > 0 ? plural(Number(p.count), "signalement", "signalements") : "";
                var label = p.label ? String(p.label) + (count ? " — " + count : "") : (count || "Point chaud");
                layer.bindTooltip(label);
              }
            });
            if (toggle.checked) { hotspots.addTo(map); }
          })
          .catch(function () { say("Les points chauds n'ont pas pu être chargés."); toggle.checked = false; });
      });
    }
  }

  function start() {
    var element = document.getElementById("carte-signalements");
    if (element) { init(element); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
