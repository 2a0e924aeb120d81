/* mixfarm dashboard: keeps the server-rendered pages live from /api/events. No build step. */
"use strict";

(function () {
  const body = document.body;

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  /* Same rules as format_duration in dashboard/routers/pages.py. */
  function formatDuration(seconds) {
    if (seconds == null || !isFinite(seconds)) return "—";
    if (seconds < 60) return seconds >= 10 || seconds === 0 ? `${Math.round(seconds)} s` : `${seconds.toFixed(1)} s`;
    const whole = Math.round(seconds);
    const hours = Math.floor(whole / 3600);
    const minutes = Math.floor((whole % 3600) / 60);
    return hours ? `${hours}:${pad(minutes)}:${pad(whole % 60)}` : `${minutes}:${pad(whole % 60)}`;
  }

  /* HH:MM:SS today, YYYY-MM-DD HH:MM before, in the browser's time zone. */
  function formatClock(timestampS) {
    if (!timestampS) return "—";
    const moment = new Date(timestampS * 1000);
    const time = `${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
    if (moment.toDateString() === new Date().toDateString()) return `${time}:${pad(moment.getSeconds())}`;
    return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ${time}`;
  }

  function formatRealtime(factor) {
    return factor == null ? "—" : `${factor.toFixed(1)}×`;
  }

  /* Same rules as job_timing in dashboard/routers/pages.py. */
  function timing(job, nowS) {
    if (job.started_at == null || job.state === "queued") return { eta: null, realtime: null };
    const final = ["succeeded", "failed", "cancelled"].includes(job.state);
    const elapsed = Math.max((final && job.finished_at ? job.finished_at : nowS) - job.started_at, 0);
    const running = job.state === "running";
    const rendering = running || job.state === "succeeded";
    return {
      eta: running && job.progress > 0 ? (elapsed * (1 - job.progress)) / job.progress : null,
      realtime: rendering && elapsed > 0 && job.audio_s > 0 ? job.audio_s / elapsed : null,
    };
  }

  function setTime(element, timestampS) {
    if (timestampS) element.dataset.ts = timestampS;
    else delete element.dataset.ts;
    element.textContent = formatClock(timestampS);
  }

  /* Write a job's fields into every [data-field] element under root that shows one. */
  function fillJob(root, job) {
    const t = timing(job, Date.now() / 1000);
    const percent = Math.round(job.progress * 1000) / 10;
    const fields = {
      link: (el) => (el.href = `/jobs/${encodeURIComponent(job.id)}`),
      name: (el) => (el.textContent = job.name),
      studio: (el) => (el.textContent = job.studio),
      priority: (el) => (el.textContent = job.priority),
      state: (el) => {
        el.textContent = job.state;
        el.className = `state state-${job.state}`;
      },
      "progress-box": (el) => (el.className = `progress progress-${job.state}`),
      "progress-fill": (el) => (el.style.width = `${percent}%`),
      progress: (el) => (el.textContent = `${Math.round(percent)}%`),
      stage: (el) => (el.textContent = job.stage || "starting"),
      eta: (el) => (el.textContent = formatDuration(t.eta)),
      rtf: (el) => (el.textContent = formatRealtime(t.realtime)),
      attempts: (el) => (el.textContent = job.attempts),
      created: (el) => setTime(el, job.created_at),
      started: (el) => setTime(el, job.started_at),
    };
    for (const [name, apply] of Object.entries(fields)) {
      root.querySelectorAll(`[data-field="${name}"]`).forEach(apply);
    }
  }

  /* Call onJob with every job event; the header's dot shows whether the stream is connected.
     onConnect runs each time the stream (re)connects: what changed before that was sent to nobody, so the page asks again. */
  function listen(onJob, onConnect) {
    const live = document.getElementById("live");
    const source = new EventSource("/api/events");
    source.onopen = () => {
      live.classList.add("on");
      if (onConnect) onConnect();
    };
    source.onerror = () => live.classList.remove("on");
    source.addEventListener("job", (event) => onJob(JSON.parse(event.data)));
  }

  function queuePage() {
    const rows = document.getElementById("job-rows");
    const template = document.getElementById("job-row-template");
    const filter = body.dataset.stateFilter;
    const pageSize = Number(body.dataset.pageSize);
    let summaryTimer = null;

    function refreshSummary() {
      fetch("/queue/summary", { credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : null))
        .then((summary) => {
          if (!summary) return;
          let all = 0;
          for (const [state, count] of Object.entries(summary.counts)) {
            all += count;
            document.querySelectorAll(`[data-count="${state}"]`).forEach((el) => (el.textContent = count));
          }
          document.querySelectorAll('[data-count="all"]').forEach((el) => (el.textContent = all));
          for (const [key, value] of Object.entries(summary.cluster)) {
            document.querySelectorAll(`[data-cluster="${key}"]`).forEach((el) => (el.textContent = value));
          }
        })
        .catch(() => {});
    }

    /* A job that is not shown belongs at the top when it is newer than the top row (on page 1, in the filter). */
    function insertRow(job) {
      const top = rows.querySelector("tr[data-job-id]");
      if (body.dataset.firstPage !== "yes" || (filter && filter !== job.state)) return null;
      if (top && Number(top.dataset.created) > job.created_at) return null;
      const row = template.content.firstElementChild.cloneNode(true);
      row.dataset.jobId = job.id;
      row.dataset.created = job.created_at;
      row.classList.add("fresh");
      rows.prepend(row);
      while (rows.children.length > pageSize) rows.lastElementChild.remove();
      document.getElementById("no-jobs").hidden = true;
      const total = document.getElementById("total");
      total.textContent = Number(total.textContent) + 1;
      document.getElementById("first-index").textContent = 1;
      document.getElementById("last-index").textContent = rows.children.length;
      return row;
    }

    listen((job) => {
      const row = rows.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"]`) || insertRow(job);
      if (row) {
        row.dataset.state = job.state;
        fillJob(row, job);
      }
      summaryTimer = summaryTimer || setTimeout(() => {
        summaryTimer = null;
        refreshSummary();
      }, 500);
    });
  }

  function jobPage() {
    const jobId = body.dataset.jobId;
    const facts = document.querySelector(".facts");
    function show(job) {
      if (job.id !== jobId) return;
      if (job.state !== body.dataset.state) location.reload();
      else fillJob(facts, job);
    }
    listen(show, () =>
      fetch(`/api/jobs/${encodeURIComponent(jobId)}`, { credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : null))
        .then((job) => job && show(job))
        .catch(() => {})
    );
    document.querySelectorAll("button[data-action]").forEach((button) =>
      button.addEventListener("click", async () => {
        const problem = document.getElementById("action-error");
        button.disabled = true;
        problem.textContent = "";
        try {
          const response = await fetch(`/api/jobs/${encodeURIComponent(jobId)}/${button.dataset.action}`, { method: "POST", credentials: "same-origin" });
          if (response.ok) {
            location.reload();
            return;
          }
          const answer = await response.json().catch(() => ({}));
          problem.textContent = answer.detail || `${button.dataset.action} failed (${response.status})`;
        } catch (error) {
          problem.textContent = `${button.dataset.action} failed: ${error.message}`;
        }
        button.disabled = false;
      })
    );
  }

  function clusterPage() {
    let refreshTimer = null;
    function refresh() {
      fetch("/api/cluster", { credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : null))
        .then((facts) => {
          if (!facts) return;
          for (const key of ["cpus", "cpus_busy", "jobs_running", "max_running"]) {
            document.querySelectorAll(`[data-cluster="${key}"]`).forEach((el) => (el.textContent = facts[key] ?? "—"));
          }
          const fill = document.querySelector("[data-cluster-fill]");
          if (fill && facts.cpus) fill.style.width = `${(100 * facts.cpus_busy) / facts.cpus}%`;
        })
        .catch(() => {});
    }
    listen(() => {
      refreshTimer = refreshTimer || setTimeout(() => {
        refreshTimer = null;
        refresh();
      }, 1000);
    });
  }

  /* Bars are drawn from data-fraction here: the Content-Security-Policy allows no inline style attributes. */
  document.querySelectorAll("[data-fraction]").forEach((el) => (el.style.width = `${Number(el.dataset.fraction) * 100}%`));
  document.querySelectorAll("time[data-ts]").forEach((el) => (el.textContent = formatClock(Number(el.dataset.ts))));

  const pages = { queue: queuePage, job: jobPage, cluster: clusterPage };
  if (pages[body.dataset.page]) pages[body.dataset.page]();
})();
