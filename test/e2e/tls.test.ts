/**
 * TLS on the real entry points: the self-signed certificate flow (generated into certs/ of the
 * working directory, key mode 0600, SANs localhost, 127.0.0.1 and ::1, reused on the next start),
 * real PEM files given with --cert/--key, and clear errors for missing or bad files.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { request } from 'node:https'
import type { PeerCertificate, TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generate } from 'selfsigned'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, runFulcrum, startFulcrum } from '../helpers/fulcrum.ts'

const STACK_FRAME = /^\s+at\s/m

/** GET over HTTPS, trusting only `ca`; no keep-alive, so that fulcrum stops at once. */
function httpsGet(
  url: string,
  ca: string,
): Promise<{ status: number; body: string; peer: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false }, (res) => {
      const peer =
        res.socket && 'getPeerCertificate' in res.socket
          ? (res.socket as TLSSocket).getPeerCertificate()
          : undefined
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peer: peer! }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** The SHA-256 fingerprint of a PEM certificate, as Node prints it. */
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256

let backend: TestBackend
let dir: string
/** A certificate and key from "a real CA": here, made by the test with selfsigned. */
let realCert: { cert: string; key: string; certPath: string; keyPath: string }

beforeAll(async () => {
  backend = await startBackend('a')
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-tls-'))
  const pems = await generate([{ name: 'commonName', value: 'fulcrum-test.example' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'fulcrum-test.example' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  })
  realCert = {
    cert: pems.cert,
    key: pems.private,
    certPath: join(dir, 'real.crt'),
    keyPath: join(dir, 'real.key'),
  }
  writeFileSync(realCert.certPath, pems.cert)
  writeFileSync(realCert.keyPath, pems.private, { mode: 0o600 })
  writeFileSync(join(dir, 'not-pem.crt'), 'this is not a certificate\n')
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  writeFileSync(join(dir, 'other.key'), other.export({ type: 'pkcs8', format: 'pem' }) as string)
})
afterAll(async () => {
  await backend?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe.each(RUNTIMES)('TLS on %s', (runtime) => {
  it('generates a self-signed certificate into certs/, serves HTTPS with it, and reuses it', async () => {
    const cwd = mkdtempSync(join(dir, `${runtime}-cwd-`))
    const certPath = join(cwd, 'certs', 'selfsigned.crt')
    const keyPath = join(cwd, 'certs', 'selfsigned.key')

    const first = await startFulcrum(runtime, ['--tls', '--backend', backend.url], { cwd })
    let firstFingerprint: string
    let firstMtime: number
    try {
      expect(first.url).toMatch(/^https:/)
      expect(first.logs().some((l) => /generated a self-signed certificate/.test(l.msg))).toBe(true)
      expect(existsSync(certPath)).toBe(true)
      expect(statSync(keyPath).mode & 0o777).toBe(0o600)
      const cert = readFileSync(certPath, 'utf8')
      const x509 = new X509Certificate(cert)
      expect(x509.subjectAltName!.split(', ').sort()).toEqual([
        'DNS:localhost',
        'IP Address:0:0:0:0:0:0:0:1',
        'IP Address:127.0.0.1',
      ])
      expect(x509.checkPrivateKey(createPrivateKey(readFileSync(keyPath, 'utf8')))).toBe(true)
      // Valid for localhost and ::1 as well as the 127.0.0.1 we connect to below.
      expect(x509.checkHost('localhost')).toBe('localhost')
      expect(x509.checkIP('::1')).toBe('::1')
      expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1')

      // HTTPS works, verified against the generated certificate (no -k).
      const response = await httpsGet(`${first.url}/hello`, cert)
      expect(response.status).toBe(200)
      expect(response.body).toBe('a')
      expect(response.peer.fingerprint256).toBe(x509.fingerprint256)
      firstFingerprint = x509.fingerprint256
      firstMtime = statSync(certPath).mtimeMs
    } finally {
      expect(await first.stop()).toBe(0)
    }

    const second = await startFulcrum(runtime, ['--tls', '--backend', backend.url], { cwd })
    try {
      expect(second.logs().some((l) => /generated a self-signed/.test(l.msg))).toBe(false)
      const cert = readFileSync(certPath, 'utf8')
      expect(fingerprint(cert)).toBe(firstFingerprint)
      expect(statSync(certPath).mtimeMs).toBe(firstMtime)
      const response = await httpsGet(`${second.url}/again`, cert)
      expect(response.status).toBe(200)
      expect(response.peer.fingerprint256).toBe(firstFingerprint)
    } finally {
      expect(await second.stop()).toBe(0)
    }
  })

  it('serves the certificate and key given with --tls --cert --key', async () => {
    const cwd = mkdtempSync(join(dir, `${runtime}-real-`))
    const fulcrum = await startFulcrum(
      runtime,
      ['--tls', '--cert', realCert.certPath, '--key', realCert.keyPath, '--backend', backend.url],
      { cwd },
    )
    try {
      const response = await httpsGet(`${fulcrum.url}/real`, realCert.cert)
      expect(response.status).toBe(200)
      expect(response.peer.fingerprint256).toBe(fingerprint(realCert.cert))
      expect(response.peer.subject.CN).toBe('fulcrum-test.example')
      // Nothing was generated.
      expect(existsSync(join(cwd, 'certs'))).toBe(false)
    } finally {
      expect(await fulcrum.stop()).toBe(0)
    }
  })

  it('turns TLS on when --cert and --key are given without --tls', async () => {
    const fulcrum = await startFulcrum(runtime, [
      '--cert',
      realCert.certPath,
      '--key',
      realCert.keyPath,
      '--backend',
      backend.url,
    ])
    try {
      expect(fulcrum.url).toMatch(/^https:/)
      const response = await httpsGet(`${fulcrum.url}/implied`, realCert.cert)
      expect(response.status).toBe(200)
    } finally {
      await fulcrum.stop()
    }
  })

  it.each([
    [
      'a missing certificate',
      () => ['--cert', join(dir, 'missing.crt'), '--key', realCert.keyPath],
      'missing.crt',
    ],
    [
      'a missing key',
      () => ['--cert', realCert.certPath, '--key', join(dir, 'missing.key')],
      'missing.key',
    ],
    [
      'a certificate that is not PEM',
      () => ['--cert', join(dir, 'not-pem.crt'), '--key', realCert.keyPath],
      'not-pem.crt',
    ],
  ])('refuses %s with a clear startup error naming the file', async (_what, args, file) => {
    const { code, stdout, stderr } = await runFulcrum(runtime, ['--tls', ...args(), '--port', '0'])
    expect(code).not.toBe(0)
    expect(code).not.toBeNull()
    expect(stderr).toContain(file)
    expect(stderr).toMatch(/^fulcrum: tls\.(cert|key): /m)
    expect(stderr).not.toMatch(STACK_FRAME)
    expect(stdout).not.toMatch(/"listening"/)
  })

  it('refuses a key that does not match the certificate at startup', async () => {
    const { code, stdout, stderr } = await runFulcrum(runtime, [
      '--cert',
      realCert.certPath,
      '--key',
      join(dir, 'other.key'),
      '--port',
      '0',
    ])
    expect(code).toBe(1)
    expect(stderr).toMatch(/^fulcrum: .*mismatch/im)
    expect(stderr).not.toMatch(STACK_FRAME)
    expect(stdout).not.toMatch(/"listening"/)
  })
})
