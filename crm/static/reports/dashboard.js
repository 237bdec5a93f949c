/* Draws the report pages' charts from the figures the page embeds (json_script), with the
   vendored Chart.js; without it the tables and cards still show every figure. */
(function () {
  "use strict";
  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function chart(id, type, labels, datasets, options) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") { return; }
    new Chart(canvas, {type: type, data: {labels: labels, datasets: datasets},
      options: Object.assign({responsive: true, maintainAspectRatio: false, animation: false}, options || {})});
  }
  document.addEventListener("DOMContentLoaded", function () {
    var figures = data("report-figures");
    if (figures) {
      if (figures.overview) {
        var days = figures.overview.days.map(function (d) { return d.day; });
        chart("messages-chart", "bar", days, [
          {label: "in", data: figures.overview.days.map(function (d) { return d["in"]; }), backgroundColor: "#25d366"},
          {label: "out", data: figures.overview.days.map(function (d) { return d.out; }), backgroundColor: "#075e54"}]);
        chart("customers-chart", "line", days, [
          {label: "new customers", data: figures.overview.days.map(function (d) { return d.new_customers; }), borderColor: "#0b6bcb"}]);
      }
      if (figures.campaigns) {
        var steps = ["sent", "delivered", "read", "replied", "failed"];
        chart("funnels-chart", "bar", figures.campaigns.map(function (c) { return c.name; }),
          steps.map(function (step, i) {
            return {label: step, data: figures.campaigns.map(function (c) { return c[step]; }),
                    backgroundColor: ["#075e54", "#128c7e", "#34b7f1", "#25d366", "#d1242f"][i]};
          }));
      }
      var agents = figures.agents.agents;
      chart("agents-chart", "bar", agents.map(function (a) { return a.name || "(no agent)"; }), [
        {label: "median", data: agents.map(function (a) { return a.median_seconds; }), backgroundColor: "#128c7e"},
        {label: "p90", data: agents.map(function (a) { return a.p90_seconds; }), backgroundColor: "#b35900"}]);
      chart("resolution-chart", "bar", agents.map(function (a) { return a.name || "(no agent)"; }), [
        {label: "median", data: agents.map(function (a) { return a.resolution.median_seconds; }), backgroundColor: "#128c7e"},
        {label: "p90", data: agents.map(function (a) { return a.resolution.p90_seconds; }), backgroundColor: "#b35900"}]);
    }
    var report = data("campaign-report");
    if (report) {
      chart("campaign-chart", "bar", ["sent", "delivered", "read", "replied", "failed", "skipped"], [
        {label: report.campaign.name, backgroundColor: "#128c7e",
         data: [report.sent, report.delivered, report.read, report.replied, report.failed,
                report.recipients.skipped]}], {plugins: {legend: {display: false}}});
    }
  });
}());
