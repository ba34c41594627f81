// ReliableKafka dashboard: reads api/status every few seconds and shows it. Builds the page with DOM calls and
// textContent only (no HTML from data), loads nothing from elsewhere.
(function () {
  "use strict";
  const body = document.body;
  const refresh = Math.max(250, parseInt(body.dataset.refresh, 10) || 2000);
  const canPause = body.dataset.pause === "true";
  const consumersEl = document.getElementById("consumers");
  const producersBody = document.querySelector("#producers tbody");
  const updated = document.getElementById("updated");
  const errorEl = document.getElementById("error");
  let previous = null;

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(child === null || child === undefined ? "–" : String(child)));
    }
    return node;
  }

  const number = (value) => (value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US"));

  function rate(now, before, seconds) {
    if (before === undefined || seconds <= 0) return "–";
    return (Math.max(0, now - before) / seconds).toLocaleString("en-US", { maximumFractionDigits: 1 });
  }

  async function post(path, payload) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-ReliableKafka-Dashboard": "1" },
      body: JSON.stringify(payload),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || "status " + response.status);
    return answer;
  }

  function pauseButton(consumer, p) {
    const button = el("button", { type: "button", class: "pause" }, p.pausedByOperator ? "resume" : "pause");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await post(p.pausedByOperator ? "api/resume" : "api/pause", { consumer: consumer, topic: p.topic, partition: p.partition });
        errorEl.hidden = true;
      } catch (e) {
        errorEl.textContent = e.message;
        errorEl.hidden = false;
      }
    });
    return button;
  }

  function partitionState(p) {
    if (p.failure) return { text: "failed: " + p.failure, cls: "failed" };
    if (p.pausedByOperator) return { text: p.paused ? "paused by operator" : "pausing", cls: "paused" };
    if (p.paused) return { text: "paused", cls: "paused" };
    if (p.running > 0) return { text: "running", cls: "running" };
    return { text: p.buffered > 0 ? "queued" : "idle", cls: "idle" };
  }

  function renderConsumer(c) {
    const health = c.state === "Running" && c.problems.length > 0 ? "Degraded" : c.state;
    const section = el("div", { class: "consumer", "data-consumer": c.name });
    section.append(el("div", { class: "consumer-head" },
      el("h3", {}, c.name),
      el("span", { class: "badge " + health, "data-field": "state" }, health === "NotStarted" ? "not started" : health.toLowerCase()),
      el("span", { class: "muted" }, "group " + c.groupId + " · " + c.topics.join(", "))));
    if (c.stoppedBecause) section.append(el("div", { class: "error" }, "stopped: " + c.stoppedBecause));
    if (c.problems.length > 0 && c.state === "Running") {
      section.append(el("ul", { class: "problems" }, ...c.problems.map((p) => el("li", {}, p))));
    }

    const oldest = c.oldestRunning === null || c.oldestRunning === undefined ? "–" : c.oldestRunning.toFixed(1) + " s";
    section.append(el("div", { class: "counts" },
      el("span", {}, "handled ", el("b", { "data-field": "handled" }, number(c.handled))),
      el("span", {}, "buffered ", el("b", { "data-field": "buffered" }, number(c.buffered))),
      el("span", {}, "running ", el("b", { "data-field": "running" }, number(c.running))),
      el("span", {}, "oldest running ", el("b", {}, oldest)),
      el("span", {}, "retries ", el("b", { "data-field": "retries" }, number(c.retries))),
      el("span", {}, "to retry topics ", el("b", { "data-field": "retried" }, number(c.retriedThroughTopics))),
      el("span", {}, "dead-lettered ", el("b", { "data-field": "dead-lettered" }, number(c.deadLettered))),
      el("span", {}, "skipped ", el("b", {}, number(c.skipped))),
      el("span", {}, "parked keys ", el("b", {}, number(c.parkedKeys)))));

    const columns = ["Partition", "Committed", "Watermark", "Finished beyond", "End offset", "Lag", "Buffered", "Running", "State"];
    if (canPause && c.state === "Running") columns.push("");
    const head = el("tr", {}, ...columns.map((h) => el("th", {}, h)));
    const rows = c.partitions
      .slice()
      .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
      .map((p) => {
        const state = partitionState(p);
        const row = el("tr", { "data-partition": p.topic + ":" + p.partition },
          el("td", {}, p.topic + " [" + p.partition + "]"),
          el("td", { class: "committed" }, number(p.committedOffset)),
          el("td", { class: "watermark" }, number(p.watermark)),
          el("td", { class: "beyond" }, number(p.finishedBeyondWatermark)),
          el("td", { class: "high" }, number(p.highWatermark)),
          el("td", { class: "lag" + (p.lag > 0 ? " behind" : "") }, number(p.lag)),
          el("td", { class: "buffered" }, number(p.buffered)),
          el("td", { class: "running" }, number(p.running)),
          el("td", { class: "state " + state.cls }, state.text));
        if (canPause && c.state === "Running") row.append(el("td", {}, pauseButton(c.name, p)));
        return row;
      });
    section.append(el("table", { class: "partitions" }, el("thead", {}, head), el("tbody", {}, ...rows)));
    if (c.partitions.length === 0) section.append(el("div", { class: "muted" }, "no partitions assigned"));
    return section;
  }

  function render(snapshot) {
    const seconds = previous ? (Date.parse(snapshot.takenAt) - Date.parse(previous.takenAt)) / 1000 : 0;
    const before = new Map((previous ? previous.producers : []).map((p) => [p.name, p]));
    consumersEl.replaceChildren(...snapshot.consumers.map(renderConsumer));
    if (snapshot.consumers.length === 0) consumersEl.append(el("div", { class: "muted" }, "no consumers"));
    producersBody.replaceChildren(...snapshot.producers.map((p) => {
      const last = before.get(p.name);
      return el("tr", { "data-producer": p.name },
        el("td", {}, p.name),
        el("td", { class: "sent" }, number(p.sent)),
        el("td", {}, rate(p.sent, last && last.sent, seconds)),
        el("td", { class: "failed" }, number(p.failed)),
        el("td", {}, rate(p.failed, last && last.failed, seconds)),
        el("td", { class: p.fatalError ? "state failed" : "state" }, p.fatalError ? "fatal: " + p.fatalError : "ok"));
    }));
    previous = snapshot;
    updated.textContent = "updated " + new Date(snapshot.takenAt).toLocaleTimeString();
    updated.dataset.takenAt = snapshot.takenAt;
  }

  async function poll() {
    try {
      const response = await fetch("api/status", { cache: "no-store", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("status " + response.status);
      render(await response.json());
      errorEl.hidden = true;
    } catch (e) {
      errorEl.textContent = "cannot read the status: " + e.message;
      errorEl.hidden = false;
    } finally {
      setTimeout(poll, refresh);
    }
  }

  if (body.dataset.redrive === "true") {
    const section = document.getElementById("redrive");
    const form = document.getElementById("redrive-form");
    const result = document.getElementById("redrive-result");
    section.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const button = form.querySelector("button");
      if (button.disabled) return;
      button.disabled = true;
      result.textContent = "redriving…";
      try {
        const response = await fetch("api/redrive", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-ReliableKafka-Dashboard": "1" },
          body: JSON.stringify({ deadLetterTopic: data.get("deadLetterTopic"), originalTopic: data.get("originalTopic") || null }),
        });
        const answer = await response.json();
        result.textContent = response.ok ? "redriven " + answer.redriven + ", passed over " + answer.passedOver : "failed: " + answer.error;
      } catch (e) {
        result.textContent = "failed: " + e.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  poll();
})();
