// statelesx console behaviour (no build step): htmx settings, select-all, live job log over SSE.
/* global window, document, htmx, EventSource */
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  if (window.htmx) {
    // Swap error answers too: the /ui/ routes return an HTML alert with the problem's fields.
    htmx.config.responseHandling = [
      { code: '204', swap: false },
      { code: '[23]..', swap: true },
      { code: '[45]..', swap: true, error: true },
    ];
  }
  document.querySelectorAll('[data-select-all]').forEach(function (box) {
    box.addEventListener('change', function () {
      document.querySelectorAll('input[type=checkbox][name="' + box.dataset.selectAll + '"]').forEach(function (c) { c.checked = box.checked; });
    });
  });
  var log = document.getElementById('joblog');
  if (log && window.EventSource) {
    var state = document.getElementById('job-state');
    var last = Number(log.dataset.last || 0);
    var es = new EventSource('/api/v1/jobs/' + encodeURIComponent(log.dataset.job) + '/events');
    es.addEventListener('log', function (ev) {
      var l = JSON.parse(ev.data);
      if (l.id <= last) return;
      last = l.id;
      log.textContent += new Date(l.at).toISOString().replace('T', ' ').slice(0, 19) + 'Z ' + l.level + ' ' + l.msg + '\n';
      log.scrollTop = log.scrollHeight;
    });
    es.addEventListener('job', function (ev) {
      var j = JSON.parse(ev.data);
      if (state) { state.textContent = j.state; state.className = 'state s-' + j.state; }
      var err = document.getElementById('job-error');
      if (err) err.textContent = j.error || '—';
    });
    es.addEventListener('end', function () { es.close(); });
  }
});
