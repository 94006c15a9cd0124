/* Address suggestions from the commune's reference while an agent types (staff entry, report page).
 *
 *   <input id="adresse" list="adresses-suggestions" data-suggestions-url="/adresses/suggestions"
 *          data-lat-target="lat" data-lon-target="lon">  <datalist id="adresses-suggestions"></datalist>
 *
 * Choosing a suggestion fills the latitude/longitude inputs named by data-lat-target / data-lon-target
 * (default "lat" / "lon") and fires "change" on them, which moves the map's pin (pin-map.js listens to its
 * inputs). Works without the map: the coordinates are plain inputs. */
(function () {
  "use strict";
  var input = document.querySelector("input[data-suggestions-url]");
  var list = input ? document.getElementById(input.getAttribute("list")) : null;
  if (!input || !list) { return; }
  var url = input.getAttribute("data-suggestions-url");
  var latTarget = input.getAttribute("data-lat-target") || "lat";
  var lonTarget = input.getAttribute("data-lon-target") || "lon";
  var found = {};
  var timer = null;
  var asked = "";

  function setCoordinate(id, value) {
    var field = document.getElementById(id);
    if (!field) { return; }
    field.value = String(value);
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function fill(suggestions) {
    found = {};
    while (list.firstChild) { list.removeChild(list.firstChild); }
    suggestions.forEach(function (s) {
      var option = document.createElement("option");
      option.value = s.label;
      list.appendChild(option);
      found[s.label] = s;
    });
  }

  function ask() {
    var typed = input.value.trim();
    if (typed.length < 2 || typed === asked) { return; }
    asked = typed;
    fetch(url + "?q=" + encodeURIComponent(typed), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
      .then(function (data) { if (input.value.trim() === typed) { fill(data.suggestions || []); } })
      .catch(function () { fill([]); });
  }

  input.addEventListener("input", function () {
    var chosen = found[input.value];
    if (chosen) {
      setCoordinate(latTarget, chosen.lat);
      setCoordinate(lonTarget, chosen.lon);
      return;
    }
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(ask, 200);
  });
})();
