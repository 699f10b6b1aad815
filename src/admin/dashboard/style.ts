/** The dashboard's stylesheet. */
export const DASHBOARD_CSS = `:root {
  --bg: #0f1419; --panel: #171e26; --line: #263241; --text: #e6edf3; --muted: #8b98a8;
  --up: #3fb950; --down: #f85149; --drain: #d29922; --off: #6e7681; --eject: #db61a2;
  --accent: #58a6ff; --tcp: #39c5cf;
  color-scheme: dark;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 16px; padding: 12px 20px;
  border-bottom: 1px solid var(--line); background: var(--panel); }
.brand { font-size: 18px; font-weight: 600; letter-spacing: .2px; }
.logo { color: var(--accent); }
.muted { color: var(--muted); font-weight: 400; font-size: 13px; }
.summary { display: flex; flex-wrap: wrap; gap: 18px; align-items: center; margin-left: auto; }
.kpi { display: flex; flex-direction: column; min-width: 56px; }
.kpi .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .6px; }
.kpi .value { font-size: 16px; font-weight: 600; font-variant-numeric: tabular-nums; }
main { padding: 20px; max-width: 1400px; margin: 0 auto; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 14px; margin: 0 0 10px; color: var(--muted); text-transform: uppercase; letter-spacing: .6px; }
.login { max-width: 460px; margin: 60px auto; }
.login form { display: flex; gap: 8px; margin-top: 12px; }
input, select, button { font: inherit; color: var(--text); background: #0d1117;
  border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
input:focus, select:focus { outline: 2px solid var(--accent); outline-offset: -1px; }
input[type=password] { flex: 1; }
button { cursor: pointer; background: #21262d; }
button:hover { border-color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
button.ghost { background: transparent; }
button.warn { border-color: #6b4d12; }
button.danger { border-color: #6e2b28; }
.error { color: var(--down); min-height: 1.4em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.chart { margin: 0; }
.chart figcaption { color: var(--muted); font-size: 12px; margin-bottom: 6px; }
.chart svg { width: 100%; height: 160px; display: block; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { fill: var(--muted); font-size: 10px; }
.chart polyline { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; }
#status-line { margin: 10px 2px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 16px;
  margin-bottom: 16px; }
.pool-head { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px;
  margin: 0 2px 10px; }
.pool-head .label { color: var(--muted); font-size: 11px; text-transform: uppercase;
  letter-spacing: .6px; }
.pool-head h2 { margin: 0; color: var(--text); font-size: 16px; text-transform: none;
  letter-spacing: 0; }
.pool-head select { padding: 2px 6px; font-size: 13px; }
.pool-head .strategy { font-size: 13px; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.chip { font-size: 12px; padding: 1px 8px; border-radius: 999px; background: #21262d;
  border: 1px solid var(--line); white-space: nowrap; }
.chip .weight { color: var(--accent); margin-left: 4px; font-variant-numeric: tabular-nums; }
.empty { color: var(--muted); font-size: 13px; padding: 4px 2px; }
#routes-panel, #tcp-panel { margin-bottom: 16px; }
.listeners .num { text-align: right; font-variant-numeric: tabular-nums; }
.listeners th.num { padding-left: 12px; }
.pool-head .kind { font-size: 11px; text-transform: uppercase; letter-spacing: .6px;
  padding: 1px 8px; border-radius: 999px; border: 1px solid var(--line); color: var(--tcp); }
.card[data-kind=tcp] .share > div { background: var(--tcp); }
.table-wrap { overflow-x: auto; }
table.routes { width: 100%; border-collapse: collapse; font-size: 13px; }
.routes th { text-align: left; color: var(--muted); font-weight: 400; font-size: 11px;
  text-transform: uppercase; letter-spacing: .5px; padding: 2px 12px 6px 0;
  border-bottom: 1px solid var(--line); }
.routes td { padding: 6px 12px 6px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
.routes tbody tr:last-child td { border-bottom: 0; }
.routes .any, .routes .order { color: var(--muted); }
.routes .order { font-variant-numeric: tabular-nums; }
.routes .name { font-weight: 600; }
.routes td > code + code { margin-left: 6px; }
.card { position: relative; background: var(--panel); border: 1px solid var(--line);
  border-radius: 10px; padding: 14px 16px; border-top: 4px solid var(--off); }
.card[data-state=up] { border-top-color: var(--up); }
.card[data-state=down] { border-top-color: var(--down); }
.card[data-state=draining] { border-top-color: var(--drain); }
.card[data-state=ejected] { border-top-color: var(--eject); }
.card .title { display: flex; align-items: center; gap: 8px; }
.card .name { font-weight: 600; font-size: 15px; overflow: hidden; text-overflow: ellipsis; }
.card .url { color: var(--muted); font-size: 12px; word-break: break-all; }
.swatch { width: 10px; height: 10px; border-radius: 50%; flex: none; }
.badge { margin-left: auto; font-size: 11px; text-transform: uppercase; letter-spacing: .6px;
  padding: 2px 8px; border-radius: 999px; background: #21262d; }
.badge[data-state=up] { color: var(--up); } .badge[data-state=down] { color: var(--down); }
.badge[data-state=draining] { color: var(--drain); } .badge[data-state=disabled] { color: var(--off); }
.badge[data-state=ejected] { color: var(--eject); }
.share { height: 6px; border-radius: 3px; background: #21262d; margin: 10px 0 8px; overflow: hidden; }
.share > div { height: 100%; background: var(--accent); width: 0; transition: width .4s; }
.stats { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px 10px; margin: 8px 0; }
.stat .label { display: block; color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .5px; }
.stat .value { font-weight: 600; font-variant-numeric: tabular-nums; }
.meta { color: var(--muted); font-size: 12px; margin: 6px 0 10px; min-height: 1.4em; }
.actions { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.actions input { width: 72px; }
.transitions { list-style: none; margin: 0; padding: 0; max-height: 280px; overflow: auto; }
.transitions li { display: flex; gap: 10px; padding: 4px 0; border-bottom: 1px solid var(--line);
  font-size: 13px; }
.transitions time { color: var(--muted); font-variant-numeric: tabular-nums; flex: none; }
.transitions .to { font-weight: 600; min-width: 80px; }
.to-up { color: var(--up); } .to-down, .to-removed { color: var(--down); }
.to-draining, .to-drained { color: var(--drain); } .to-ejected { color: var(--eject); }
`
