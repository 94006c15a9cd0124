/* signaler.js — small helps on the citizens' web form (/signaler); the form works the same without it.
 *
 * - After a refused send, the summary of the points to correct takes the focus (it is also role="alert").
 * - Choosing more photos than allowed (data-max on the file input) is said at once, before sending.
 * - A JPEG photo carrying its GPS position (EXIF) is offered as the problem's position: a button places the
 *   point there (the coordinate inputs are filled and "change" fired, which moves the map's pin). Without
 *   JavaScript the server does the same when no point was placed. The photo itself is sent as chosen; the
 *   server strips its metadata before storing it.
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

  // EXIF GPS of a JPEG: APP1 "Exif", TIFF header, IFD0's GPS pointer (0x8825), then tags 1-4 (N/S, lat, E/W, lon).
  function gpsOf(buffer) {
    var view = new DataView(buffer);
    if (view.byteLength < 4 || view.getUint16(0) !== 0xFFD8) { return null; }
    var offset = 2;
    while (offset + 4 <= view.byteLength) {
      var marker = view.getUint16(offset);
      var size = view.getUint16(offset + 2);
      if (marker === 0xFFE1 && view.getUint32(offset + 4) === 0x45786966) { return tiff(view, offset + 10); }
      if ((marker & 0xFF00) !== 0xFF00 || marker === 0xFFDA) { return null; }
      offset += 2 + size;
    }
    return null;
  }

  function tiff(view, start) {
    try {
      var little = view.getUint16(start) === 0x4949;
      var u16 = function (at) { return view.getUint16(start + at, little); };
      var u32 = function (at) { return view.getUint32(start + at, little); };
      var entries = function (ifd) {
        var found = {};
        for (var i = 0, n = u16(ifd); i < n; i++) { found[u16(ifd + 2 + i * 12)] = ifd + 2 + i * 12; }
        return found;
      };
      var ifd0 = entries(u32(4));
      if (ifd0[0x8825] === undefined) { return null; }
      var gps = entries(u32(ifd0[0x8825] + 8));
      var degrees = function (tag) {
        if (gps[tag] === undefined) { return NaN; }
        var at = u32(gps[tag] + 8), value = 0;
        for (var k = 0; k < 3; k++) { value += u32(at + k * 8) / u32(at + k * 8 + 4) / Math.pow(60, k); }
        return value;
      };
      var ref = function (tag) {
        return gps[tag] === undefined ? "" : String.fromCharCode(view.getUint8(start + gps[tag] + 8));
      };
      var lat = degrees(2) * (ref(1) === "S" ? -1 : 1);
      var lon = degrees(4) * (ref(3) === "W" ? -1 : 1);
      return isFinite(lat) && isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180 ? [lat, lon] : null;
    } catch (e) {
      return null;  // a broken EXIF block: nothing to offer
    }
  }

  var offer = document.createElement("p");
  offer.className = "position-photo";
  offer.setAttribute("aria-live", "polite");
  input.parentNode.insertBefore(offer, input.nextSibling);

  function place(point) {
    ["lat", "lon"].forEach(function (id, i) {
      var field = document.getElementById(id);
      if (!field) { return; }
      field.value = point[i].toFixed(6);
      field.dispatchEvent(new Event("change", { bubbles: true }));
    });
    offer.textContent = "Le point est placé à la position de la photo.";
  }

  function offerPosition(point) {
    while (offer.firstChild) { offer.removeChild(offer.firstChild); }
    if (!point) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.id = "position-photo";
    button.className = "secondaire";
    button.textContent = "Placer le point à l'endroit de la photo (" + point[0].toFixed(5) + ", " +
      point[1].toFixed(5) + ")";
    button.addEventListener("click", function () { place(point); });
    offer.appendChild(document.createTextNode("Cette photo contient sa position GPS. "));
    offer.appendChild(button);
  }

  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files || [], 0, max);
    var jpegs = files.filter(function (f) { return /jpe?g$/i.test(f.type) || /\.jpe?g$/i.test(f.name); });
    offerPosition(null);
    if (!jpegs.length || !window.FileReader) { return; }
    var reader = new FileReader();
    reader.onload = function () { offerPosition(gpsOf(reader.result)); };
    reader.readAsArrayBuffer(jpegs[0].slice(0, 256 * 1024));  // EXIF sits at the start of the file
  });
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
