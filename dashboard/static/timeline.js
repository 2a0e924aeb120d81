// Keeps the job page's task timeline (templates/_tasks.html) current while the job runs: every few seconds the page
// is fetched again and its Tasks section swapped in, attempts staying open or closed as the reader left them.
(function () {
  "use strict";
  const REFRESH_MS = 4000;

  async function refresh() {
    const current = document.getElementById("tasks");
    if (!current || document.body.dataset.state !== "running" || document.hidden) return;
    let fresh;
    try {
      const response = await fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) return;
      fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("tasks");
    } catch (error) {
      return; // the next refresh tries again
    }
    if (!fresh) return;
    const shown = new Map([...current.querySelectorAll("details.attempt")].map((item) => [item.dataset.attempt, item.open]));
    fresh.querySelectorAll("details.attempt").forEach((item) => {
      if (shown.has(item.dataset.attempt)) item.open = shown.get(item.dataset.attempt);
    });
    current.replaceWith(document.adoptNode(fresh));
  }

  setInterval(refresh, REFRESH_MS);
})();
