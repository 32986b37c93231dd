// TSOps detector page: draw precision (with its interval) and recall by score threshold with
// the vendored Chart.js. The data is the <script type="application/json" id="operating-chart">
// block rendered by json_script (read as text, never executed: the Content-Security-Policy
// allows scripts from files only). The table beside the chart holds the same figures.
(function () {
  "use strict";

  function percent(value) {
    return value === null || value === undefined ? null : Math.round(value * 1000) / 10;
  }

  function draw() {
    var block = document.getElementById("operating-chart");
    var canvas = document.getElementById("operating-canvas");
    if (!block || !canvas || typeof window.Chart === "undefined") return;
    var rows;
    try {
      rows = JSON.parse(block.textContent);
    } catch (e) {
      return;
    }
    var labels = rows.map(function (r) { return r.threshold; });
    function series(pick) { return rows.map(function (r) { return percent(pick(r)); }); }
    var previous = window.Chart.getChart(canvas);
    if (previous) previous.destroy();
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: labels,
        datasets: [
          { label: "Precision", data: series(function (r) { return r.precision; }), borderColor: "#2f6fde", borderWidth: 2, pointRadius: 2, spanGaps: true },
          { label: "Precision, lower bound", data: series(function (r) { return r.interval && r.interval[0]; }), borderColor: "#2f6fde", borderDash: [4, 4], borderWidth: 1, pointRadius: 0, spanGaps: true },
          { label: "Precision, upper bound", data: series(function (r) { return r.interval && r.interval[1]; }), borderColor: "#2f6fde", borderDash: [4, 4], borderWidth: 1, pointRadius: 0, spanGaps: true },
          { label: "Recall", data: series(function (r) { return r.recall; }), borderColor: "#d9730d", borderWidth: 2, pointRadius: 2, spanGaps: true },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } } },
        scales: {
          x: { title: { display: true, text: "Score threshold" }, ticks: { maxTicksLimit: 11, maxRotation: 0 } },
          y: { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + "%"; } } },
        },
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
