#!/usr/bin/env node
// The floor for `npm run bench -- --tcp`: the least a Node relay can be, node:net's pipe() both
// ways to the backends in turn, with nothing else (no health, limits, metrics or log). It takes
// the config file fulcrum is given (`--config FILE`: the first pool, the first TCP listener).
import { readFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'

const args = process.argv.slice(2)
const config = JSON.parse(readFileSync(args[args.indexOf('--config') + 1], 'utf8'))
const backends = Object.values(config.pools)[0].backends.map((url) => new URL(url))
const { host, port } = config.tcp[0].listen
let next = 0
createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const to = backends[next++ % backends.length]
  const backend = connect({
    host: to.hostname,
    port: Number(to.port),
    noDelay: true,
    allowHalfOpen: true,
  })
  client.pipe(backend)
  backend.pipe(client)
  client.on('error', () => backend.destroy())
  backend.on('error', () => client.destroy())
  client.on('close', () => backend.destroy())
  backend.on('close', () => client.destroy())
}).listen({ host, port, backlog: 4096 })
