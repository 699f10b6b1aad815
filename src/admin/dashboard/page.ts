/**
 * The dashboard's page. It holds no data: the script asks for the admin token, keeps it in
 * sessionStorage, and reads everything through the token-protected API. The script fills
 * `#pools` with one section per pool (its head, then its backend cards), `#routes` with the
 * routes in match order and `#tcp-listeners` with the layer-4 listeners (its panel is hidden
 * while there are none).
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>fulcrum</title>
<link rel="stylesheet" href="/dashboard/app.css">
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<header>
  <div class="brand"><span class="logo">&#9878;</span> fulcrum <span id="version" class="muted"></span></div>
  <div class="summary" id="summary" hidden>
    <div class="kpi" id="kpi-strategy"><span class="label">strategy</span>
      <select id="strategy" aria-label="Strategy"></select></div>
    <div class="kpi"><span class="label">req/s</span><span id="kpi-rps" class="value">–</span></div>
    <div class="kpi"><span class="label">p50</span><span id="kpi-p50" class="value">–</span></div>
    <div class="kpi"><span class="label">p99</span><span id="kpi-p99" class="value">–</span></div>
    <div class="kpi"><span class="label">errors</span><span id="kpi-err" class="value">–</span></div>
    <div class="kpi"><span class="label">in flight</span><span id="kpi-inflight" class="value">–</span></div>
    <div class="kpi"><span class="label">memory</span><span id="kpi-mem" class="value">–</span></div>
    <div class="kpi"><span class="label">uptime</span><span id="kpi-uptime" class="value">–</span></div>
    <button id="logout" class="ghost" type="button">Sign out</button>
  </div>
</header>

<main>
  <section id="login" class="panel login" hidden>
    <h1>Admin token</h1>
    <p class="muted">fulcrum printed it at start (or set it with <code>--admin-token</code> /
      <code>FULCRUM_ADMIN_TOKEN</code>). It stays in this tab only.</p>
    <form id="login-form">
      <input id="token" type="password" autocomplete="off" spellcheck="false"
        placeholder="Bearer token" aria-label="Admin token" required>
      <button type="submit">Sign in</button>
    </form>
    <p id="login-error" class="error" role="alert"></p>
  </section>

  <section id="board" hidden>
    <div class="charts">
      <figure class="panel chart">
        <figcaption>Requests per second, by backend</figcaption>
        <svg id="chart-rps" viewBox="0 0 600 160" preserveAspectRatio="none" role="img"
          aria-label="Requests per second by backend"></svg>
      </figure>
      <figure class="panel chart">
        <figcaption>p99 latency (ms), by backend</figcaption>
        <svg id="chart-p99" viewBox="0 0 600 160" preserveAspectRatio="none" role="img"
          aria-label="p99 latency by backend"></svg>
      </figure>
    </div>
    <p id="status-line" class="muted" role="status"></p>
    <section id="fleet-panel" class="panel" hidden>
      <h2>Fleet <span id="fleet-state" class="muted"></span></h2>
      <div class="table-wrap">
        <table class="routes members">
          <thead><tr><th>Member</th><th>Runtime</th><th>Version</th><th>Started</th>
            <th class="num">Revision</th></tr></thead>
          <tbody id="fleet-members"></tbody>
        </table>
      </div>
    </section>
    <section id="tcp-panel" class="panel" hidden>
      <h2>TCP listeners</h2>
      <div class="table-wrap">
        <table class="routes listeners">
          <thead><tr><th>Listener</th><th>Pool</th><th>Listen</th><th class="num">Open</th>
            <th class="num">conn/s</th><th class="num">In/s</th><th class="num">Out/s</th>
            <th class="num">Refused</th><th class="num">Connect failures</th></tr></thead>
          <tbody id="tcp-listeners"></tbody>
        </table>
      </div>
    </section>
    <div id="pools" class="pools"></div>
    <section id="routes-panel" class="panel" hidden>
      <h2>Routes, in match order</h2>
      <div class="table-wrap">
        <table class="routes">
          <thead><tr><th>#</th><th>Route</th><th>Host</th><th>Path</th><th>Methods</th>
            <th>Headers</th><th>Pool</th></tr></thead>
          <tbody id="routes"></tbody>
        </table>
      </div>
    </section>
    <section class="panel">
      <h2>Recent health transitions</h2>
      <ol id="transitions" class="transitions"></ol>
    </section>
  </section>
</main>
</body>
</html>
`
