// The analysts' dashboard: asks the worker's /analytics views and draws them with Plotly (SVG).
// Each chart's element gets data-state="drawn" (or "error") once done: tests wait on it.
"use strict";

const TOKEN_KEY = "ugc-analyst-token";
const DAY_MS = 86_400_000;
const LIVE_REFRESH_MS = 60_000;
const TOP_FILMS = 10; // bars in the top-films and completion charts
const PICKER_FILMS = 100; // films offered by the film picker
const CONFIG = { displaylogo: false, responsive: true };
const LAYOUT = {
  margin: { t: 10, r: 20, b: 50, l: 60 },
  font: { family: "system-ui, sans-serif", size: 12 },
  hoverlabel: { namelength: -1 },
};

class HttpError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const $ = (id) => document.getElementById(id);

// The token arrives in the fragment, which no server sees; it is kept for this tab only and
// dropped from the address bar, so it ends up in no bookmark, history entry or screenshot.
function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

async function ask(view, params) {
  const url = new URL(`/analytics/${view}`, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== "" && value !== undefined) url.searchParams.set(name, value);
  }
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new HttpError(
      response.status,
      body.detail || response.statusText,
      response.headers.get("Retry-After"),
    );
  }
  return body;
}

// --- period and film: the pickers, mirrored in the query string so a view can be shared ---

const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

function readPickers() {
  const query = new URLSearchParams(location.search);
  const today = Date.now();
  $("to").value = query.get("to") || isoDay(today);
  $("from").value = query.get("from") || isoDay(today - 6 * DAY_MS);
  const film = query.get("film") || "";
  if (film) addFilmOption(film, film);
  $("film").value = film;
}

function currentPeriod() {
  const from = $("from").value;
  const to = $("to").value;
  if (!from || !to) throw new Error("pick both days of the period");
  if (from > to) throw new Error("the period's first day is after its last day");
  // The views take [from, to) in UTC; the picker's last day is included.
  return { from, to: isoDay(Date.parse(to) + DAY_MS) };
}

function writeQueryString() {
  const query = new URLSearchParams({ from: $("from").value, to: $("to").value });
  if ($("film").value) query.set("film", $("film").value);
  history.replaceState(null, "", `${location.pathname}?${query}`);
}

function addFilmOption(id, label) {
  if ([...$("film").options].some((option) => option.value === id)) return;
  const option = document.createElement("option");
  option.value = id;
  option.textContent = label;
  $("film").append(option);
}

// The period's films by watch time; a film picked before stays, even without viewing in it.
function fillFilmPicker(films) {
  const chosen = $("film").value;
  $("film").replaceChildren($("film").options[0]);
  for (const film of films) {
    addFilmOption(film.movie_id, `${film.movie_id} (${hours(film.watched_seconds)} h)`);
  }
  if (chosen) addFilmOption(chosen, chosen);
  $("film").value = chosen;
}

// --- charts ---

const hours = (seconds) => Math.round((seconds / 3600) * 100) / 100;
// Whole steps on an axis of counts or days, about `ticks` of them.
const step = (span, ticks = 6) => Math.max(1, Math.ceil(span / ticks));

const drawing = {}; // chart name -> number of its latest draw: an older answer is dropped

async function draw(name, load, plot) {
  const chart = $(`chart-${name}`);
  const note = $(`note-${name}`);
  const mine = (drawing[name] = (drawing[name] || 0) + 1);
  chart.dataset.state = "loading";
  try {
    const rows = await load();
    if (mine !== drawing[name]) return;
    const { data, layout, empty } = plot(rows);
    await Plotly.react(chart, data, { ...LAYOUT, ...layout }, CONFIG);
    note.textContent = empty || "";
    chart.dataset.state = "drawn";
  } catch (error) {
    if (mine !== drawing[name]) return;
    chart.dataset.state = "error";
    note.textContent = explain(error);
  }
}

