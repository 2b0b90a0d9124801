// statelesx console behaviour (no build step): htmx settings, select-all, cluster editor scrolling,
// live job state, steps and log over SSE (GET /api/v1/jobs/:id/events).
/* global window, document, htmx, EventSource */
'use strict';
function fmtTime(ms) {
  return ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '—';
}
// One job step as the job page renders it (text only: no markup from the server's data).
function stepItem(s) {
  var li = document.createElement('li');
  var name = document.createElement('strong');
  name.textContent = s.name;
  li.appendChild(name);
  if (s.target) {
    li.appendChild(document.createTextNode(' '));
    var code = document.createElement('code');
    code.textContent = s.target;
    li.appendChild(code);
  }
  li.appendChild(document.createTextNode(' — '));
  var st = document.createElement('span');
  st.className = 'state s-' + s.state;
  st.textContent = s.state;
  li.appendChild(st);
  if (s.fault) {
    li.appendChild(document.createTextNode(' '));
    var f = document.createElement('span');
    f.className = 'bad';
    f.textContent = s.fault;
    li.appendChild(f);
  }
  return li;
}
// Keeps the editor's line numbers and marks scrolled with its textarea (also after htmx swaps them).
function syncEditor() {
  var xml = document.getElementById('xml');
  var gutter = document.getElementById('xml-gutter');
  var marks = document.getElementById('xml-marks');
  if (!xml) return;
  if (gutter) gutter.scrollTop = xml.scrollTop;
  if (marks) {
    marks.scrollTop = xml.scrollTop;
    marks.scrollLeft = xml.scrollLeft;
  }
}
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
      document.querySelectorAll('input[type=checkbox][name="' + box.dataset.selectAll + '"]').forEach(function (c) {
        c.checked = box.checked;
      });
    });
  });
  var xml = document.getElementById('xml');
  if (xml) {
    xml.addEventListener('scroll', syncEditor);
    document.body.addEventListener('htmx:afterSettle', syncEditor);
  }
  var log = document.getElementById('joblog');
  if (log && window.EventSource) {
    var state = document.getElementById('job-state');
    var steps = document.getElementById('job-steps');
    var last = Number(log.dataset.last || 0);
    var es = new EventSource('/api/v1/jobs/' + encodeURIComponent(log.dataset.job) + '/events');
    es.addEventListener('log', function (ev) {
      var l = JSON.parse(ev.data);
      if (l.id <= last) return;
      last = l.id;
      log.textContent += fmtTime(l.at) + ' ' + l.level + ' ' + l.msg + '\n';
      log.scrollTop = log.scrollHeight;
    });
    es.addEventListener('job', function (ev) {
      var j = JSON.parse(ev.data);
      if (state) {
        state.textContent = j.state;
        state.className = 'state s-' + j.state;
      }
      var queue = document.getElementById('job-queue');
      if (queue)
        queue.textContent = j.queuePosition
          ? '#' + j.queuePosition + ' (' + j.waitReason + '): ' + (j.waitDetail || '')
          : '—';
      var err = document.getElementById('job-error');
      if (err) err.textContent = j.error || '—';
      var times = document.getElementById('job-times');
      if (times)
        times.textContent = fmtTime(j.createdAt) + ' / ' + fmtTime(j.startedAt) + ' / ' + fmtTime(j.finishedAt);
      if (steps && Array.isArray(j.steps)) steps.replaceChildren.apply(steps, j.steps.map(stepItem));
    });
    es.addEventListener('end', function () {
      es.close();
    });
  }
});
