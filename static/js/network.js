// TSOps network of linked accounts: draws the graph with the vendored Cytoscape.js.
// The data comes from the <script type="application/json" id="network-data"> block the page
// renders with json_script (read as text, never executed: the Content-Security-Policy allows
// scripts from files only). Clicking an account fetches its own one-hop network from the JSON
// route and merges it; clicking a hub opens it. The tables below the graph hold the same data
// and are redrawn after every merge, for keyboard and screen-reader users.
(function () {
  "use strict";

  var STANDING_COLORS = { actioned: "#b3261e", evasion: "#a35a00", open: "#2a63cc", quiet: "#9aa3b2" };
  var EDGE_COLORS = { device: "#0f8b8d", payment: "#7a4fd6", email: "#c2185b", phone: "#b04e0a", ip: "#5d6677" };

  function readJson(id) {
    var block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : null;
  }

  var data = readJson("network-data");
  var page = readJson("network-page");
  var container = document.getElementById("network-graph");
  if (!data || !page || !container) return;

  var nodes = {}; // id -> node as the server gave it (depth relative to the page's seed)
  var edges = {}; // key -> edge
  var expanded = {}; // account node ids whose neighbours are in, hub ids that are open
  var kindLabels = page.kind_labels || {};
  var cy = null;

  function edgeKey(edge) {
    var ends = [edge.source, edge.target].sort();
    return ends[0] + "|" + ends[1] + "|" + edge.kind + "|" + edge.masked;
  }

  function standingOf(node) {
    var s = node.standing || {};
    if (s.actioned) return "actioned";
    if (s.evasion_suspect) return "evasion";
    if (s.open_cases) return "open";
    return "quiet";
  }

  function shortName(text) {
    return text.length > 22 ? text.slice(0, 20) + "…" : text;
  }

  function nodeLabel(node) {
    if (node.kind === "hub") {
      return (kindLabels[node.identifier_kind] || node.identifier_kind) + " hub · over " + node.accounts_over + "\n" + node.masked;
    }
    return shortName(node.external_id);
  }

  function nodeElement(node) {
    var standing = node.kind === "hub" ? "hub" : standingOf(node);
    var classes = [node.kind, standing];
    if (node.depth === 0 && node.external_id === page.seed) classes.push("seed");
    return {
      group: "nodes",
      data: { id: node.id, label: nodeLabel(node), color: STANDING_COLORS[standing] || "#6b4fa0", depth: node.depth },
      classes: classes.join(" "),
    };
  }

  function edgeElement(edge, key) {
    return {
      group: "edges",
      data: {
        id: "e" + key,
        source: edge.source,
        target: edge.target,
        label: kindLabels[edge.kind] || edge.kind,
        color: EDGE_COLORS[edge.kind] || "#5d6677",
      },
      classes: edge.target.indexOf("hub-") === 0 ? "to-hub" : "",
    };
  }

  // --- Merging answers ---------------------------------------------------------------------

  function merge(answer, baseDepth) {
    var added = [];
    answer.nodes.forEach(function (node) {
      var depth = node.depth + baseDepth;
      var known = nodes[node.id];
      if (known) {
        if (depth < known.depth) known.depth = depth;
        if (node.kind === "hub" && node.expanded) known.expanded = true;
        return;
      }
      node.depth = depth;
      nodes[node.id] = node;
      added.push(nodeElement(node));
    });
    answer.edges.forEach(function (edge) {
      var key = edgeKey(edge);
      if (edges[key]) return;
      edges[key] = edge;
      added.push(edgeElement(edge, key));
    });
    return added;
  }

  function markInitialExpansion() {
    var hops = 0;
    Object.keys(nodes).forEach(function (id) { hops = Math.max(hops, nodes[id].depth); });
    Object.keys(nodes).forEach(function (id) {
      var node = nodes[id];
      if (node.kind === "account" && node.depth < hops) expanded[id] = true;
      if (node.kind === "hub" && node.expanded) expanded[id] = true;
    });
  }

  function layout(fresh) {
    // Rings by depth first (the seed in the middle), then a force-directed pass from there so
    // hubs sit among the accounts they link and rings pull together; no randomness, so the
    // same network draws the same way.
    if (fresh) {
      var maxDepth = 0;
      cy.nodes().forEach(function (n) { maxDepth = Math.max(maxDepth, n.data("depth")); });
      cy.layout({
        name: "concentric",
        concentric: function (n) { return maxDepth + 1 - n.data("depth"); },
        levelWidth: function () { return 1; },
        minNodeSpacing: 50,
        animate: false,
        fit: false,
      }).run();
    }
    cy.layout({
      name: "cose",
      randomize: false,
      animate: false,
      fit: true,
      padding: 40,
      nodeDimensionsIncludeLabels: true,
      idealEdgeLength: function () { return 60; },
      nodeRepulsion: function () { return 5000; },
      edgeElasticity: function () { return 80; },
      gravity: 0.6,
      numIter: 1200,
    }).run();
    // A handful of nodes would otherwise be blown up to fill the canvas.
    if (cy.zoom() > 1.15) {
      cy.zoom(1.15);
      cy.center();
    }
  }

  function query(extra) {
    var params = new URLSearchParams();
    params.set("hops", "1");
    if (page.query.kinds) params.set("kinds", page.query.kinds);
    if (page.query.since) params.set("since", page.query.since);
    if (page.query.until) params.set("until", page.query.until);
    Object.keys(extra || {}).forEach(function (k) { params.set(k, extra[k]); });
    return params.toString();
  }

  var status = document.getElementById("network-selection-text");

  function say(text) {
    if (status) status.textContent = text;
  }

  function fetchAndMerge(url, baseDepth, near, done) {
    container.setAttribute("aria-busy", "true");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (answer) {
        var added = merge(answer, baseDepth);
        if (added.length) {
          var origin = near ? cy.getElementById(near).position() : { x: 0, y: 0 };
          added.forEach(function (element, i) {
            if (element.group !== "nodes") return;
            var angle = (i / added.length) * 2 * Math.PI;
            element.position = { x: origin.x + 60 * Math.cos(angle), y: origin.y + 60 * Math.sin(angle) };
          });
          cy.add(added);
          layout(false);
        }
        if (done) done(answer);
        refresh();
      })
      .catch(function () {
        say("Could not load more of the network. Try again, or reload the page.");
      })
      .finally(function () {
        container.removeAttribute("aria-busy");
      });
  }

  function expandAccount(id) {
    var node = nodes[id];
    if (!node || node.kind !== "account" || expanded[id]) return null;
    expanded[id] = true;
    return fetchAndMerge(node.data_url + "?" + query(), node.depth, id);
  }

  function expandHub(id) {
    var hub = nodes[id];
    if (!hub || hub.kind !== "hub" || expanded[id]) return null;
    // Ask for the hub through one of the accounts that reached it.
    var holder = null;
    Object.keys(edges).forEach(function (key) {
      var edge = edges[key];
      if (!holder && edge.target === id && nodes[edge.source]) holder = nodes[edge.source];
    });
    if (!holder) return null;
    expanded[id] = true;
    return fetchAndMerge(holder.data_url + "?" + query({ expand: id }), holder.depth, id, function () {
      hub.expanded = true;
    });
  }

  // --- Selection -----------------------------------------------------------------------------

  var openLink = document.getElementById("network-open-account");
  var members = document.getElementById("network-cluster-members");
  var submit = document.getElementById("network-cluster-submit");

  function selectedAccounts() {
    return cy.nodes(".account:selected").map(function (n) { return nodes[n.id()]; });
  }

  function showSelection() {
    var chosen = selectedAccounts();
    if (status) {
      status.textContent = "";
      if (!chosen.length) {
        status.textContent = "Nothing selected.";
      } else {
        status.appendChild(document.createTextNode(chosen.length + " account" + (chosen.length === 1 ? "" : "s") + " selected:"));
        var list = document.createElement("ul");
        chosen.forEach(function (node) {
          var item = document.createElement("li");
          item.textContent = node.external_id;
          list.appendChild(item);
        });
        status.appendChild(list);
      }
    }
    var last = chosen.length ? chosen[chosen.length - 1] : null;
    if (openLink) {
      openLink.hidden = !(last && last.url);
      if (last && last.url) {
        openLink.href = last.url;
        openLink.textContent = "Open account " + shortName(last.external_id);
      }
    }
    if (members) {
      members.textContent = "";
      chosen.forEach(function (node) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "members";
        input.value = node.external_id;
        members.appendChild(input);
      });
    }
    if (submit && !submit.dataset.unavailable) submit.disabled = chosen.length === 0;
    document.querySelectorAll("#network-account-rows tr[data-node]").forEach(function (row) {
      var on = cy.getElementById(row.dataset.node).selected();
      row.classList.toggle("network-selected", on);
      var box = row.querySelector("input.network-select");
      if (box) box.checked = on;
    });
  }

  // --- Tables (redrawn from the merged data) -------------------------------------------------

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (text !== undefined && text !== null) td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function link(parent, text, href) {
    if (!href) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    parent.appendChild(a);
  }

  function badge(parent, text, tone) {
    var span = document.createElement("span");
    span.className = "badge" + (tone ? " " + tone : "");
    span.textContent = text;
    parent.appendChild(span);
    parent.appendChild(document.createTextNode(" "));
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function identifierTag(parent, kind, masked) {
    var tag = document.createElement("span");
    tag.className = "tag";
    tag.appendChild(document.createTextNode((kindLabels[kind] || kind) + " "));
    var value = document.createElement("span");
    value.className = "mono";
    value.textContent = masked;
    tag.appendChild(value);
    parent.appendChild(tag);
  }

  function nodeName(id) {
    var node = nodes[id];
    if (!node) return id;
    return node.kind === "hub" ? "hub " + (kindLabels[node.identifier_kind] || node.identifier_kind) + " " + node.masked : node.external_id;
  }

  function sortedNodes(kind) {
    return Object.keys(nodes)
      .map(function (id) { return nodes[id]; })
      .filter(function (n) { return n.kind === kind; })
      .sort(function (a, b) { return a.depth - b.depth || (a.external_id || a.id).localeCompare(b.external_id || b.id); });
  }

  function drawTables() {
    var shared = {};
    Object.keys(edges).forEach(function (key) {
      var edge = edges[key];
      [edge.source, edge.target].forEach(function (end) {
        shared[end] = shared[end] || {};
        shared[end][edge.kind + "|" + edge.masked] = [edge.kind, edge.masked];
      });
    });
    var body = document.getElementById("network-account-rows");
    if (body) {
      body.textContent = "";
      sortedNodes("account").forEach(function (node) {
        var row = document.createElement("tr");
        row.dataset.node = node.id;
        var select = cell(row, null, "select");
        var box = document.createElement("input");
        box.type = "checkbox";
        box.className = "network-select";
        box.value = node.id;
        box.setAttribute("aria-label", "Select " + node.external_id);
        select.appendChild(box);
        link(cell(row), node.external_id, node.url);
        cell(row, String(node.depth), "num");
        var standing = cell(row);
        var s = node.standing || {};
        if (s.actioned) badge(standing, "actioned", "bad");
        if (s.evasion_suspect) badge(standing, "evasion suspect", "warn");
        if (s.open_cases) badge(standing, plural(s.open_cases, "open case"));
        if (s.strikes) badge(standing, plural(s.strikes, "strike"));
        if (!standing.childNodes.length) standing.innerHTML = '<span class="muted">—</span>';
        var ids = cell(row);
        var mine = shared[node.id] || {};
        Object.keys(mine).sort().forEach(function (k) { identifierTag(ids, mine[k][0], mine[k][1]); });
        if (!ids.childNodes.length) ids.innerHTML = '<span class="muted">—</span>';
        var action = cell(row);
        if (expanded[node.id]) {
          action.innerHTML = '<span class="muted">shown</span>';
        } else {
          var button = document.createElement("button");
          button.type = "button";
          button.className = "btn secondary small-btn network-expand";
          button.dataset.node = node.id;
          button.textContent = "Neighbours";
          button.setAttribute("aria-label", "Add the neighbours of " + node.external_id);
          action.appendChild(button);
        }
        body.appendChild(row);
      });
    }
    var hubs = document.getElementById("network-hub-rows");
    if (hubs) {
      hubs.textContent = "";
      var hubList = sortedNodes("hub");
      hubList.forEach(function (hub) {
        var row = document.createElement("tr");
        row.dataset.node = hub.id;
        var what = cell(row);
        identifierTag(what, hub.identifier_kind, hub.masked);
        cell(row, "more than " + hub.accounts_over + " accounts");
        var action = cell(row);
        if (expanded[hub.id]) {
          action.innerHTML = '<span class="muted">opened</span>';
        } else {
          var button = document.createElement("button");
          button.type = "button";
          button.className = "btn secondary small-btn network-expand-hub";
          button.dataset.hub = hub.id;
          button.textContent = "Open hub";
          action.appendChild(button);
        }
        hubs.appendChild(row);
      });
      if (!hubList.length) hubs.innerHTML = '<tr><td colspan="3" class="muted">No hub.</td></tr>';
    }
    var links = document.getElementById("network-edge-rows");
    if (links) {
      links.textContent = "";
      Object.keys(edges).forEach(function (key) {
        var edge = edges[key];
        var row = document.createElement("tr");
        link(cell(row), nodeName(edge.source), (nodes[edge.source] || {}).url);
        link(cell(row), nodeName(edge.target), (nodes[edge.target] || {}).url);
        identifierTag(cell(row), edge.kind, edge.masked);
        cell(row, edge.first_seen.slice(0, 10));
        cell(row, edge.last_seen.slice(0, 10));
        links.appendChild(row);
      });
      if (!Object.keys(edges).length) links.innerHTML = '<tr><td colspan="5" class="muted">No link.</td></tr>';
    }
  }

  function drawCounts() {
    var accounts = sortedNodes("account").length;
    var count = document.getElementById("network-account-count");
    if (count) {
      count.textContent = accounts;
      count.dataset.count = accounts;
    }
    var hubCount = document.getElementById("network-hub-count");
    if (hubCount) hubCount.textContent = sortedNodes("hub").length;
    var edgeCount = document.getElementById("network-edge-count");
    if (edgeCount) edgeCount.textContent = Object.keys(edges).length;
    container.setAttribute("aria-label", "Graph of " + accounts + " linked accounts; the same data is in the tables below.");
  }

  function refresh() {
    drawTables();
    drawCounts();
    showSelection();
  }

  // --- Start ---------------------------------------------------------------------------------

  // Cytoscape.js adds a <style> element (refused by the policy) unless an element with this id
  // exists: the stylesheet holding its one rule (network.css) takes the id.
  if (!document.getElementById("__________cytoscape_stylesheet")) {
    var sheet = document.querySelector('link[rel=stylesheet][href*="network"]');
    if (sheet) sheet.id = "__________cytoscape_stylesheet";
  }

  var elements = merge(data, 0);
  markInitialExpansion();
  cy = window.cytoscape({
    container: container,
    elements: elements,
    boxSelectionEnabled: true,
    selectionType: "additive",
    minZoom: 0.2,
    maxZoom: 3,
    wheelSensitivity: 0.3,
    style: [
      {
        selector: "node",
        style: {
          "background-color": "data(color)",
          label: "data(label)",
          "font-size": 14,
          "font-family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
          color: "#1d2330",
          "text-valign": "bottom",
          "text-margin-y": 4,
          "text-background-color": "#ffffff",
          "text-background-opacity": 0.85,
          "text-background-padding": 2,
          "text-background-shape": "roundrectangle",
          width: 22,
          height: 22,
          "border-width": 2,
          "border-color": "#ffffff",
          "min-zoomed-font-size": 6,
        },
      },
      { selector: "node.evasion", style: { shape: "diamond", width: 26, height: 26 } },
      { selector: "node.seed", style: { width: 32, height: 32, "border-width": 4, "border-color": "#1d2330", "font-weight": 700 } },
      {
        selector: "node.hub",
        style: {
          shape: "round-rectangle",
          width: 28,
          height: 20,
          "background-color": "#6b4fa0",
          "font-size": 12,
          color: "#3d2a66",
          "text-wrap": "wrap",
          "text-max-width": 160,
        },
      },
      { selector: "node:selected", style: { "border-width": 4, "border-color": "#f2b705", "overlay-opacity": 0 } },
      {
        selector: "edge",
        style: {
          width: 1.6,
          "line-color": "data(color)",
          "curve-style": "bezier",
          label: "data(label)",
          "font-size": 11,
          color: "#3a4252",
          "text-rotation": "autorotate",
          "text-background-color": "#fbfcfe",
          "text-background-opacity": 0.9,
          "text-background-padding": 1,
          opacity: 0.85,
          "min-zoomed-font-size": 7,
        },
      },
      { selector: "edge.to-hub", style: { "line-style": "dashed", width: 1.2 } },
    ],
  });
  window.tsopsNetwork = {
    cy: cy,
    accountCount: function () { return sortedNodes("account").length; },
    expandAccount: expandAccount,
    expandHub: expandHub,
  };
  layout(true);
  refresh();

  cy.on("tap", "node.account", function (event) {
    expandAccount(event.target.id());
  });
  cy.on("tap", "node.hub", function (event) {
    event.target.unselect();
    expandHub(event.target.id());
  });
  cy.on("select unselect", "node", function () {
    showSelection();
  });

  document.addEventListener("click", function (event) {
    var expand = event.target.closest("button.network-expand");
    if (expand) {
      var id = expand.dataset.node || (Object.keys(nodes).filter(function (k) { return nodes[k].data_url === expand.dataset.url; })[0]);
      if (id) expandAccount(id);
      return;
    }
    var hub = event.target.closest("button.network-expand-hub");
    if (hub) expandHub(hub.dataset.hub);
  });
  document.addEventListener("change", function (event) {
    if (!event.target.matches("input.network-select")) return;
    var node = cy.getElementById(event.target.value);
    if (event.target.checked) node.select();
    else node.unselect();
  });
})();
