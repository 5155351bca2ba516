/*
 * Garant map page: the ceasefire agreement (control areas, zones, contact line), the
 * observations and the verified bulletin's events (a ring at the impact coloured by
 * verification level, a dashed line from the estimated origin), drawn with the vendored Leaflet on a plain background (no tiles: Garant runs
 * without internet) with a latitude/longitude graticule. The side panel is both the legend and
 * the layer switch: one row per layer, with its swatch and a checkbox.
 *
 * Data comes from the same-origin JSON API only:
 *   GET {api}/agreement/geojson                       FeatureCollection, 404 problem if none
 *   GET {api}/observations?limit=&bbox=&start=&end=   FeatureCollection of Points, links.next
 *   GET {api}/events?kind=fire&kind=...&bbox=&start=&end=   the fused events the caller may see
 *
 * For tests and the console the page keeps `window.garant`:
 *   observations  Map id -> Leaflet circle marker
 *   events        Map event id -> Leaflet circle marker (at the impact)
 *   layers        {contactLine, controlAreas{party}, zones{id}, observations, events,
 *                  observationKinds{kind}, graticule}
 *   ready         Promise settled when the current load finished (replaced on each refetch)
 *   bbox          the bbox string sent with the observation query (null without agreement)
 * and sets on <body>: data-loaded="true" when all fetches finished, data-observation-count,
 * data-event-count,
 * data-agreement = loaded | missing | error.
 *
 * Everything that comes from the API is inserted as text, never as HTML.
 */