function explain(error) {
  if (!(error instanceof HttpError)) return `Not drawn: ${error.message}`;
  if (error.status === 401 || error.status === 403) {
    if (error.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    askForToken(`The analytics views refused the token: ${error.message}`);
    return "Not drawn: no valid analyst token.";
  }
  if (error.status === 503) {
    return `ClickHouse is unavailable (${error.message}); try again in ${error.retryAfter || "a few"} s.`;
  }
  return `Not drawn: ${error.message} (${error.status})`;
}

function dailyChart(rows) {
  return {
    data: [{
      type: "scatter",
      mode: "lines+markers",
      x: rows.map((r) => r.day),
      y: rows.map((r) => hours(r.watched_seconds)),
      hovertemplate: "%{x}: %{y} h<extra></extra>",
    }],
    layout: {
      xaxis: { type: "date", tickformat: "%b %d", dtick: DAY_MS * step(rows.length, 10) },
      yaxis: { title: { text: "hours watched" }, rangemode: "tozero" },
    },
    empty: rows.some((r) => r.watched_seconds > 0) ? "" : "No viewing in this period.",
  };
}

function filmBars(rows, value, text, axisTitle, emptyText) {
  const shown = rows.slice(0, TOP_FILMS).reverse(); // the first row on top
  return {
    data: [{
      type: "bar",
      orientation: "h",
      y: shown.map((r) => r.movie_id),
      x: shown.map(value),
      text: shown.map(text),
      textposition: "auto",
      hovertemplate: "%{y}: %{text}<extra></extra>",
    }],
    layout: {
      margin: { ...LAYOUT.margin, l: 10 },
      xaxis: { title: { text: axisTitle }, rangemode: "tozero" },
      yaxis: { automargin: true, type: "category" },
    },
    empty: rows.length ? "" : emptyText,
  };
}

function topChart(rows) {
  return filmBars(
    rows,
    (r) => hours(r.watched_seconds),
    (r) => `${hours(r.watched_seconds)} h, ${r.viewers} viewers`,
    "hours watched",
    "No viewing in this period.",
  );
}

function completionChart(rows) {
  return filmBars(
    rows,
    (r) => Math.round(r.completion_rate * 1000) / 10,
    (r) => `${Math.round(r.completion_rate * 1000) / 10}% of ${r.viewers}`,
    "% of viewers who reached 95%",
    "No playback in this period.",
  );
}

function ratingsChart(rows) {
  return {
    data: [{
      type: "bar",
      x: rows.map((r) => r.score),
      y: rows.map((r) => r.viewers),
      text: rows.map((r) => (r.viewers ? String(r.viewers) : "")),
      textposition: "auto",
      hovertemplate: "score %{x}: %{y} viewers<extra></extra>",
    }],
    layout: {
      xaxis: { title: { text: "score" }, dtick: 1 },
      yaxis: {
        title: { text: "viewers" },
        rangemode: "tozero",
        dtick: step(Math.max(0, ...rows.map((r) => r.viewers))),
      },
    },
    empty: rows.some((r) => r.viewers > 0) ? "" : "No ratings in this period.",
  };
}

function liveChart(rows) {
  const families = [...new Set(rows.map((r) => r.family))];
  return {
    data: families.map((family) => {
      const mine = rows.filter((r) => r.family === family);
      return {
        type: "scatter",
        mode: "lines",
        name: family,
        x: mine.map((r) => r.minute),
        y: mine.map((r) => r.events),
      };
    }),
    layout: {
      xaxis: { type: "date" },
      yaxis: { title: { text: "events per minute" }, rangemode: "tozero" },
      margin: { ...LAYOUT.margin, t: 30 },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    },
    empty: rows.some((r) => r.events > 0) ? "" : "No events in the last hour.",
  };
}

// --- putting it together ---

function drawLive() {
  return draw("live", () => ask("events-per-minute", { minutes: 60 }), liveChart);
}

async function refresh() {
  let period;
  try {
    period = currentPeriod();
  } catch (error) {
    $("status").textContent = error.message;
    return;
  }
  $("status").textContent = "";
  writeQueryString();
  const film = $("film").value;
  const filmLabel = film ? `of film ${film}` : "(all films)";
  $("daily-film").textContent = filmLabel;
  $("ratings-film").textContent = `${filmLabel}, each viewer's newest score in the period`;
  const topFilms = ask("top-films", { ...period, limit: PICKER_FILMS });
  topFilms.then(fillFilmPicker, () => {}); // draw() reports the failure
  await Promise.all([
    draw("daily", () => ask("watch-time-per-day", { ...period, movie_id: film }), dailyChart),
    draw("top", () => topFilms, topChart),
    draw("completion", () => ask("completion", { ...period, limit: TOP_FILMS }), completionChart),
    draw("ratings", () => ask("rating-distribution", { ...period, movie_id: film }), ratingsChart),
    drawLive(),
  ]);
}

function askForToken(reason) {
  $("token-reason").textContent = reason;
  $("token-form").hidden = false;
}

function start() {
  readPickers();
  $("pickers").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  $("film").addEventListener("change", refresh);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    $("token-form").hidden = true;
    refresh();
  });
  if (!takeToken()) {
    askForToken("This page needs an analyst's token.");
    return;
  }
  refresh();
  setInterval(() => {
    if (!document.hidden && sessionStorage.getItem(TOKEN_KEY)) drawLive();
  }, LIVE_REFRESH_MS);
}

start();
