/* The queue page: act on many selected jobs at once, and upload a bundle or a session folder (dropped or picked),
   showing the upload's progress and any problems of the session by their field. */
"use strict";

(function () {
  if (document.body.dataset.page !== "queue") return;

  const rows = document.getElementById("job-rows");
  const pickAll = document.getElementById("pick-all");
  const bulkButtons = document.querySelectorAll("button[data-bulk]");

  function picked() {
    return [...rows.querySelectorAll('input[data-field="pick"]:checked')].map((box) => box.closest("tr").dataset.jobId);
  }

  function showPicked() {
    const count = picked().length;
    document.getElementById("picked-count").textContent = `${count} selected`;
    bulkButtons.forEach((button) => (button.disabled = count === 0));
    const boxes = rows.querySelectorAll('input[data-field="pick"]');
    pickAll.checked = boxes.length > 0 && count === boxes.length;
  }

  function listItem(text, className) {
    const item = document.createElement("li");
    item.textContent = text;
    if (className) item.className = className;
    return item;
  }

  async function bulk(action) {
    const ids = picked();
    const outcomes = document.getElementById("bulk-outcomes");
    const request = { action, ids };
    if (action === "priority") request.priority = Number(document.getElementById("bulk-priority").value);
    bulkButtons.forEach((button) => (button.disabled = true));
    outcomes.replaceChildren();
    outcomes.hidden = false;
    try {
      const response = await fetch("/api/jobs/bulk", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        outcomes.append(listItem(problemText(answer, response.status), "refused"));
      } else {
        for (const outcome of answer.results) {
          const row = rows.querySelector(`tr[data-job-id="${CSS.escape(outcome.id)}"]`);
          const name = row ? row.querySelector('[data-field="name"]').textContent : outcome.id;
          const item = listItem(`${name}: ${outcome.detail}`, outcome.done ? "done" : "refused");
          item.dataset.jobId = outcome.id;
          outcomes.append(item);
        }
      }
    } catch (error) {
      outcomes.append(listItem(`${action} failed: ${error.message}`, "refused"));
    }
    showPicked();
  }

  /* A refusal's words: its detail, or each of FastAPI's validation errors as "field.path: message". */
  function problemText(answer, status) {
    if (typeof answer.detail === "string") return answer.detail;
    if (Array.isArray(answer.detail)) return answer.detail.map((item) => `${item.loc.slice(1).join(".")}: ${item.msg}`).join("; ");
    return `refused (${status})`;
  }

  rows.addEventListener("change", (event) => {
    if (event.target.matches('input[data-field="pick"]')) showPicked();
  });
  pickAll.addEventListener("change", () => {
    rows.querySelectorAll('input[data-field="pick"]').forEach((box) => (box.checked = pickAll.checked));
    showPicked();
  });
  bulkButtons.forEach((button) => button.addEventListener("click", () => bulk(button.dataset.bulk)));

  /* The filters' form leaves out the fields left empty (the service refuses an empty number or state). */
  const filters = document.querySelector("form.filters");
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams([...new FormData(filters)].filter(([, value]) => value !== ""));
    if (query.get("sort") === "newest") query.delete("sort");
    location.assign(`/?${query}`);
  });

  /* Upload. */
  const upload = document.getElementById("upload");
  const dropZone = document.getElementById("drop-zone");
  const maxBytes = Number(upload.dataset.maxBytes);
  const status = document.getElementById("upload-status");
  const bar = document.getElementById("upload-progress");
  const statusText = document.getElementById("upload-text");
  const problems = document.getElementById("upload-problems");
  const BUNDLE = /\.(zip|dawproject)$/i;

  function say(text) {
    status.hidden = false;
    statusText.textContent = text;
  }

  function showProblems(lines) {
    problems.replaceChildren(...lines.map((line) => listItem(line)));
    problems.hidden = lines.length === 0;
  }

  function megabytes(bytes) {
    return `${(bytes / 1e6).toFixed(1)} MB`;
  }

  /* Send a bundle (a Blob) as POST /api/jobs, showing its progress, then the new job or why it was refused. */
  function send(bundle, filename) {
    showProblems([]);
    if (bundle.size > maxBytes) {
      say(`${filename} is ${megabytes(bundle.size)}, over the upload limit of ${megabytes(maxBytes)}`);
      return;
    }
    const form = new FormData();
    form.append("bundle", bundle, filename);
    const request = new XMLHttpRequest();
    request.open("POST", "/api/jobs");
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      bar.value = event.loaded / event.total;
      say(`uploading ${filename}: ${megabytes(event.loaded)} of ${megabytes(event.total)}`);
    };
    request.onload = () => {
      const answer = request.response || {};
      bar.value = 1;
      if (request.status === 201) {
        say(`queued ${answer.name} (job ${answer.id})`);
        upload.dataset.lastJob = answer.id;
      } else if (Array.isArray(answer.problems)) {
        say(`${filename}: ${answer.detail}`);
        showProblems(answer.problems);
      } else {
        say(`${filename}: ${problemText(answer, request.status)}`);
      }
    };
    request.onerror = () => say(`${filename}: the upload failed (connection lost)`);
    bar.value = 0;
    say(`uploading ${filename}`);
    request.send(form);
  }

  /* Zip [{path, file}] (a session folder's files, paths inside it) and send it. */
  async function sendFolder(name, files) {
    const total = files.reduce((sum, item) => sum + item.file.size, 0);
    if (total > maxBytes) {
      say(`${name} holds ${megabytes(total)}, over the upload limit of ${megabytes(maxBytes)}`);
      return;
    }
    say(`packing ${name}: ${files.length} files`);
    try {
      const entries = [];
      for (const item of files) {
        entries.push({ path: item.path, bytes: new Uint8Array(await item.file.arrayBuffer()), modified: new Date(item.file.lastModified) });
      }
      send(window.mixfarmZip.storedZip(entries), `${name}.zip`);
    } catch (error) {
      say(`${name}: ${error.message}`);
    }
  }

  /* Every file under a dropped folder's entry, with its path below that folder. */
  async function folderFiles(entry, prefix = "") {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      return [{ path: prefix + entry.name, file }];
    }
    const reader = entry.createReader();
    const found = [];
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) found.push(...(await folderFiles(child, prefix ? `${prefix}${entry.name}/` : `${entry.name}/`)));
    }
    return found;
  }

  /* A dropped folder is zipped; a dropped bundle goes as it is; other files are zipped together, at the zip's root. */
  async function dropped(transfer) {
    const entries = [...transfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
    if (entries.length === 1 && entries[0].isDirectory) {
      const [folder] = entries;
      const files = (await folderFiles(folder)).map((item) => ({ path: item.path.slice(folder.name.length + 1), file: item.file }));
      await sendFolder(folder.name, files);
      return;
    }
    if (entries.some((entry) => entry.isDirectory)) {
      say("drop one session folder at a time, or files without folders");
      return;
    }
    const files = [...transfer.files];
    if (files.length === 1 && BUNDLE.test(files[0].name)) send(files[0], files[0].name);
    else if (files.length > 0) await sendFolder("session", files.map((file) => ({ path: file.name, file })));
  }

  dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropZone.classList.add("over");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("over");
    dropped(event.dataTransfer);
  });
  document.getElementById("pick-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) send(file, file.name);
    event.target.value = "";
  });
  document.getElementById("pick-folder").addEventListener("change", (event) => {
    const files = [...event.target.files];
    if (files.length === 0) return;
    const name = files[0].webkitRelativePath.split("/")[0];
    sendFolder(name, files.map((file) => ({ path: file.webkitRelativePath.slice(name.length + 1), file })));
    event.target.value = "";
  });
})();