(function () {
  "use strict";

  var PAGE_CAP = 20; // pages of observations followed at most
  var PAGE_LIMIT = 1000;
  var DEFAULT_VIEW = { center: [48.6, 33.5], zoom: 6 }; // Ukraine, when there is nothing to fit

  var KIND_COLOURS = {
    acoustic_detection: "#1b9e77",
    sighting: "#d95f02",
    crater: "#7570b3",
    radar_track: "#e7298a",
    weapon_presence: "#4d8f1a",
    air_track: "#1f78b4",
    allegation: "#a6761d",
    osint: "#5f5f5f",
    interference: "#e31a1c",
  };
  var KIND_LABELS = {
    acoustic_detection: "Acoustic detection",
    sighting: "Sighting",
    crater: "Crater",
    radar_track: "Radar track",
    weapon_presence: "Weapon presence",
    air_track: "Air track",
    allegation: "Allegation",
    osint: "OSINT",
    interference: "Interference",
  };
  // The verified bulletin's events, by verification level.
  var LEVEL_COLOURS = {
    reported: "#8a8a8a",
    corroborated: "#e08a00",
    verified: "#b00020",
    rejected: "#c8c8c8",
  };
  var EVENT_KINDS = ["fire", "presence", "advance", "air", "interference", "allegation"];
  var PARTY_COLOURS = { UA: "#2563b0", RU: "#c0392b" };
  var PARTY_FALLBACK = ["#2a9d8f", "#8e44ad", "#d4a017", "#34495e"];
  // Per zone kind: a family of colours (one per zone of that kind, in order) and a dash pattern.
  var ZONE_STYLES = {
    buffer: { colours: ["#b7791f", "#dd6b20"], dashArray: "10 6" },
    withdrawal: { colours: ["#6b46c1", "#9f5fd0", "#44337a", "#b47ddb", "#5a67d8", "#805ad5"], dashArray: "4 5" },
    airspace: { colours: ["#0b7f99", "#319795"], dashArray: "14 5 3 5" },
  };
  var ZONE_FALLBACK = { colours: ["#555555"], dashArray: "6 6" };
  var CONTACT_LINE_STYLE = { color: "#111111", weight: 3.5, opacity: 1, interactive: false };
  var CONTACT_LINE_CASING = { color: "#ffffff", weight: 7, opacity: 0.8, interactive: false };

  var body = document.body;
  var apiBase = body.dataset.apiBase || "/api/v1";
  var messageEl = document.getElementById("garant-message");
  var countEl = document.getElementById("garant-observation-count");
  var titleEl = document.getElementById("garant-title");
  var agreementIdEl = document.getElementById("garant-agreement-id");
  var sidebarEl = document.getElementById("garant-sidebar");
  var filterForm = document.getElementById("garant-filter");
  var startInput = document.getElementById("garant-start");
  var endInput = document.getElementById("garant-end");

  // ---------------------------------------------------------------- helpers

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  function cssToken(text) {
    return String(text).toLowerCase().replace(/[^a-z0-9_-]/g, "_");
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function partyColour(party, index) {
    return PARTY_COLOURS[party] || PARTY_FALLBACK[index % PARTY_FALLBACK.length];
  }

  function kindColour(kind) {
    return KIND_COLOURS[kind] || "#999999";
  }

  function kindLabel(kind) {
    return KIND_LABELS[kind] || String(kind);
  }

  function formatTime(iso) {
    if (!iso) return "unknown";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace("Z", " UTC");
  }

  /** "2026-01-10T12:00" from a datetime-local input, read as UTC -> "2026-01-10T12:00:00Z". */
  function inputToIso(value) {
    if (!value) return null;
    return value.length === 16 ? value + ":00Z" : value + "Z";
  }

  /** "2026-01-10T12:00:00Z" (or with offset) -> value for a datetime-local input, in UTC. */
  function isoToInput(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    var v = d.toISOString().slice(0, 19);
    return v.slice(16) === ":00" ? v.slice(0, 16) : v;
  }

  function showMessage(text, detail, level) {
    messageEl.textContent = "";
    messageEl.appendChild(el("strong", null, text));
    if (detail) messageEl.appendChild(el("span", "garant-message-detail", detail));
    messageEl.dataset.level = level || "error";
    messageEl.hidden = false;
  }

  function clearMessage() {
    messageEl.hidden = true;
    messageEl.textContent = "";
  }

  /** Fetch JSON from this origin; resolves {ok, status, body}; rejects only on network failure. */
  function fetchJson(url) {
    return fetch(url, {
      headers: { Accept: "application/json, application/geo+json, application/problem+json" },
      credentials: "same-origin",
    }).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch (e) {
          parsed = null;
        }
        return { ok: response.ok, status: response.status, body: parsed };
      });
    });
  }

  function problemText(result) {
    var b = result.body;
    if (b && typeof b === "object") {
      var parts = [];
      if (b.title) parts.push(b.title);
      if (b.detail && b.detail !== b.title) parts.push(b.detail);
      if (parts.length) return parts.join(": ") + " (HTTP " + result.status + ")";
    }
    return "HTTP " + result.status;
  }

  function sameOrigin(url) {
    return new URL(url, window.location.href).origin === window.location.origin;
  }

  // ---------------------------------------------------------------- map

  var mapEl = document.getElementById("garant-map");
  var map = L.map(mapEl, {
    center: DEFAULT_VIEW.center,
    zoom: DEFAULT_VIEW.zoom,
    zoomSnap: 0.25,
    minZoom: 3,
    maxZoom: 16,
  });
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

  // The header, the message banner or the side panel can change size after load: keep
  // Leaflet's idea of the map's size in step.
  if (window.ResizeObserver) {
    new ResizeObserver(function () {
      map.invalidateSize({ pan: false });
    }).observe(mapEl);
  }

  function fitMap(bounds, maxZoom) {
    map.invalidateSize({ pan: false });
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: maxZoom || 12 });
  }

  // Panes, bottom to top; each SVG pane gets its own renderer from Leaflet.
  [
    ["garant-graticule", 250],
    ["garant-areas", 300],
    ["garant-graticule-labels", 350],
    ["garant-zones", 410],
    ["garant-observations", 450],
    ["garant-events", 455],
    ["garant-line", 460], // above the markers so dense observations never hide it
  ].forEach(function (p) {
    map.createPane(p[0]).style.zIndex = String(p[1]);
  });
  ["garant-graticule", "garant-graticule-labels", "garant-line"].forEach(function (name) {
    map.getPane(name).style.pointerEvents = "none";
  });

  // ------------------------------------------------------------ graticule

  var GRATICULE_STEPS = [30, 20, 10, 5, 2, 1, 0.5, 0.25, 0.1, 0.05, 0.025, 0.01];

  function graticuleLabel(value, step, positive, negative) {
    var decimals = step >= 1 ? 0 : step >= 0.1 ? 1 : step >= 0.05 ? 2 : 3;
    var hemisphere = value > 0 ? positive : value < 0 ? negative : "";
    return Math.abs(value).toFixed(decimals) + "°" + hemisphere;
  }

  var Graticule = L.LayerGroup.extend({
    onAdd: function (m) {
      L.LayerGroup.prototype.onAdd.call(this, m);
      m.on("moveend", this._redraw, this);
      this._redraw();
    },
    onRemove: function (m) {
      m.off("moveend", this._redraw, this);
      L.LayerGroup.prototype.onRemove.call(this, m);
    },
    _redraw: function () {
      var m = this._map;
      if (!m) return;
      this.clearLayers();
      var b = m.getBounds();
      var south = Math.max(b.getSouth(), -85);
      var north = Math.min(b.getNorth(), 85);
      var west = b.getWest();
      var east = b.getEast();
      var span = Math.max(north - south, east - west);
      var step = GRATICULE_STEPS[GRATICULE_STEPS.length - 1];
      for (var i = 0; i < GRATICULE_STEPS.length; i++) {
        if (span / GRATICULE_STEPS[i] >= 4) {
          step = GRATICULE_STEPS[i];
          break;
        }
      }
      var lineOpts = {
        pane: "garant-graticule",
        className: "garant-graticule-line",
        color: "#8a9aab",
        weight: 1,
        opacity: 0.6,
        interactive: false,
      };
      var size = m.getSize();
      var insetLat = (north - south) * (6 / size.y); // labels sit just inside the map's edge
      var insetLon = (east - west) * (6 / size.x);
      var attribution = m.attributionControl ? m.attributionControl.getContainer() : null;
      var maxX = size.x - (attribution ? attribution.offsetWidth : 0) - 30;
      var lat, lon, n;
      for (n = 0, lat = Math.ceil(south / step) * step; lat <= north && n < 200; lat += step, n++) {
        var la = +lat.toFixed(6);
        this.addLayer(L.polyline([[la, west], [la, east]], lineOpts));
        var y = m.latLngToContainerPoint([la, west]).y;
        if (y > 80 && y < size.y - 50) {
          // clear of the zoom buttons (top left) and the scale bar (bottom left)
          this.addLayer(this._label([la, west + insetLon], graticuleLabel(la, step, "N", "S"), "lat"));
        }
      }
      for (n = 0, lon = Math.ceil(west / step) * step; lon <= east && n < 200; lon += step, n++) {
        var lo = +lon.toFixed(6);
        this.addLayer(L.polyline([[south, lo], [north, lo]], lineOpts));
        var x = m.latLngToContainerPoint([south, lo]).x;
        if (x > 110 && x < maxX) {
          this.addLayer(this._label([south + insetLat, lo], graticuleLabel(lo, step, "E", "W"), "lon"));
        }
      }
    },
    _label: function (latlng, text, axis) {
      return L.marker(latlng, {
        pane: "garant-graticule-labels",
        interactive: false,
        keyboard: false,
        icon: L.divIcon({
          className: "garant-graticule-label garant-graticule-label-" + axis,
          html: escapeHtml(text),
          iconSize: null,
          iconAnchor: axis === "lat" ? [0, 8] : [-3, 18],
        }),
      });
    },
  });

  // ---------------------------------------------------------------- state

  var observationLayer = L.featureGroup([], { pane: "garant-observations" });
  var eventLayer = L.featureGroup([], { pane: "garant-events" });
  var graticule = new Graticule();
  graticule.addTo(map);
  observationLayer.addTo(map);
  eventLayer.addTo(map);

  var garant = {
    map: map,
    observations: new Map(),
    events: new Map(),
    layers: {
      contactLine: null,
      controlAreas: {},
      zones: {},
      observations: observationLayer,
      events: eventLayer,
      observationKinds: {},
      graticule: graticule,
    },
    agreement: null,
    bbox: null,
    truncated: false,
    ready: null,
  };
  window.garant = garant;

  // What the side panel lists for the agreement: [{title, rows: [{label, swatch, layer}]}]
  var agreementSections = [];
  var hiddenKinds = {}; // kinds switched off by the user survive a refetch

  // ------------------------------------------------------------ agreement

  function drawAgreement(collection) {
    var meta = (collection && collection.properties) || {};
    var features = (collection && collection.features) || [];
    garant.agreement = meta;

    if (meta.title) {
      titleEl.firstChild.textContent = meta.title + " ";
      document.title = meta.title + " · Garant";
    }
    agreementIdEl.textContent = meta.agreement ? meta.agreement : "";
    map.attributionControl.addAttribution("Geography: the loaded agreement (demo geography is approximate)");

    var areas = [];
    var zones = [];
    var lines = [];
    features.forEach(function (f) {
      var layer = (f.properties || {}).layer;
      if (layer === "control_area") areas.push(f);
      else if (layer === "zone") zones.push(f);
      else if (layer === "contact_line") lines.push(f);
    });

    var agreementRows = [];
    var zoneRows = [];

    if (lines.length) {
      var lineCollection = { type: "FeatureCollection", features: lines };
      var casing = L.geoJSON(lineCollection, {
        pane: "garant-line",
        className: "garant-contact-line-casing",
        style: CONTACT_LINE_CASING,
        interactive: false,
      });
      var stroke = L.geoJSON(lineCollection, {
        pane: "garant-line",
        className: "garant-contact-line",
        style: CONTACT_LINE_STYLE,
        interactive: false,
      });
      var line = L.featureGroup([casing, stroke]).addTo(map);
      garant.layers.contactLine = line;
      agreementRows.push({ label: "Contact line", swatch: swatch("garant-swatch-line"), layer: line, key: "contact-line" });
    }

    areas.forEach(function (f, i) {
      var p = f.properties || {};
      var party = p.party || p.id || "?";
      var colour = partyColour(party, i);
      var label = p.name || "Controlled by " + party;
      var layer = L.geoJSON(f, {
        pane: "garant-areas",
        className: "garant-control-area garant-control-area-" + cssToken(party),
        style: { color: colour, weight: 1, opacity: 0.7, fillColor: colour, fillOpacity: 0.16 },
      }).addTo(map);
      layer.bindTooltip(label, { sticky: true });
      garant.layers.controlAreas[party] = layer;
      agreementRows.push({
        label: label,
        swatch: swatch("garant-swatch-area", colour),
        layer: layer,
        key: "area-" + cssToken(party),
      });
    });

    var perKind = {};
    zones.forEach(function (f, i) {
      var p = f.properties || {};
      var kind = p.kind || "zone";
      var style = ZONE_STYLES[kind] || ZONE_FALLBACK;
      var nth = perKind[kind] || 0;
      perKind[kind] = nth + 1;
      var colour = style.colours[nth % style.colours.length];
      var id = String(p.id || p.name || "zone-" + i);
      var label = p.name || id;
      var layer = L.geoJSON(f, {
        pane: "garant-zones",
        className: "garant-zone garant-zone-" + cssToken(kind),
        style: { color: colour, dashArray: style.dashArray, weight: 2, opacity: 0.9, fill: false },
      }).addTo(map);
      layer.bindTooltip(label, { sticky: true });
      garant.layers.zones[id] = layer;
      zoneRows.push({
        label: label,
        swatch: swatch("garant-swatch-zone", colour, style.dashArray),
        layer: layer,
        key: "zone-" + cssToken(id),
        note: kind,
      });
    });

    agreementSections = [];
    if (agreementRows.length) agreementSections.push({ title: "Agreement", rows: agreementRows });
    if (zoneRows.length) agreementSections.push({ title: "Zones", rows: zoneRows });

    var fitTo = garant.layers.contactLine;
    if (!fitTo && features.length) fitTo = L.geoJSON(collection);
    if (fitTo && fitTo.getBounds().isValid()) fitMap(fitTo.getBounds());

    var all = L.geoJSON(collection).getBounds();
    if (all.isValid()) {
      var padded = all.pad(0.1);
      garant.bbox = [
        Math.max(-180, padded.getWest()),
        Math.max(-90, padded.getSouth()),
        Math.min(180, padded.getEast()),
        Math.min(90, padded.getNorth()),
      ]
        .map(function (v) {
          return v.toFixed(5);
        })
        .join(",");
    }
  }

  function loadAgreement() {
    return fetchJson(apiBase + "/agreement/geojson").then(
      function (result) {
        if (result.ok && result.body && Array.isArray(result.body.features)) {
          drawAgreement(result.body);
          body.dataset.agreement = "loaded";
          return true;
        }
        if (result.status === 404) {
          body.dataset.agreement = "missing";
          showMessage(
            "No ceasefire agreement is loaded.",
            "The contact line, control areas and zones cannot be drawn until an agreement is loaded " +
              "on this server; observations are shown on their own. Server said: " +
              problemText(result),
            "warning"
          );
        } else {
          body.dataset.agreement = "error";
          showMessage("Could not load the agreement.", problemText(result));
        }
        return false;
      },
      function (err) {
        body.dataset.agreement = "error";
        showMessage("Could not reach the server for the agreement.", String(err));
        return false;
      }
    );
  }

  // --------------------------------------------------------- observations

  function popupFor(props) {
    var box = el("div", "garant-popup");
    box.appendChild(el("h2", "garant-popup-title", kindLabel(props.kind)));
    var dl = el("dl");
    function row(term, value) {
      dl.appendChild(el("dt", null, term));
      dl.appendChild(el("dd", null, value === undefined || value === null || value === "" ? "—" : value));
    }
    row("Time", formatTime(props.observed_at));
    row("Source", (props.source_id || "unknown") + (props.nation ? " (" + props.nation + ")" : ""));
    var rel = props.reliability == null ? "?" : props.reliability;
    var cred = props.credibility == null ? "?" : props.credibility;
    row("Grade", rel + String(cred) + " — source reliability " + rel + ", information credibility " + cred);
    row("Id", props.id);
    box.appendChild(dl);
    return box;
  }

  function kindGroup(kind) {
    var group = garant.layers.observationKinds[kind];
    if (!group) {
      group = L.featureGroup([], { pane: "garant-observations" });
      garant.layers.observationKinds[kind] = group;
    }
    if (!hiddenKinds[kind] && !observationLayer.hasLayer(group)) observationLayer.addLayer(group);
    return group;
  }

  function addObservation(feature) {
    var p = feature.properties || {};
    var g = feature.geometry;
    if (!g || g.type !== "Point" || !Array.isArray(g.coordinates)) return;
    var id = p.id != null ? String(p.id) : feature.id != null ? String(feature.id) : null;
    if (id === null || garant.observations.has(id)) return;
    if (p.id == null) p.id = id;
    var kind = p.kind || "unknown";
    var marker = L.circleMarker([g.coordinates[1], g.coordinates[0]], {
      pane: "garant-observations",
      className: "garant-obs garant-obs-" + cssToken(kind),
      radius: 5.5,
      color: "#ffffff",
      weight: 1,
      fillColor: kindColour(kind),
      fillOpacity: 0.88,
    });
    marker.feature = feature;
    marker.bindPopup(function () {
      return popupFor(p);
    });
    marker.bindTooltip(kindLabel(kind) + " · " + formatTime(p.observed_at), { direction: "top" });
    marker.addTo(kindGroup(kind));
    garant.observations.set(id, marker);
  }

  /** A listing URL with the page's filters: bbox of the agreement, the time range. */
  function listingUrl(path, kinds) {
    var params = new URLSearchParams();
    params.set("limit", String(PAGE_LIMIT));
    (kinds || []).forEach(function (k) {
      params.append("kind", k);
    });
    if (garant.bbox) params.set("bbox", garant.bbox);
    var start = inputToIso(startInput.value);
    var end = inputToIso(endInput.value);
    if (start) params.set("start", start);
    if (end) params.set("end", end);
    return apiBase + path + "?" + params.toString();
  }

  /** Every page of a GeoJSON listing from `url` (never leaving this origin), each feature to
   *  `onFeature`; resolves true when complete, false when the server refused. */
  function fetchAllPages(url, onFeature, what) {
    var seen = {};
    function page(u, n) {
      if (n >= PAGE_CAP) {
        garant.truncated = true;
        return Promise.resolve(true);
      }
      seen[u] = true;
      return fetchJson(u).then(function (result) {
        if (!result.ok || !result.body || !Array.isArray(result.body.features)) {
          showMessage("Could not load " + what + ".", problemText(result));
          return false;
        }
        result.body.features.forEach(onFeature);
        var next = result.body.links && result.body.links.next;
        if (!next) return true;
        var nextUrl = new URL(next, window.location.href);
        if (!sameOrigin(nextUrl.href) || seen[nextUrl.href]) return true; // never leave this origin
        return page(nextUrl.href, n + 1);
      });
    }
    return page(new URL(url, window.location.href).href, 0).catch(function (err) {
      showMessage("Could not reach the server for " + what + ".", String(err));
      return false;
    });
  }

  function loadObservations() {
    map.closePopup();
    Object.keys(garant.layers.observationKinds).forEach(function (k) {
      garant.layers.observationKinds[k].clearLayers();
    });
    garant.observations.clear();
    garant.truncated = false;
    return fetchAllPages(listingUrl("/observations"), addObservation, "observations");
  }

  // ------------------------------------------------- the verified bulletin's events

  function attributionText(props) {
    var a = props.attribution;
    if (!a) return "undetermined" + (props.status_reason ? " — " + props.status_reason : "");
    return Object.keys(a)
      .sort(function (x, y) {
        return a[y] - a[x];
      })
      .map(function (party) {
        return party + " " + (100 * a[party]).toFixed(a[party] > 0.99 || a[party] < 0.01 ? 1 : 0) + "%";
      })
      .join(" · ");
  }

  function eventPopup(props) {
    var box = el("div", "garant-popup");
    box.appendChild(el("h2", "garant-popup-title", "Event: " + props.kind));
    var dl = el("dl");
    function row(term, value) {
      dl.appendChild(el("dt", null, term));
      dl.appendChild(el("dd", null, value === undefined || value === null || value === "" ? "—" : String(value)));
    }
    row("Time", formatTime(props.time));
    if (props.placed_at) {
      row("Placed at", props.placed_at === "origin" ? "the firing point (where it fell is unknown)" : "the impact");
    }
    row("Level", props.level + (props.technical ? " (technical source)" : ""));
    row("Status", props.status + " · " + props.evaluation_mode);
    row("Attribution", attributionText(props));
    row("Weapon", props.weapon_class);
    row("Rounds", props.rounds);
    row("Reports", props.n_observations);
    row("Id", props.id);
    box.appendChild(dl);
    return box;
  }

  function addEvent(feature) {
    var p = feature.properties || {};
    var g = feature.geometry;
    if (!g || g.type !== "Point" || !Array.isArray(g.coordinates) || p.kind === "acoustic") return;
    var id = String(feature.id != null ? feature.id : p.id);
    if (garant.events.has(id)) return;
    var level = p.level || "reported";
    var at = [g.coordinates[1], g.coordinates[0]];
    var group = L.featureGroup([], { pane: "garant-events" });
    if (p.origin && typeof p.origin.lon === "number") {
      L.polyline([[p.origin.lat, p.origin.lon], at], {
        pane: "garant-events",
        className: "garant-event-flight",
        color: LEVEL_COLOURS[level] || "#555555",
        weight: 1.5,
        dashArray: "4 4",
        interactive: false,
      }).addTo(group);
      L.circleMarker([p.origin.lat, p.origin.lon], {
        pane: "garant-events",
        className: "garant-event-origin",
        radius: 3,
        color: LEVEL_COLOURS[level] || "#555555",
        weight: 1.5,
        fillOpacity: 1,
        interactive: false,
      }).addTo(group);
    }
    var marker = L.circleMarker(at, {
      pane: "garant-events",
      className: "garant-event garant-event-" + cssToken(level) + " garant-event-kind-" + cssToken(p.kind),
      radius: 8,
      color: LEVEL_COLOURS[level] || "#555555",
      weight: 2.5,
      fillColor: "#ffffff",
      fillOpacity: 0.35,
    });
    marker.feature = feature;
    marker.bindPopup(function () {
      return eventPopup(p);
    });
    marker.bindTooltip(p.kind + " · " + level + " · " + formatTime(p.time), { direction: "top" });
    marker.addTo(group);
    group.addTo(eventLayer);
    garant.events.set(id, marker);
  }

  function loadEvents() {
    eventLayer.clearLayers();
    garant.events.clear();
    return fetchAllPages(listingUrl("/events", EVENT_KINDS), addEvent, "events");
  }

  // ------------------------------------------------- side panel: legend + layers

  var SVG_NS = "http://www.w3.org/2000/svg";

  function swatch(className, colour, dashArray) {
    var s = el("span", "garant-swatch " + className);
    s.setAttribute("aria-hidden", "true");
    if (colour) s.style.setProperty("--swatch", colour);
    if (dashArray) {
      // a dashed zone outline, drawn as the map draws it
      var svg = document.createElementNS(SVG_NS, "svg");
      svg.setAttribute("width", "26");
      svg.setAttribute("height", "12");
      svg.setAttribute("viewBox", "0 0 26 12");
      var line = document.createElementNS(SVG_NS, "line");
      [["x1", "1"], ["y1", "6"], ["x2", "25"], ["y2", "6"], ["stroke", colour], ["stroke-width", "2"],
        ["stroke-dasharray", dashArray]].forEach(function (a) {
        line.setAttribute(a[0], a[1]);
      });
      svg.appendChild(line);
      s.appendChild(svg);
    }
    return s;
  }

  function layerRow(row, onToggle, isOn) {
    var label = el("label", "garant-layer-row");
    label.dataset.layer = row.key;
    var box = el("input");
    box.type = "checkbox";
    box.checked = isOn;
    box.addEventListener("change", function () {
      onToggle(box.checked);
    });
    label.appendChild(box);
    label.appendChild(row.swatch);
    var text = el("span", "garant-layer-label", row.label);
    label.appendChild(text);
    if (row.count !== undefined) label.appendChild(el("span", "garant-layer-count", row.count));
    return label;
  }

  function mapToggle(layer) {
    return function (on) {
      if (on) map.addLayer(layer);
      else map.removeLayer(layer);
    };
  }

  function section(title, rows, makeRow) {
    var sec = el("section", "garant-panel-section");
    sec.appendChild(el("h2", null, title));
    rows.forEach(function (r) {
      sec.appendChild(makeRow(r));
    });
    return sec;
  }

  function renderSidebar() {
    sidebarEl.textContent = "";
    agreementSections.forEach(function (s) {
      sidebarEl.appendChild(
        section(s.title, s.rows, function (r) {
          return layerRow(r, mapToggle(r.layer), map.hasLayer(r.layer));
        })
      );
    });

    var kindCounts = {};
    garant.observations.forEach(function (marker) {
      var k = (marker.feature.properties || {}).kind || "unknown";
      kindCounts[k] = (kindCounts[k] || 0) + 1;
    });
    var kinds = Object.keys(kindCounts).sort(function (a, b) {
      return kindLabel(a).localeCompare(kindLabel(b));
    });
    var obsRows = kinds.map(function (k) {
      return {
        label: kindLabel(k),
        swatch: swatch("garant-swatch-obs", kindColour(k)),
        key: "obs-" + cssToken(k),
        count: kindCounts[k],
        kind: k,
      };
    });
    var obsSection = section("Observations", obsRows, function (r) {
      return layerRow(
        r,
        function (on) {
          var group = garant.layers.observationKinds[r.kind];
          if (on) {
            delete hiddenKinds[r.kind];
            observationLayer.addLayer(group);
          } else {
            hiddenKinds[r.kind] = true;
            observationLayer.removeLayer(group);
          }
        },
        !hiddenKinds[r.kind]
      );
    });
    if (!kinds.length) obsSection.appendChild(el("p", "garant-panel-note", "None for this area and time."));
    sidebarEl.appendChild(obsSection);

    var levelCounts = {};
    garant.events.forEach(function (marker) {
      var lv = (marker.feature.properties || {}).level || "reported";
      levelCounts[lv] = (levelCounts[lv] || 0) + 1;
    });
    var eventRows = [
      {
        label: "Events (origin ◦ - - ● impact)",
        swatch: swatch("garant-swatch-event", LEVEL_COLOURS.corroborated),
        key: "events",
        count: garant.events.size,
        layer: eventLayer,
      },
    ];
    var evSection = section("Verified bulletin", eventRows, function (r) {
      return layerRow(r, mapToggle(r.layer), map.hasLayer(r.layer));
    });
    var legend = Object.keys(LEVEL_COLOURS)
      .filter(function (lv) {
        return levelCounts[lv];
      })
      .map(function (lv) {
        return lv + " " + levelCounts[lv];
      })
      .join(" · ");
    evSection.appendChild(el("p", "garant-panel-note", legend || "None you may see for this area and time."));
    sidebarEl.appendChild(evSection);

    sidebarEl.appendChild(
      section(
        "Map",
        [{ label: "Latitude/longitude grid", swatch: swatch("garant-swatch-grid"), layer: graticule, key: "graticule" }],
        function (r) {
          return layerRow(r, mapToggle(r.layer), map.hasLayer(r.layer));
        }
      )
    );
  }

  // --------------------------------------------------------------- driver

  function finish() {
    var count = garant.observations.size;
    countEl.textContent = String(count) + (garant.truncated ? "+" : "");
    countEl.title = garant.truncated
      ? "Only the first " + PAGE_CAP + " pages of " + PAGE_LIMIT + " were loaded; narrow the time range"
      : "";
    body.dataset.observationCount = String(count);
    body.dataset.eventCount = String(garant.events.size);
    renderSidebar();
    if (!garant.layers.contactLine && !garant.agreement && count > 0) {
      fitMap(observationLayer.getBounds(), 10);
    }
    body.dataset.loaded = "true";
    return { count: count, agreement: garant.agreement };
  }

  function failed(err) {
    console.error(err); // a bug in this script, not an HTTP error: those are shown on the page
    return finish();
  }

  function refreshObservations() {
    body.dataset.loaded = "false";
    garant.ready = Promise.all([loadObservations(), loadEvents()]).then(finish, failed);
    return garant.ready;
  }

  function syncUrl() {
    var params = new URLSearchParams(window.location.search);
    var start = inputToIso(startInput.value);
    var end = inputToIso(endInput.value);
    if (start) params.set("start", start);
    else params.delete("start");
    if (end) params.set("end", end);
    else params.delete("end");
    var q = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (q ? "?" + q : ""));
  }

  filterForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var start = inputToIso(startInput.value);
    var end = inputToIso(endInput.value);
    if (start && end && new Date(start) > new Date(end)) {
      showMessage("The time filter is empty.", "“From” is after “To”.", "warning");
      return;
    }
    if (body.dataset.agreement === "loaded") clearMessage();
    syncUrl();
    refreshObservations();
  });
  filterForm.addEventListener("reset", function () {
    body.dataset.loaded = "false";
    // after the browser has cleared the inputs
    window.setTimeout(function () {
      if (body.dataset.agreement === "loaded") clearMessage();
      syncUrl();
      refreshObservations();
    }, 0);
  });

  (function initFromUrl() {
    var params = new URLSearchParams(window.location.search);
    if (params.get("start")) startInput.value = isoToInput(params.get("start"));
    if (params.get("end")) endInput.value = isoToInput(params.get("end"));
  })();

  body.dataset.loaded = "false";
  garant.ready = loadAgreement()
    .then(function () {
      return Promise.all([loadObservations(), loadEvents()]);
    })
    .then(finish, failed);
})();
