/**
 * Hardened TLS on the real entry points, checked with Node's `tls` client pinned to each
 * version: TLS 1.0/1.1 refused, 1.2/1.3 accepted, Mozilla "intermediate" ciphers only, SNI picks
 * the certificate by name, certificates reload on SIGHUP and on file change without a restart,
 * the HTTP→HTTPS redirect listener, and HSTS only over HTTPS.
 */
import { X509Certificate } from 'node:crypto'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type ConnectionOptions, type SecureVersion } from 'node:tls'
import { generate } from 'selfsigned'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { exchange } from '../helpers/raw-http.ts'

interface Pem {
  cert: string
  key: string
  certPath: string
  keyPath: string
}

let dir: string
let backend: TestBackend
const pems: Record<string, Pem> = {}

async function makeCertificate(name: string, dnsNames: string[]): Promise<Pem> {
  const generated = await generate([{ name: 'commonName', value: dnsNames[0]! }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          ...dnsNames.map((value) => ({ type: 2 as const, value })),
          { type: 7 as const, ip: '127.0.0.1' },
        ],
      },
    ],
  })
  const pem = {
    cert: generated.cert,
    key: generated.private,
    certPath: join(dir, `${name}.crt`),
    keyPath: join(dir, `${name}.key`),
  }
  writeFileSync(pem.certPath, pem.cert)
  writeFileSync(pem.keyPath, pem.key, { mode: 0o600 })
  return pem
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-edge-tls-'))
  backend = await startBackend('a')
  pems.main = await makeCertificate('main', ['main.test'])
  pems.alt = await makeCertificate('alt', ['alt.test', '*.wild.test'])
  pems.next = await makeCertificate('next', ['main.test'])
})
afterAll(async () => {
  await backend?.close()
  rmSync(dir, { recursive: true, force: true })
})

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256

interface Handshake {
  ok: boolean
  protocol?: string | null
  cipher?: string
  fingerprint?: string
  alpn?: string | false | null
  error?: string
}

/** One TLS handshake with a pinned client; the certificate is not verified (test CA-less). */
function handshake(port: number, options: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...options })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ ok: false, error: 'timeout' })
    }, 5000)
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      const peer = socket.getPeerX509Certificate()
      resolve({
        ok: true,
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().standardName,
        fingerprint: peer?.fingerprint256,
        alpn: socket.alpnProtocol,
      })
      socket.end()
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      resolve({ ok: false, error: error.message })
    })
  })
}

/** Pin the client to one version; OpenSSL 3 refuses TLS 1.0/1.1 at its default level. */
const pinned = (version: SecureVersion): ConnectionOptions => ({
  minVersion: version,
  maxVersion: version,
  ...(version === 'TLSv1' || version === 'TLSv1.1' ? { ciphers: 'DEFAULT@SECLEVEL=0' } : {}),
})

