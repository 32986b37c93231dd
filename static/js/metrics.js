// TSOps metrics pages: draw the trend charts with the vendored Chart.js.
// The data comes from the <script type="application/json" id="metrics-charts"> block the page
// renders with Django's json_script (read as text, never executed: the Content-Security-Policy
// allows scripts from files only). Changing the filters loads the page again (a GET form), so
// the charts are drawn afresh from the new block; the live operations table alone refreshes
// itself through htmx, and leaves the charts as they are.
(function () {
  "use strict";

  var COLORS = ["#2f6fde", "#d9730d", "#1e7a45", "#b3261e", "#7a4fd6", "#0f8b8d", "#5d6677", "#c2185b"];
  var TIME_UNITS = { seconds: "s", minutes: "min", hours: "h", days: "d" };

  function format(value, unit) {
    if (value === null || value === undefined || isNaN(value)) return "—";
    if (unit === "%") return (Math.round(value * 10) / 10) + "%";
    if (unit === "hours") return (Math.round(value * 10) / 10) + " h";
    if (unit === "minutes") {
      // The unit that reads best, as on the figure tiles: "42 min", "5.3 h", "3.2 d".
      if (value < 90) return (value < 10 ? value.toFixed(1) : Math.round(value)) + " min";
      if (value < 48 * 60) return (value / 60).toFixed(1) + " h";
      return (value / 1440).toFixed(1) + " d";
    }
    if (TIME_UNITS[unit]) return value.toLocaleString(undefined, { maximumFractionDigits: 1 }) + " " + TIME_UNITS[unit];
    return value.toLocaleString(undefined, { maximumFractionDigits: 2 });
  }

  function shortDate(label) {
    // "2025-03-04" -> "4 Mar"
    var parts = /^(\d{4})-(\d{2})-(\d{2})$/.exec(label || "");
    if (!parts) return label;
    var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    return parseInt(parts[3], 10) + " " + months[parseInt(parts[2], 10) - 1];
  }

  // Units of things counted one by one: their axis has whole numbers only.
  function counted(unit) {
    return unit !== "%" && unit !== "minutes" && unit !== "hours" && unit.indexOf("/") === -1;
  }

  function peak(spec) {
    var values = [];
    spec.datasets.forEach(function (set) { set.data.forEach(function (v) { if (v !== null) values.push(v); }); });
    return values.length ? Math.max.apply(null, values) : 0;
  }

  function config(spec) {
    var line = spec.kind === "line";
    var datasets = spec.datasets.map(function (set, i) {
      var color = COLORS[i % COLORS.length];
      return {
        label: set.label,
        data: set.data,
        borderColor: color,
        backgroundColor: line ? color + "22" : color + "cc",
        borderWidth: line ? 2 : 0,
        pointRadius: spec.labels.length > 45 ? 0 : 2,
        pointHoverRadius: 4,
        spanGaps: true,
        tension: 0.3,
        cubicInterpolationMode: "monotone",
        fill: false,
        maxBarThickness: 28,
      };
    });
    return {
      type: line ? "line" : "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: line ? "x" : "y",
        interaction: { mode: line ? "index" : "nearest", intersect: false },
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? (line ? shortDate(items[0].label) : items[0].label) : ""; },
              label: function (item) {
                var value = line ? item.parsed.y : item.parsed.x;
                return item.dataset.label + ": " + format(value, spec.unit);
              },
            },
          },
        },
        scales: line
          ? {
              x: { grid: { display: false }, ticks: { maxTicksLimit: 8, maxRotation: 0, callback: function (v) { return shortDate(this.getLabelForValue(v)); } } },
              y: {
                beginAtZero: true,
                // Rates up to 100%; a flat zero line still gets a readable axis.
                max: spec.unit === "%" && peak(spec) > 60 ? 100 : undefined,
                suggestedMax: spec.unit === "%" ? 10 : 1,
                ticks: { precision: counted(spec.unit) ? 0 : undefined, callback: function (v) { return format(v, spec.unit); } },
              },
            }
          : {
              x: { beginAtZero: true, suggestedMax: 1, ticks: { precision: counted(spec.unit) ? 0 : undefined, callback: function (v) { return format(v, spec.unit); } } },
              y: { grid: { display: false } },
            },
      },
    };
  }

  // Draws every chart of the page's data block (each canvas keeps its Chart instance, so a
  // second call replaces the drawings instead of stacking them).
  function draw() {
    var block = document.getElementById("metrics-charts");
    if (!block || typeof window.Chart === "undefined") return;
    var data;
    try {
      data = JSON.parse(block.textContent);
    } catch (e) {
      return;
    }
    var range = (data.from || "") + "/" + (data.to || "");
    (data.charts || []).forEach(function (spec) {
      var canvas = document.getElementById(spec.id);
      if (!canvas) return;
      var previous = window.Chart.getChart(canvas);
      if (previous) previous.destroy();
      new window.Chart(canvas, config(spec));
      canvas.setAttribute("data-range", range);
    });
    document.documentElement.setAttribute("data-charts-range", range);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
