/**
 * The dashboard's script: plain browser JavaScript, no build step and no library. It polls
 * `GET /stats` every second with the bearer token from sessionStorage, and draws one section per
 * pool (its strategy, the routes that send to it, its backend cards), the routes in match order,
 * the charts (inline SVG) and the transitions. Buttons call the admin API: `/backends/:id` for
 * the pool `default`, `/pools/:pool/backends/:id` for the others.
 *
 * A backend is keyed by pool and id (`pool/id`): the same id may sit in two pools. With only the
 * pool `default` (the flat config), the board looks as it did before pools: one section, the
 * strategy in the header, no routes table.
 *
 * Layer 4: the TCP listeners get a table (open connections, connections and bytes per second,
 * refused), and a pool behind a listener shows its listeners instead of routes, and cards with
 * open connections and bytes instead of requests (it has none); it stays off the charts.
 */
export const DASHBOARD_JS = `'use strict'
;(function () {
  var TOKEN_KEY = 'fulcrum.adminToken'
  var HISTORY = 120
  var COLOURS = ['#58a6ff', '#3fb950', '#d29922', '#db61a2', '#a371f7', '#f0883e', '#39c5cf', '#f85149']
  var DEFAULT_POOL = 'default'
  var history = [] // [{ t, rps: {key: n}, p99: {key: n} }], key = pool/id
  var colourOf = {}
  var nextColour = 0
  var timer = null
  var busy = false
  var strategiesLoaded = false
  var strategies = null // the names GET /strategy lists
  var routesDrawn = null // the routes the table shows, as JSON

  function $(id) { return document.getElementById(id) }
  function token() { return sessionStorage.getItem(TOKEN_KEY) }
  function poolOf(b) { return b.pool || DEFAULT_POOL }
  function keyOf(b) { return poolOf(b) + '/' + b.id }
  /** A backend's name in messages: its id, prefixed with its pool unless that is default. */
  function labelOf(pool, id) { return pool === DEFAULT_POOL ? id : pool + '/' + id }
  function backendPath(pool, id) {
    return (pool === DEFAULT_POOL ? '' : '/pools/' + encodeURIComponent(pool)) +
      '/backends/' + encodeURIComponent(id)
  }
  /** The child of parent whose data-field is value. */
  function childWith(parent, field, value) {
    for (var i = 0; i < parent.children.length; i++) {
      if (parent.children[i].dataset[field] === value) return parent.children[i]
    }
    return null
  }

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
  /** A byte count: B, KiB, MiB, GiB or TiB. */
  function fmtSize(n) {
    if (n === null || n === undefined || isNaN(n)) return '–'
    if (n < 1024) return Math.round(n) + ' B'
    var units = ['KiB', 'MiB', 'GiB', 'TiB']
    var i = -1
    do { n /= 1024; i++ } while (n >= 1024 && i < units.length - 1)
    return n.toFixed(n < 10 ? 1 : 0) + ' ' + units[i]
  }
  function fmtRate(n) { return n === null || n === undefined ? '–' : fmtSize(n) + '/s' }
  function fmtPerSecond(n) { return n === null || n === undefined ? '–' : fmt(n, n < 10 ? 1 : 0) }
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
    var routes = s.routes || []
    var tcp = tcpOf(s)
    var pools = poolsOf(s, tcp)
    // Only the pool default (the flat config): its strategy stays in the header, as before.
    var single = pools.length === 1 && pools[0].name === DEFAULT_POOL
    $('kpi-strategy').hidden = !single
    renderStrategy(s.strategy)
    $('status-line').textContent = s.backends.length + ' backend' + (s.backends.length === 1 ? '' : 's') +
      (single ? '' : ' in ' + pools.length + ' pool' + (pools.length === 1 ? '' : 's') +
        ' · ' + routes.length + ' route' + (routes.length === 1 ? '' : 's')) +
      ' · ' + s.requests.total + ' requests since start · rates over the last ' + fmt(s.windowSeconds, 1) + ' s' +
      (s.queueDepth ? ' · ' + s.queueDepth + ' queued' : '') +
      (s.openConnections !== null ? ' · ' + s.openConnections + ' client connections' : '') +
      (tcp.listeners.length ? ' · ' + tcp.open + ' TCP connections open' : '')
    renderPools(pools, routes, single, tcp)
    renderRoutes(routes)
    renderListeners(tcp.listeners)
    renderFleet(s.fleet)
    renderTransitions(s.transitions, single)
    // Requests and their latency: TCP pools have neither, and stay off the charts.
    var charted = s.backends.filter(function (b) { return !tcp.listenersOf[poolOf(b)] })
    var point = { t: Date.now(), rps: {}, p99: {} }
    charted.forEach(function (b) {
      point.rps[keyOf(b)] = b.window ? b.window.requestsPerSecond : null
      point.p99[keyOf(b)] = b.window ? b.window.p99Ms : null
    })
    history.push(point)
    if (history.length > HISTORY) history.shift()
    drawChart($('chart-rps'), 'rps', charted)
    drawChart($('chart-p99'), 'p99', charted)
  }

  /** The tcp block of /stats: the listeners, by pool too, and each TCP backend's figures. */
  function tcpOf(s) {
    var tcp = s.tcp || { listeners: [], backends: [] }
    var out = { listeners: tcp.listeners, listenersOf: {}, backendOf: {}, open: 0 }
    tcp.listeners.forEach(function (l) {
      (out.listenersOf[l.pool] = out.listenersOf[l.pool] || []).push(l)
      out.open += l.open
    })
    tcp.backends.forEach(function (b) { out.backendOf[b.pool + '/' + b.id] = b })
    return out
  }

  /** The TCP listeners table; hidden while there are none. */
  // Fleet mode: the members etcd knows, and whether this instance's watch is live.
  function renderFleet(fleet) {
    $('fleet-panel').hidden = !fleet
    if (!fleet) return
    $('fleet-state').textContent = '· ' + fleet.name + ' · etcd ' +
      (fleet.connected ? 'connected' : 'lost: serving the last state') + ' · revision ' + fleet.revision
    var tbody = $('fleet-members')
    tbody.textContent = ''
    fleet.members.forEach(function (m) {
      var tr = el('tr')
      tr.dataset.member = m.name
      tr.appendChild(el('td', 'name', m.name + (m.name === fleet.name ? ' (this one)' : '')))
      tr.appendChild(el('td', null, m.runtime))
      tr.appendChild(el('td', null, m.version))
      tr.appendChild(el('td', null, m.startedAt))
      tr.appendChild(el('td', 'num', String(m.revision)))
      tbody.appendChild(tr)
    })
  }

  function renderListeners(list) {
    $('tcp-panel').hidden = !list.length
    var tbody = $('tcp-listeners')
    tbody.textContent = ''
    list.forEach(function (l) {
      var w = l.window
      var tr = el('tr')
      tr.dataset.listener = l.name
      tr.appendChild(el('td', 'name', l.name))
      var chip = el('span', 'chip', l.pool)
      chip.dataset.pool = l.pool
      tr.appendChild(cell('pool', [chip]))
      var port = l.port === undefined ? 'auto' : l.port
      tr.appendChild(cell('listen', [code(l.host + ':' + port)]))
      var num = function (field, text) {
        var td = el('td', 'num', text)
        td.dataset.field = field
        tr.appendChild(td)
      }
      num('open', String(l.open))
      num('cps', w ? fmtPerSecond(w.connectionsPerSecond) : '–')
      num('in', w ? fmtRate(w.bytesInPerSecond) : '–')
      num('out', w ? fmtRate(w.bytesOutPerSecond) : '–')
      num('refused', String(l.refused))
      num('failures', String(l.connectFailures))
      tbody.appendChild(tr)
    })
  }

  function renderStrategy(active) {
    var select = $('strategy')
    if (!strategiesLoaded) {
      strategiesLoaded = true
      api('GET', '/strategy').then(function (r) {
        strategies = r.available
        fillStrategies(select, r.strategy)
        Array.prototype.forEach.call($('pools').querySelectorAll('select'), function (s) {
          fillStrategies(s, s.dataset.value)
        })
      })
    }
    if (document.activeElement !== select && select.options.length) select.value = active
  }

  /** Give select the strategy names once they are known, and show active unless in use. */
  function fillStrategies(select, active) {
    if (strategies && !select.options.length) {
      strategies.forEach(function (name) {
        var o = el('option', '', name); o.value = name; select.appendChild(o)
      })
    }
    if (document.activeElement !== select && select.options.length) select.value = active
  }

  function setStrategy(pool, name) {
    var path = (pool === DEFAULT_POOL ? '' : '/pools/' + encodeURIComponent(pool)) + '/strategy'
    api('PUT', path, { strategy: name }).then(poll, function (error) {
      $('status-line').textContent = 'strategy of ' + pool + ': ' + error.message
    })
  }

  /**
   * The pools to show, in /stats order (default first), each with its backends. The pool
   * default always exists; beside other pools it is left out while it has neither backends
   * nor routes.
   */
  function poolsOf(s, tcp) {
    var list = s.pools && s.pools.length ? s.pools
      : [{ name: DEFAULT_POOL, strategy: s.strategy, routes: [] }]
    var members = {}
    list.forEach(function (p) { members[p.name] = [] })
    s.backends.forEach(function (b) { if (members[poolOf(b)]) members[poolOf(b)].push(b) })
    var pools = list.map(function (p) {
      return {
        name: p.name, strategy: p.strategy, routes: p.routes || [], backends: members[p.name],
        listeners: tcp.listenersOf[p.name] || null
      }
    })
    if (pools.length === 1) return pools
    return pools.filter(function (p) {
      return p.name !== DEFAULT_POOL || p.backends.length > 0 || p.routes.length > 0 || p.listeners
    })
  }

  function createPool(name) {
    var section = el('section', 'pool')
    section.dataset.pool = name
    section.setAttribute('aria-label', 'Pool ' + name)
    var head = el('div', 'pool-head')
    head.appendChild(el('span', 'label', 'pool'))
    head.appendChild(el('h2', 'name', name))
    head.appendChild(el('span', 'label', 'strategy'))
    head.appendChild(el('span', 'strategy'))
    var select = el('select')
    select.setAttribute('aria-label', 'Strategy of pool ' + name)
    select.addEventListener('change', function () { setStrategy(name, select.value) })
    head.appendChild(select)
    head.appendChild(el('span', 'label chips-label', 'routes'))
    head.appendChild(el('span', 'chips'))
    var kind = el('span', 'kind', 'tcp')
    kind.hidden = true
    head.appendChild(kind)
    section.appendChild(head)
    section.appendChild(el('div', 'cards'))
    section.appendChild(el('p', 'empty', 'No backends'))
    return section
  }

  function renderPools(pools, routes, single, tcp) {
    var container = $('pools')
    var byName = {}
    routes.forEach(function (r) { byName[r.name] = r })
    var seen = {}
    pools.forEach(function (pool, i) {
      seen[pool.name] = true
      var section = childWith(container, 'pool', pool.name) || createPool(pool.name)
      if (container.children[i] !== section) {
        container.insertBefore(section, container.children[i] || null)
      }
      // The flat config keeps its strategy control in the header; pools each have their own.
      var text = section.querySelector('.pool-head .strategy')
      text.textContent = pool.strategy
      text.hidden = !single
      var select = section.querySelector('.pool-head select')
      select.hidden = single
      select.dataset.value = pool.strategy
      fillStrategies(select, pool.strategy)
      // A TCP pool: its listeners in place of routes, and TCP cards.
      section.dataset.kind = pool.listeners ? 'tcp' : 'http'
      section.querySelector('.pool-head .kind').hidden = !pool.listeners
      section.querySelector('.chips-label').textContent = pool.listeners ? 'listeners' : 'routes'
      if (pool.listeners) renderPoolListeners(section.querySelector('.chips'), pool.listeners)
      else renderPoolRoutes(section.querySelector('.chips'), pool, byName)
      renderCards(section.querySelector('.cards'), pool.backends, pool.listeners ? tcp : null)
      section.querySelector('.empty').hidden = pool.backends.length > 0
    })
    Array.prototype.slice.call(container.children).forEach(function (section) {
      if (!seen[section.dataset.pool]) section.remove()
    })
  }

  /** The routes that send to pool, each with the pool's share where the route splits. */
  function renderPoolRoutes(chips, pool, byName) {
    var items = pool.routes.map(function (name) {
      var route = byName[name]
      var split = route && route.pools.length > 1 ? route.pools : null
      var total = 0, weight = 0
      if (split) {
        split.forEach(function (p) {
          total += p.weight
          if (p.pool === pool.name) weight = p.weight
        })
      }
      return { name: name, weight: split ? weight : null, total: total }
    })
    var drawn = JSON.stringify(items)
    if (chips.dataset.drawn === drawn) return
    chips.dataset.drawn = drawn
    chips.textContent = ''
    if (!items.length) chips.appendChild(el('span', 'muted', 'none'))
    items.forEach(function (item) {
      var chip = el('span', 'chip', item.name)
      chip.dataset.route = item.name
      if (item.weight !== null) {
        chip.appendChild(el('span', 'weight', sharePct(item.weight, item.total)))
        chip.title = 'weight ' + item.weight + ' of ' + item.total
      }
      chips.appendChild(chip)
    })
  }

  /** The TCP listeners in front of a pool, each with its port. */
  function renderPoolListeners(chips, listeners) {
    var drawn = 'tcp:' + JSON.stringify(listeners.map(function (l) { return [l.name, l.port] }))
    if (chips.dataset.drawn === drawn) return
    chips.dataset.drawn = drawn
    chips.textContent = ''
    listeners.forEach(function (l) {
      var chip = el('span', 'chip', l.name)
      chip.dataset.listener = l.name
      if (l.port !== undefined) chip.appendChild(el('span', 'weight', ':' + l.port))
      chips.appendChild(chip)
    })
  }

  function sharePct(weight, total) {
    var pct = total ? (weight * 100) / total : 0
    return (pct === Math.round(pct) ? String(pct) : pct.toFixed(1)) + '%'
  }

  function isCatchAll(route) {
    return !route.match || Object.keys(route.match).length === 0
  }

  /** The routes in match order; hidden for the flat config's one catch-all route. */
  function renderRoutes(routes) {
    var trivial = routes.length === 0 || (routes.length === 1 && isCatchAll(routes[0]) &&
      routes[0].pools.length === 1 && routes[0].pools[0].pool === DEFAULT_POOL)
    $('routes-panel').hidden = trivial
    var drawn = JSON.stringify(routes)
    if (trivial || drawn === routesDrawn) return
    routesDrawn = drawn
    var tbody = $('routes')
    tbody.textContent = ''
    routes.forEach(function (route, i) {
      var m = route.match || {}
      var tr = el('tr')
      tr.dataset.route = route.name
      tr.appendChild(el('td', 'order', String(i + 1)))
      tr.appendChild(el('td', 'name', route.name))
      tr.appendChild(cell('host', m.host ? [code(m.host)] : null))
      tr.appendChild(cell('path', m.path ? [code(m.path)] : null))
      tr.appendChild(cell('methods', m.methods ? m.methods.map(code) : null))
      var headers = m.headers ? Object.keys(m.headers) : []
      tr.appendChild(cell('headers', headers.length ? headers.map(function (name) {
        var value = m.headers[name]
        return code(value === true ? name + ' present' : name + ': ' + value)
      }) : null))
      var total = 0
      route.pools.forEach(function (p) { total += p.weight })
      var pools = el('span', 'chips')
      route.pools.forEach(function (p) {
        var chip = el('span', 'chip', p.pool)
        chip.dataset.pool = p.pool
        if (route.pools.length > 1) {
          chip.appendChild(el('span', 'weight', sharePct(p.weight, total)))
          chip.title = 'weight ' + p.weight + ' of ' + total
        }
        pools.appendChild(chip)
      })
      tr.appendChild(cell('pools', [pools]))
      tbody.appendChild(tr)
    })
  }

  function code(text) { return el('code', '', text) }
  /** A table cell of nodes, or "any" when the route does not look at that part. */
  function cell(cls, nodes) {
    var td = el('td', cls)
    if (!nodes) { td.appendChild(el('span', 'any', 'any')); return td }
    nodes.forEach(function (n) { td.appendChild(n) })
    return td
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

  function createCard(b, kind) {
    var card = el('article', 'card')
    card.dataset.kind = kind
    card.dataset.key = keyOf(b)
    card.dataset.pool = poolOf(b)
    card.dataset.backend = b.id
    var title = el('div', 'title')
    var sw = el('span', 'swatch'); sw.style.background = colour(keyOf(b))
    title.appendChild(sw)
    title.appendChild(el('span', 'name', b.id))
    var badge = el('span', 'badge state'); title.appendChild(badge)
    card.appendChild(title)
    card.appendChild(el('div', 'url', b.url))
    var share = el('div', 'share')
    share.title = kind === 'tcp' ? 'share of open connections' : 'share of traffic'
    share.appendChild(el('div')); card.appendChild(share)
    var stats = el('div', 'stats')
    if (kind === 'tcp') {
      stats.appendChild(stat('open', 'open'))
      stats.appendChild(stat('conn/s', 'cps'))
      stats.appendChild(stat('failed', 'failures'))
      stats.appendChild(stat('in/s', 'in-rate'))
      stats.appendChild(stat('out/s', 'out-rate'))
      stats.appendChild(stat('in / out', 'bytes'))
    } else {
      stats.appendChild(stat('share', 'share'))
      stats.appendChild(stat('req/s', 'rps'))
      stats.appendChild(stat('errors', 'errors'))
      stats.appendChild(stat('p50', 'p50'))
      stats.appendChild(stat('p99', 'p99'))
      stats.appendChild(stat('in flight', 'inflight'))
    }
    card.appendChild(stats)
    card.appendChild(el('div', 'meta'))
    var actions = el('div', 'actions')
    actions.appendChild(button('Drain', 'drain', 'warn'))
    actions.appendChild(button('Disable', 'enable'))
    var weight = el('input'); weight.type = 'number'; weight.min = '1'; weight.max = '10000'
    weight.setAttribute('aria-label', 'Weight of ' + labelOf(poolOf(b), b.id))
    weight.dataset.field = 'weight-input'
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
    var label = labelOf(card.dataset.pool, id)
    var path = backendPath(card.dataset.pool, id)
    var request
    if (action === 'drain') request = api('PATCH', path, { draining: card.dataset.draining !== 'true' })
    else if (action === 'enable') request = api('PATCH', path, { enabled: card.dataset.enabled !== 'true' })
    else if (action === 'weight') {
      var value = Number(card.querySelector('[data-field=weight-input]').value)
      request = api('PATCH', path, { weight: value })
    } else if (action === 'remove') {
      if (!window.confirm('Drain and remove ' + label + '?')) return
      request = api('DELETE', path)
    } else return
    btn.disabled = true
    request.then(function () { poll() }, function (error) {
      $('status-line').textContent = action + ' ' + label + ': ' + error.message
    }).then(function () { btn.disabled = false })
  }

  /** One pool's cards, in container; tcp: the tcp block's figures, for a pool behind a listener. */
  function renderCards(container, backends, tcp) {
    var seen = {}
    var kind = tcp ? 'tcp' : 'http'
    var open = 0
    if (tcp) backends.forEach(function (b) { open += (tcp.backendOf[keyOf(b)] || {}).open || 0 })
    backends.forEach(function (b, i) {
      seen[keyOf(b)] = true
      var card = childWith(container, 'key', keyOf(b))
      // A pool that changed kind (a reload) gets new cards.
      if (card && card.dataset.kind !== kind) { card.remove(); card = null }
      if (!card) card = createCard(b, kind)
      if (container.children[i] !== card) container.insertBefore(card, container.children[i] || null)
      var state = b.removing ? 'draining' : b.state
      card.dataset.state = state
      card.dataset.draining = String(b.draining)
      card.dataset.enabled = String(b.enabled)
      var badge = card.querySelector('.badge')
      badge.dataset.state = state
      badge.textContent = b.removing ? 'removing' : b.state
      var set = function (field, text) { card.querySelector('[data-field=' + field + ']').textContent = text }
      if (tcp) {
        var t = tcp.backendOf[keyOf(b)] || { open: 0, bytesIn: 0, bytesOut: 0, connectFailures: 0 }
        var tw = t.window
        var part = open ? (t.open * 100 / open).toFixed(1) + '%' : '0'
        card.querySelector('.share > div').style.width = part
        set('open', String(t.open))
        set('cps', tw ? fmtPerSecond(tw.connectionsPerSecond) : '–')
        set('failures', String(t.connectFailures))
        set('in-rate', tw ? fmtRate(tw.bytesInPerSecond) : '–')
        set('out-rate', tw ? fmtRate(tw.bytesOutPerSecond) : '–')
        set('bytes', fmtSize(t.bytesIn) + ' / ' + fmtSize(t.bytesOut))
      } else {
        var w = b.window
        card.querySelector('.share > div').style.width = w ? (w.share * 100).toFixed(1) + '%' : '0'
        set('share', w ? fmtPct(w.share) : '–')
        set('rps', w ? fmt(w.requestsPerSecond, w.requestsPerSecond < 10 ? 1 : 0) : '–')
        set('errors', w ? fmtPct(w.errorRate) : '–')
        set('p50', w ? fmtMs(w.p50Ms) : '–')
        set('p99', w ? fmtMs(w.p99Ms) : '–')
        set('inflight', String(b.inflight))
      }
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
      if (!seen[card.dataset.key]) card.remove()
    })
  }

  function renderTransitions(list, single) {
    var ol = $('transitions')
    ol.textContent = ''
    if (!list.length) { ol.appendChild(el('li', 'muted', 'No transitions yet')); return }
    list.forEach(function (t) {
      var li = el('li')
      var time = el('time', '', new Date(t.at).toLocaleTimeString()); time.dateTime = t.at
      li.appendChild(time)
      li.appendChild(el('span', 'to to-' + t.to, t.to))
      var who = t.pool && (!single || t.pool !== DEFAULT_POOL) ? t.pool + '/' + t.id : t.id
      li.appendChild(el('span', '', who + (t.reason ? ' — ' + t.reason : '')))
      ol.appendChild(li)
    })
  }

  function drawChart(svg, key, backends) {
    var W = 600, H = 160, PAD = 28
    var max = 0
    history.forEach(function (p) {
      backends.forEach(function (b) { var v = p[key][keyOf(b)]; if (v !== null && v > max) max = v })
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
        var v = p[key][keyOf(b)]
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
      pl.setAttribute('stroke', colour(keyOf(b)))
      pl.dataset.pool = poolOf(b)
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