describe.each(RUNTIMES)('hardened TLS on %s', (runtime) => {
  let fulcrum: FulcrumProcess

  beforeAll(async () => {
    fulcrum = await startFulcrum(runtime, [
      '--backend',
      backend.url,
      '--cert',
      pems.main!.certPath,
      '--key',
      pems.main!.keyPath,
      '--cert',
      pems.alt!.certPath,
      '--key',
      pems.alt!.keyPath,
      '--hsts-max-age',
      '1h',
      '--http-redirect-port',
      '0',
    ])
  })
  afterAll(async () => {
    await fulcrum?.stop()
  })

  it('refuses TLS 1.0 and 1.1 and accepts TLS 1.2 and 1.3', async () => {
    const results = Object.fromEntries(
      await Promise.all(
        (['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const).map(
          async (version) => [version, await handshake(fulcrum.port, pinned(version))] as const,
        ),
      ),
    )
    expect(results['TLSv1']!.ok).toBe(false)
    expect(results['TLSv1.1']!.ok).toBe(false)
    expect(results['TLSv1.2']).toMatchObject({ ok: true, protocol: 'TLSv1.2' })
    expect(results['TLSv1.3']).toMatchObject({ ok: true, protocol: 'TLSv1.3' })
  })

  it('offers only forward-secret AEAD ciphers, and lets the client choose among them', async () => {
    for (const weak of ['AES128-SHA', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA']) {
      const result = await handshake(fulcrum.port, { ...pinned('TLSv1.2'), ciphers: weak })
      expect(result.ok, weak).toBe(false)
    }
    // No server preference (Mozilla intermediate): the client's first choice wins.
    for (const first of ['ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-RSA-AES256-GCM-SHA384']) {
      const result = await handshake(fulcrum.port, {
        ...pinned('TLSv1.2'),
        ciphers: `${first}:ECDHE-RSA-AES128-GCM-SHA256`,
      })
      expect(result.ok).toBe(true)
      expect(result.cipher).toBe(
        first === 'ECDHE-RSA-CHACHA20-POLY1305'
          ? 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'
          : 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
      )
    }
  })

  it('picks the certificate by SNI, where the runtime can', async () => {
    const main = fingerprint(pems.main!.cert)
    const alt = fingerprint(pems.alt!.cert)
    const byName = async (servername?: string) =>
      (await handshake(fulcrum.port, servername ? { servername } : {})).fingerprint
    expect(await byName('main.test')).toBe(main)
    expect(await byName()).toBe(main)
    expect(await byName('unknown.test')).toBe(main)
    if (runtime === 'deno') {
      // Deno.serve takes one certificate; fulcrum says so at start.
      expect(await byName('alt.test')).toBe(main)
      expect(fulcrum.logs().some((l) => /SNI is not available/.test(l.msg))).toBe(true)
    } else {
      expect(await byName('alt.test')).toBe(alt)
      expect(await byName('x.wild.test')).toBe(alt)
    }
  })

  it('sends HSTS over HTTPS, and redirects plain HTTP without it', async () => {
    const https = await exchange(fulcrum.port, 'GET /s HTTP/1.1\r\nHost: main.test\r\n\r\n', {
      expect: 1,
      tls: { servername: 'main.test', ALPNProtocols: ['http/1.1'] },
    })
    expect(https.responses[0]?.status).toBe(200)
    expect(https.responses[0]?.headers['strict-transport-security']).toBe('max-age=3600')

    const line = await fulcrum.waitForLog((l) => l.msg === 'redirecting to https')
    const port = line.port as number
    const get = await exchange(port, 'GET /path?q=1 HTTP/1.1\r\nHost: main.test\r\n\r\n', {
      expect: 1,
    })
    expect(get.responses[0]?.status).toBe(301)
    expect(get.responses[0]?.headers.location).toBe(`https://main.test:${fulcrum.port}/path?q=1`)
    expect(get.responses[0]?.headers['strict-transport-security']).toBe(undefined)
    const post = await exchange(
      port,
      'POST /form HTTP/1.1\r\nHost: main.test\r\nContent-Length: 0\r\n\r\n',
      { expect: 1 },
    )
    expect(post.responses[0]?.status).toBe(308)
    const bad = await exchange(port, 'GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n', { expect: 1 })
    expect(bad.responses[0]?.status).toBe(400)
  })
})

describe.each(RUNTIMES)('certificate reload on %s', (runtime) => {
  it('serves new certificates after SIGHUP and after a file change, without a restart', async () => {
    const certPath = join(dir, `${runtime}-live.crt`)
    const keyPath = join(dir, `${runtime}-live.key`)
    copyFileSync(pems.main!.certPath, certPath)
    copyFileSync(pems.main!.keyPath, keyPath)
    const fulcrum = await startFulcrum(runtime, [
      '--backend',
      backend.url,
      '--cert',
      certPath,
      '--key',
      keyPath,
      '--watch-certs',
    ])
    /**
     * The certificate new handshakes get. Deno and Bun swap listeners on the same port
     * (SO_REUSEPORT), so a handshake right at the swap may still meet the old one: ask again
     * for a little while.
     */
    const served = async (expected: string) => {
      let seen: string | undefined
      for (let i = 0; i < 20 && seen !== expected; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100))
        seen = (await handshake(fulcrum.port)).fingerprint
      }
      return seen
    }
    try {
      const pid = fulcrum.child.pid
      expect((await handshake(fulcrum.port)).fingerprint).toBe(fingerprint(pems.main!.cert))
      // A connection open across the reload keeps working.
      const before = await exchange(fulcrum.port, 'GET /before HTTP/1.1\r\nHost: x\r\n\r\n', {
        expect: 1,
        tls: { ALPNProtocols: ['http/1.1'] },
      })
      expect(before.responses[0]?.status).toBe(200)

      // The files change: the watcher picks it up.
      copyFileSync(pems.next!.keyPath, keyPath)
      copyFileSync(pems.next!.certPath, certPath)
      await fulcrum.waitForLog((l) => l.msg === 'certificates reloaded', 10_000)
      expect(await served(fingerprint(pems.next!.cert))).toBe(fingerprint(pems.next!.cert))

      // SIGHUP reloads them too, and a bad file leaves the certificates in force.
      writeFileSync(certPath, 'not a certificate\n')
      fulcrum.child.kill('SIGHUP')
      await fulcrum.waitForLog((l) => l.msg.startsWith('certificate reload failed'), 10_000)
      expect((await handshake(fulcrum.port)).fingerprint).toBe(fingerprint(pems.next!.cert))
      copyFileSync(pems.main!.certPath, certPath)
      copyFileSync(pems.main!.keyPath, keyPath)
      const reloads = () => fulcrum.logs().filter((l) => l.msg === 'certificates reloaded').length
      const seen = reloads()
      fulcrum.child.kill('SIGHUP')
      const deadline = Date.now() + 10_000
      while (reloads() === seen && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50))
      expect((await handshake(fulcrum.port)).fingerprint).toBe(fingerprint(pems.main!.cert))

      expect(fulcrum.child.pid).toBe(pid)
      expect(fulcrum.child.exitCode).toBe(null)
      const after = await exchange(fulcrum.port, 'GET /after HTTP/1.1\r\nHost: x\r\n\r\n', {
        expect: 1,
        tls: { ALPNProtocols: ['http/1.1'] },
      })
      expect(after.responses[0]?.status).toBe(200)
    } finally {
      expect(await fulcrum.stop()).toBe(0)
    }
  }, 60_000)
})

describe('header deadline over TLS on node', () => {
  it("cuts a slowloris on the HTTP/2 server's HTTP/1.1 fallback at the header deadline", async () => {
    const config = join(dir, 'slow-tls.json')
    writeFileSync(config, JSON.stringify({ timeouts: { clientHeaders: '1s' } }))
    const fulcrum = await startFulcrum('node', [
      '--tls',
      '--backend',
      backend.url,
      '--config',
      config,
    ])
    try {
      const socket = connect({
        port: fulcrum.port,
        host: '127.0.0.1',
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      })
      let raw = ''
      socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')))
      socket.on('error', () => {})
      await new Promise((resolve) => socket.once('secureConnect', resolve))
      const startedAt = Date.now()
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n')
      const drip = setInterval(() => socket.writable && socket.write('X'), 200)
      await new Promise((resolve) => {
        socket.once('close', resolve)
        setTimeout(resolve, 10_000)
      })
      clearInterval(drip)
      const elapsed = Date.now() - startedAt
      expect(raw).toMatch(/^HTTP\/1\.1 408/)
      expect(elapsed).toBeGreaterThanOrEqual(900)
      expect(elapsed).toBeLessThan(5000)
    } finally {
      await fulcrum.stop()
    }
  })
})
