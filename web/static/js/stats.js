/*
 * Statistics and hotspots pages.
 *
 * Charts are drawn from the accessible tables next to them (the tables stay the reference):
 *   <table data-chart="barres|courbe" data-canvas="ID" data-serie="label" [data-max="100"]>
 *   each body row: <th> label, one <td data-value="number">.
 * The hotspots map (#carte-points-chauds, data-src = GeoJSON of hotspots, data-tiles, data-attribution) draws
 * each hotspot as a circle of its radius; clicking one scrolls to its entry in the list.
 * No inline script or style: CSP "script-src 'self'; style-src 'self'".
 */
(function () {
  "use strict";

  var BLUE = "#000091";
  var ORANGE = "#b34000";
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function tableData(table) {
    var labels = [];
    var values = [];
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (row) {
      var head = row.querySelector("th");
      var cell = row.querySelector("td[data-value]");
      if (!head || !cell) { return; }
      var value = Number(cell.getAttribute("data-value"));
      if (!isFinite(value)) { return; }
      labels.push(head.textContent.replace(/\s+/g, " ").trim());
      values.push(value);
    });
    return { labels: labels, values: values };
  }

  function drawChart(table) {
    var canvas = document.getElementById(table.getAttribute("data-canvas") || "");
    if (!canvas) { return; }
    var data = tableData(table);
    if (!data.values.length) { canvas.parentNode.hidden = true; return; }
    var line = table.getAttribute("data-chart") === "courbe";
    var max = Number(table.getAttribute("data-max"));
    var valueAxis = { beginAtZero: true, ticks: { precision: 0 } };
    if (isFinite(max) && max > 0) { valueAxis.max = max; }
    /* global Chart */
    new Chart(canvas, {
      type: line ? "line" : "bar",
      data: {
        labels: data.labels,
        datasets: [{
          label: table.getAttribute("data-serie") || "",
          data: data.values,
          backgroundColor: BLUE,
          borderColor: BLUE,
          borderWidth: line ? 2 : 0,
          pointRadius: line && data.values.length > 60 ? 0 : 2,
          tension: 0
        }]
      },
      options: {
        locale: "fr-FR",
        indexAxis: line ? "x" : "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: reduced ? false : { duration: 250 },
        plugins: { legend: { display: false } },
        scales: line
          ? { x: { ticks: { maxTicksLimit: 12, autoSkip: true } }, y: valueAxis }
          : { x: valueAxis, y: { ticks: { autoSkip: false } } }
      }
    });
  }

  function drawCharts() {
    if (!window.Chart) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("table[data-chart]"), drawChart);
  }

  function drawMap() {
    var element = document.getElementById("carte-points-chauds");
    if (!element || !window.L) { return; }
    var map = L.map(element, { scrollWheelZoom: false });
    var tiles = element.getAttribute("data-tiles");
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: element.getAttribute("data-attribution") || "" }).addTo(map);
    }
    map.setView([46.6, 2.4], 5);
    fetch(element.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) { if (!answer.ok) { throw new Error(String(answer.status)); } return answer.json(); })
      .then(function (geo) {
        var index = 0;
        var layer = L.geoJSON(geo, {
          pointToLayer: function (feature, latlng) {
            var radius = Number((feature.properties || {}).radius_m);
            var area = L.circle(latlng, { radius: isFinite(radius) && radius > 0 ? radius : 50, color: ORANGE,
                                          weight: 2, fillColor: ORANGE, fillOpacity: 0.2 });
            var dot = L.circleMarker(latlng, { radius: 7, color: "#ffffff", weight: 2, fillColor: ORANGE,
                                               fillOpacity: 1 });  // still visible when the city is in view
            return L.featureGroup([area, dot]);
          },
          onEachFeature: function (feature, circle) {
            index += 1;
            var target = "point-" + index;
            circle.bindTooltip(String((feature.properties || {}).label || "Point chaud"));
            circle.on("click", function () {
              var entry = document.getElementById(target);
              if (entry) {
                entry.scrollIntoView({ behavior: reduced ? "auto" : "smooth", block: "start" });
                var heading = entry.querySelector("h2");
                if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
              }
            });
          }
        }).addTo(map);
        if (layer.getLayers().length) { map.fitBounds(layer.getBounds(), { padding: [24, 24], maxZoom: 17 }); }
      })
      .catch(function () {
        var note = document.createElement("p");
        note.className = "erreur";
        note.textContent = "La carte n'a pas pu être chargée ; la liste ci-dessous donne les mêmes informations.";
        element.replaceWith(note);
      });
  }

  function start() {
    drawCharts();
    drawMap();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
