// Bundle runtimes/node.ts into one self-contained ES module: dist/node.js.
import { join } from 'node:path'
import { buildNode, ROOT } from './lib/fulcrum.mjs'

await buildNode(join(ROOT, 'dist/node.js'), { sourcemap: 'linked' })
