/**
 * The dashboard's script: plain browser JavaScript, no build step and no library. It polls
 * `GET /stats` every second with the bearer token from sessionStorage, and draws the cards, the
 * charts (inline SVG) and the transitions. Buttons call the admin API.
 */
export const DASHBOARD_JS = `'use strict'
;(function () {
  var TOKEN_KEY = 'fulcrum.adminToken'
  var HISTORY = 120
  var COLOURS = ['#58a6ff', '#3fb950', '#d29922', '#db61a2', '#a371f7', '#f0883e', '#39c5cf', '#f85149']
  var history = [] // [{ t, rps: {id: n}, p99: {id: n} }]
  var colourOf = {}
  var nextColour = 0
  var timer = null
  var busy = false
  var strategiesLoaded = false

  function $(id) { return document.getElementById(id) }
  function token() { return sessionStorage.getItem(TOKEN_KEY) }

  function api(method, path, body) {
    var init = { method: method, headers: { authorization: 'Bearer ' + token() }, cache: 'no-store' }
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json'
      init.body = JSON.stringify(body)
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null
        try { data = text ? JSON.parse(text) : null } catch (e) { data = { error: text } }
        if (res.status === 401) { signOut('The token was refused: ' + ((data && data.error) || res.status)) }
        if (!res.ok) { var err = new Error((data && data.error) || ('HTTP ' + res.status)); err.status = res.status; throw err }
        return data
      })
    })
  }

  function showLogin(message) {
    $('login').hidden = false
    $('board').hidden = true
    $('summary').hidden = true
    $('login-error').textContent = message || ''
    $('token').focus()
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY)
    if (timer) { clearInterval(timer); timer = null }
    showLogin(message)
  }

  function start() {
    $('login').hidden = true
    $('board').hidden = false
    $('summary').hidden = false
    poll()
    timer = setInterval(poll, 1000)
  }

  function fmt(n, digits) {
    if (n === null || n === undefined || isNaN(n)) return '–'
    return Number(n).toFixed(digits === undefined ? 0 : digits)
  }
  function fmtMs(ms) {
    if (ms === null || ms === undefined) return '–'
    return ms < 10 ? ms.toFixed(2) + ' ms' : ms < 1000 ? ms.toFixed(0) + ' ms' : (ms / 1000).toFixed(2) + ' s'
  }
  function fmtPct(x) { return x === null || x === undefined ? '–' : (x * 100).toFixed(x < 0.1 ? 1 : 0) + '%' }
  function fmtBytes(b) { return b ? (b / 1048576).toFixed(0) + ' MB' : '–' }
  function fmtUptime(s) {
    if (s < 120) return s + ' s'
    if (s < 7200) return Math.round(s / 60) + ' min'
    return (s / 3600).toFixed(1) + ' h'
  }
  function colour(id) {
    if (!colourOf[id]) colourOf[id] = COLOURS[nextColour++ % COLOURS.length]
    return colourOf[id]
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag)
    if (cls) e.className = cls
    if (text !== undefined) e.textContent = text
    return e
  }

  function poll() {
    if (busy || !token()) return
    busy = true
    api('GET', '/stats').then(render, function (error) {
      if (error.status !== 401) $('status-line').textContent = 'Cannot reach fulcrum: ' + error.message
    }).then(function () { busy = false })
  }

  function render(s) {
    $('version').textContent = 'v' + s.version
    var w = s.requests.window
    $('kpi-rps').textContent = w ? fmt(w.requestsPerSecond, w.requestsPerSecond < 10 ? 1 : 0) : '–'
    $('kpi-p50').textContent = w ? fmtMs(w.p50Ms) : '–'
    $('kpi-p99').textContent = w ? fmtMs(w.p99Ms) : '–'
    $('kpi-err').textContent = w ? fmtPct(w.errorRate) : '–'
    $('kpi-inflight').textContent = String(s.inflight)
    $('kpi-mem').textContent = s.memory ? fmtBytes(s.memory.rss) : '–'
    $('kpi-uptime').textContent = fmtUptime(s.uptimeSeconds)
    renderStrategy(s.strategy)
    $('status-line').textContent = s.backends.length + ' backend' + (s.backends.length === 1 ? '' : 's') +
      ' · ' + s.requests.total + ' requests since start · rates over the last ' + fmt(s.windowSeconds, 1) + ' s' +
      (s.queueDepth ? ' · ' + s.queueDepth + ' queued' : '') +
      (s.openConnections !== null ? ' · ' + s.openConnections + ' client connections' : '')
    renderCards(s.backends)
    renderTransitions(s.transitions)
    var point = { t: Date.now(), rps: {}, p99: {} }
    s.backends.forEach(function (b) {
      point.rps[b.id] = b.window ? b.window.requestsPerSecond : null
      point.p99[b.id] = b.window ? b.window.p99Ms : null
    })
    history.push(point)
    if (history.length > HISTORY) history.shift()
    drawChart($('chart-rps'), 'rps', s.backends)
    drawChart($('chart-p99'), 'p99', s.backends)
  }

  function renderStrategy(active) {
    var select = $('strategy')
    if (!strategiesLoaded) {
      strategiesLoaded = true
      api('GET', '/strategy').then(function (r) {
        select.textContent = ''
        r.available.forEach(function (name) {
          var o = el('option', '', name); o.value = name; select.appendChild(o)
        })
        select.value = r.strategy
      })
    }
    if (document.activeElement !== select && select.options.length) select.value = active
  }

  function stat(label, field) {
    var d = el('div', 'stat')
    d.appendChild(el('span', 'label', label))
    var v = el('span', 'value', '–'); v.dataset.field = field
    d.appendChild(v)
    return d
  }

  function button(label, action, cls) {
    var b = el('button', cls || '', label)
    b.type = 'button'
    b.dataset.action = action
    return b
  }

  function createCard(b) {
    var card = el('article', 'card')
    card.dataset.backend = b.id
    var title = el('div', 'title')
    var sw = el('span', 'swatch'); sw.style.background = colour(b.id)
    title.appendChild(sw)
    title.appendChild(el('span', 'name', b.id))
    var badge = el('span', 'badge state'); title.appendChild(badge)
    card.appendChild(title)
    card.appendChild(el('div', 'url', b.url))
    var share = el('div', 'share'); share.title = 'share of traffic'
    share.appendChild(el('div')); card.appendChild(share)
    var stats = el('div', 'stats')
    stats.appendChild(stat('share', 'share'))
    stats.appendChild(stat('req/s', 'rps'))
    stats.appendChild(stat('errors', 'errors'))
    stats.appendChild(stat('p50', 'p50'))
    stats.appendChild(stat('p99', 'p99'))
    stats.appendChild(stat('in flight', 'inflight'))
    card.appendChild(stats)
    card.appendChild(el('div', 'meta'))
    var actions = el('div', 'actions')
    actions.appendChild(button('Drain', 'drain', 'warn'))
    actions.appendChild(button('Disable', 'enable'))
    var weight = el('input'); weight.type = 'number'; weight.min = '1'; weight.max = '10000'
    weight.setAttribute('aria-label', 'Weight of ' + b.id); weight.dataset.field = 'weight-input'
    actions.appendChild(weight)
    actions.appendChild(button('Set weight', 'weight'))
    actions.appendChild(button('Remove', 'remove', 'danger'))
    card.appendChild(actions)
    actions.addEventListener('click', function (event) {
      var target = event.target
      if (!(target instanceof HTMLButtonElement)) return
      act(card, target.dataset.action, target)
    })
    return card
  }

  function act(card, action, btn) {
    var id = card.dataset.backend
    var path = '/backends/' + encodeURIComponent(id)
    var request
    if (action === 'drain') request = api('PATCH', path, { draining: card.dataset.draining !== 'true' })
    else if (action === 'enable') request = api('PATCH', path, { enabled: card.dataset.enabled !== 'true' })
    else if (action === 'weight') {
      var value = Number(card.querySelector('[data-field=weight-input]').value)
      request = api('PATCH', path, { weight: value })
    } else if (action === 'remove') {
      if (!window.confirm('Drain and remove ' + id + '?')) return
      request = api('DELETE', path)
    } else return
    btn.disabled = true
    request.then(function () { poll() }, function (error) {
      $('status-line').textContent = action + ' ' + id + ': ' + error.message
    }).then(function () { btn.disabled = false })
  }

  function renderCards(backends) {
    var container = $('cards')
    var seen = {}
    backends.forEach(function (b, i) {
      seen[b.id] = true
      var card = container.querySelector('[data-backend="' + CSS.escape(b.id) + '"]')
      if (!card) card = createCard(b)
      if (container.children[i] !== card) container.insertBefore(card, container.children[i] || null)
      var state = b.removing ? 'draining' : b.state
      card.dataset.state = state
      card.dataset.draining = String(b.draining)
      card.dataset.enabled = String(b.enabled)
      var badge = card.querySelector('.badge')
      badge.dataset.state = state
      badge.textContent = b.removing ? 'removing' : b.state
      var w = b.window
      card.querySelector('.share > div').style.width = w ? (w.share * 100).toFixed(1) + '%' : '0'
      var set = function (field, text) { card.querySelector('[data-field=' + field + ']').textContent = text }
      set('share', w ? fmtPct(w.share) : '–')
      set('rps', w ? fmt(w.requestsPerSecond, w.requestsPerSecond < 10 ? 1 : 0) : '–')
      set('errors', w ? fmtPct(w.errorRate) : '–')
      set('p50', w ? fmtMs(w.p50Ms) : '–')
      set('p99', w ? fmtMs(w.p99Ms) : '–')
      set('inflight', String(b.inflight))
      var meta = 'weight ' + b.weight + (b.effectiveWeight !== b.weight ? ' (effective ' + fmt(b.effectiveWeight, 1) + ')' : '') +
        (b.backup ? ' · backup' : '') + ' · ' + b.source +
        (b.lastProbe ? ' · probe ' + (b.lastProbe.ok ? 'ok' : 'failed' + (b.lastProbe.reason ? ': ' + b.lastProbe.reason : '')) : '') +
        (b.lease ? ' · lease ' + Math.max(0, Math.round((Date.parse(b.lease.expiresAt) - Date.now()) / 1000)) + ' s' : '') +
        (b.circuit && b.circuit !== 'closed' ? ' · circuit ' + b.circuit : '')
      card.querySelector('.meta').textContent = meta
      card.querySelector('[data-action=drain]').textContent = b.draining ? 'Undrain' : 'Drain'
      card.querySelector('[data-action=enable]').textContent = b.enabled ? 'Disable' : 'Enable'
      var input = card.querySelector('[data-field=weight-input]')
      if (document.activeElement !== input) input.value = String(b.weight)
    })
    Array.prototype.slice.call(container.children).forEach(function (card) {
      if (!seen[card.dataset.backend]) card.remove()
    })
  }

  function renderTransitions(list) {
    var ol = $('transitions')
    ol.textContent = ''
    if (!list.length) { ol.appendChild(el('li', 'muted', 'No transitions yet')); return }
    list.forEach(function (t) {
      var li = el('li')
      var time = el('time', '', new Date(t.at).toLocaleTimeString()); time.dateTime = t.at
      li.appendChild(time)
      li.appendChild(el('span', 'to to-' + t.to, t.to))
      li.appendChild(el('span', '', t.id + (t.reason ? ' — ' + t.reason : '')))
      ol.appendChild(li)
    })
  }

  function drawChart(svg, key, backends) {
    var W = 600, H = 160, PAD = 28
    var max = 0
    history.forEach(function (p) {
      backends.forEach(function (b) { var v = p[key][b.id]; if (v !== null && v > max) max = v })
    })
    max = max <= 0 ? 1 : niceCeil(max)
    while (svg.firstChild) svg.removeChild(svg.firstChild)
    var ns = 'http://www.w3.org/2000/svg'
    for (var g = 0; g <= 2; g++) {
      var y = H - 14 - (H - 24) * g / 2
      var line = document.createElementNS(ns, 'line')
      line.setAttribute('x1', PAD); line.setAttribute('x2', W); line.setAttribute('y1', y); line.setAttribute('y2', y)
      line.setAttribute('class', 'grid'); svg.appendChild(line)
      var label = document.createElementNS(ns, 'text')
      label.setAttribute('x', 0); label.setAttribute('y', y + 3); label.setAttribute('class', 'axis')
      label.textContent = fmt(max * g / 2, max < 10 ? 1 : 0); svg.appendChild(label)
    }
    backends.forEach(function (b) {
      var points = []
      history.forEach(function (p, i) {
        var v = p[key][b.id]
        if (v === null || v === undefined) return
        // The x axis spans the history kept so far (at least 30 polls), then scrolls.
        var span = Math.max(history.length, 30)
        var x = PAD + (W - PAD) * i / (span - 1)
        var y = H - 14 - (H - 24) * v / max
        points.push(x.toFixed(1) + ',' + y.toFixed(1))
      })
      if (points.length < 2) return
      var pl = document.createElementNS(ns, 'polyline')
      pl.setAttribute('points', points.join(' '))
      pl.setAttribute('stroke', colour(b.id))
      pl.dataset.backend = b.id
      svg.appendChild(pl)
    })
  }

  function niceCeil(x) {
    var p = Math.pow(10, Math.floor(Math.log10(x)))
    var m = x / p
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('login-form').addEventListener('submit', function (event) {
      event.preventDefault()
      var value = $('token').value.trim()
      if (!value) return
      sessionStorage.setItem(TOKEN_KEY, value)
      $('token').value = ''
      api('GET', '/stats').then(function () { start() }, function (error) {
        if (error.status !== 401) showLogin('Cannot reach fulcrum: ' + error.message)
      })
    })
    $('logout').addEventListener('click', function () { signOut('Signed out') })
    $('strategy').addEventListener('change', function (event) {
      var name = event.target.value
      api('PUT', '/strategy', { strategy: name }).then(poll, function (error) {
        $('status-line').textContent = 'strategy: ' + error.message
      })
    })
    if (token()) start()
    else showLogin()
  })
})()
`
