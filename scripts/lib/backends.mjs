// Shared by the bench scripts: the loopback HTTP backends a run puts behind the balancers. nginx
// with one worker listening on every port when it is installed, else one node:http process.
// GET /health answers `healthy`, GET /bulk 1 MiB (the TCP bench's bulk transfer), any other path
// a 100-byte body with an X-Backend header naming the port.
import { Buffer } from 'node:buffer'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { has, pinned, start } from './processes.mjs'

export const HAVE_NGINX = has('nginx')

/** The body of every answer but /health and /bulk. */
export const BODY = 'ok backend '.padEnd(100, '.')

/** The size of GET /bulk's body. */
export const BULK_BYTES = 1 << 20

/** An nginx config (one worker, no access log, temp paths in `workdir`) around `http { body }`. */
export function nginxConf(workdir, name, body) {
  return `worker_processes 1; daemon off; pid ${workdir}/${name}.pid;
error_log ${workdir}/${name}-error.log warn; worker_rlimit_nofile 16384;
events { worker_connections 8192; multi_accept on; }
http { access_log off; server_tokens off; keepalive_requests 1000000; keepalive_timeout 75s;
  default_type text/plain;
  client_body_temp_path ${workdir}/tmp/${name}-body; proxy_temp_path ${workdir}/tmp/${name}-proxy;
  fastcgi_temp_path ${workdir}/tmp/${name}-fcgi; uwsgi_temp_path ${workdir}/tmp/${name}-uwsgi;
  scgi_temp_path ${workdir}/tmp/${name}-scgi;
  ${body} }`
}

/** Start the backends on `ports` of 127.0.0.1, on CPU `cpu` when pinning; returns the process. */
export function startBackends(workdir, ports, cpu = 1) {
  if (HAVE_NGINX) {
    mkdirSync(join(workdir, 'tmp'), { recursive: true })
    // nginx's worker (www-data or nobody, under root) reads the file: the private directory is
    // opened for it to pass through, the file for reading.
    chmodSync(workdir, 0o711)
    writeFileSync(join(workdir, 'bulk'), Buffer.alloc(BULK_BYTES, 'b'), { mode: 0o644 })
    const servers = ports
      .map(
        (port) => `server { listen 127.0.0.1:${port} backlog=4096;
        location = /health { return 200 "healthy\\n"; }
        location = /bulk { sendfile on; alias ${workdir}/bulk; }
        location / { add_header X-Backend ${port}; return 200 "${BODY}"; } }`,
      )
      .join('\n')
    writeFileSync(join(workdir, 'backend.conf'), nginxConf(workdir, 'backend', servers))
    return start(pinned(cpu, ['nginx', '-p', workdir, '-c', join(workdir, 'backend.conf')]))
  }
  const source = `const http = require('node:http');
    const bulk = Buffer.alloc(${BULK_BYTES}, 'b');
    for (const port of ${JSON.stringify(ports)}) http.createServer((req, res) => {
      if (req.url === '/health') return res.end('healthy\\n');
      if (req.url === '/bulk') return res.end(bulk);
      res.setHeader('x-backend', String(port)); res.end(${JSON.stringify(BODY)});
    }).listen({ port, host: '127.0.0.1', backlog: 4096 });`
  return start(pinned(cpu, [process.execPath, '-e', source]))
}
