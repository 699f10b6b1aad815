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
import { connect as connectHttp2 } from 'node:http2'
import { connect, type ConnectionOptions, type SecureVersion, type TLSSocket } from 'node:tls'
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

  it('picks the certificate by SNI', async () => {
    const main = fingerprint(pems.main!.cert)
    const alt = fingerprint(pems.alt!.cert)
    const byName = async (servername?: string, alpn?: string[]) =>
      (
        await handshake(fulcrum.port, {
          ...(servername ? { servername } : {}),
          ...(alpn ? { ALPNProtocols: alpn } : {}),
        })
      ).fingerprint
    expect(await byName('main.test')).toBe(main)
    expect(await byName()).toBe(main)
    expect(await byName('unknown.test')).toBe(main)
    expect(await byName('alt.test')).toBe(alt)
    expect(await byName('ALT.test')).toBe(alt)
    expect(await byName('x.wild.test')).toBe(alt)
    expect(await byName('y.x.wild.test')).toBe(main)
    // The name's certificate whatever ALPN the client offers (Deno caches per name and offer).
    expect(await byName('alt.test', ['h2', 'http/1.1'])).toBe(alt)
    expect(await byName('main.test', ['http/1.1'])).toBe(main)
    expect(fulcrum.logs().some((l) => /SNI is not available/.test(l.msg))).toBe(false)
    // A request over the SNI-picked certificate is served.
    const https = await exchange(fulcrum.port, 'GET /sni HTTP/1.1\r\nHost: alt.test\r\n\r\n', {
      expect: 1,
      tls: { servername: 'alt.test', ALPNProtocols: ['http/1.1'] },
    })
    expect(https.responses[0]?.status).toBe(200)
  })

  it('negotiates h2 by ALPN on the SNI listener, where the runtime serves h2', async () => {
    const session = connectHttp2(`https://127.0.0.1:${fulcrum.port}`, {
      rejectUnauthorized: false,
      servername: 'alt.test',
    })
    session.on('error', () => {})
    const connected = await new Promise<boolean>((resolve) => {
      session.once('connect', () => resolve(true))
      session.once('error', () => resolve(false))
    })
    try {
      if (runtime === 'bun') {
        // Bun serves HTTP/1.1 only (see edge-http2.test.ts).
        expect(connected && session.alpnProtocol === 'h2').toBe(false)
        return
      }
      expect(session.alpnProtocol).toBe('h2')
      const peer = (session.socket as TLSSocket).getPeerX509Certificate()
      expect(peer?.fingerprint256).toBe(fingerprint(pems.alt!.cert))
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': '/h2', ':authority': 'alt.test' })
        stream.on('response', (headers) => resolve(Number(headers[':status'])))
        stream.on('error', reject)
        stream.resume()
      })
      expect(status).toBe(200)
    } finally {
      session.destroy()
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

describe.each(RUNTIMES)('SNI certificate reload on %s', (runtime) => {
  it('reloads every SNI certificate on SIGHUP, without a restart', async () => {
    const live = (name: string) => ({
      cert: join(dir, `${runtime}-sni-${name}.crt`),
      key: join(dir, `${runtime}-sni-${name}.key`),
    })
    const main = live('main')
    const alt = live('alt')
    copyFileSync(pems.main!.certPath, main.cert)
    copyFileSync(pems.main!.keyPath, main.key)
    copyFileSync(pems.alt!.certPath, alt.cert)
    copyFileSync(pems.alt!.keyPath, alt.key)
    const fulcrum = await startFulcrum(runtime, [
      '--backend',
      backend.url,
      ...['--cert', main.cert, '--key', main.key, '--cert', alt.cert, '--key', alt.key],
    ])
    const byName = async (servername: string) =>
      (await handshake(fulcrum.port, { servername })).fingerprint
    try {
      expect(await byName('main.test')).toBe(fingerprint(pems.main!.cert))
      expect(await byName('alt.test')).toBe(fingerprint(pems.alt!.cert))
      copyFileSync(pems.next!.keyPath, main.key)
      copyFileSync(pems.next!.certPath, main.cert)
      fulcrum.child.kill('SIGHUP')
      await fulcrum.waitForLog((l) => l.msg === 'certificates reloaded', 10_000)
      // Listeners swap on Deno and Bun: a handshake right at the swap may meet the old one.
      let seen: string | undefined
      for (let i = 0; i < 20 && seen !== fingerprint(pems.next!.cert); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100))
        seen = await byName('main.test')
      }
      expect(seen).toBe(fingerprint(pems.next!.cert))
      expect(await byName('alt.test')).toBe(fingerprint(pems.alt!.cert))
      expect(fulcrum.child.exitCode).toBe(null)
    } finally {
      expect(await fulcrum.stop()).toBe(0)
    }
  }, 30_000)
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
