/**
 * `src/` runs unchanged on Node, Deno and Bun: it may use Web APIs, hono and zod, but never a
 * `node:` module or the `Deno`/`Bun` globals (DESIGN.md). Whatever differs comes in through
 * `RuntimeDeps`. The files are parsed with TypeScript, so that prose in comments and strings
 * ("runs on Deno and Bun") is allowed and only code counts.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/fulcrum.ts'

const SRC = join(ROOT, 'src')

/** Runtime globals that src/ must not name. */
const GLOBALS = new Set(['Deno', 'Bun', 'process', 'Buffer'])
/** Objects through which a global can be reached by property name. */
const GLOBAL_OBJECTS = new Set(['globalThis', 'window', 'self', 'global'])

/** Every source file under `dir`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return /\.[cm]?[jt]sx?$/.test(entry.name) ? [path] : []
  })
}

/** `node:x`, or a bare Node built-in (`fs`, `net/…`), which Deno and Bun alias to node:. */
function isNodeModule(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!)
}

/** The violations in one file's text, as `line: what`. */
function violations(text: string, fileName = 'file.ts'): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true)
  const found: string[] = []
  const report = (node: ts.Node, what: string) =>
    found.push(`${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${what}`)
  const visit = (node: ts.Node): void => {
    // import … from 'x', export … from 'x', import x = require('x'), import('x'), require('x')
    let specifier: ts.Expression | undefined
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      specifier = node.moduleSpecifier
    } else if (ts.isExternalModuleReference(node)) {
      specifier = node.expression
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      specifier = node.arguments[0]
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      specifier = node.argument.literal as ts.Expression
    }
    if (specifier && ts.isStringLiteralLike(specifier) && isNodeModule(specifier.text)) {
      report(node, `imports ${specifier.text}`)
    }

    if (ts.isIdentifier(node) && GLOBALS.has(node.text)) {
      const parent = node.parent
      // `x.process` or `{ Bun: 1 }` is a property of something else, not the global…
      const isOwnName =
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        (ts.isPropertyAssignment(parent) && parent.name === node) ||
        (ts.isPropertySignature(parent) && parent.name === node) ||
        (ts.isPropertyDeclaration(parent) && parent.name === node) ||
        (ts.isMethodDeclaration(parent) && parent.name === node)
      // …unless that something is the global object.
      const viaGlobal =
        ts.isPropertyAccessExpression(parent) &&
        ts.isIdentifier(parent.expression) &&
        GLOBAL_OBJECTS.has(parent.expression.text)
      if (!isOwnName || viaGlobal) report(node, `names ${node.text}`)
    }
    // globalThis['Deno']
    if (
      ts.isElementAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      GLOBAL_OBJECTS.has(node.expression.text) &&
      ts.isStringLiteralLike(node.argumentExpression) &&
      GLOBALS.has(node.argumentExpression.text)
    ) {
      report(node, `names ${node.argumentExpression.text}`)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

describe('src/ is runtime-neutral', () => {
  const files = sourceFiles(SRC)

  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(10)
    expect(files.map((f) => relative(SRC, f))).toContain('app.ts')
  })

  it('has no node: imports and never names Deno, Bun, process or Buffer', () => {
    const found = files.flatMap((file) =>
      violations(readFileSync(file, 'utf8'), file).map((v) => `${relative(ROOT, file)}:${v}`),
    )
    expect(found).toEqual([])
  })

  it('catches each forbidden form (the check itself can fail)', () => {
    expect(violations(`import { readFile } from 'node:fs/promises'`)).toEqual([
      '1: imports node:fs/promises',
    ])
    expect(violations(`import type { Socket } from "node:net"`)).toEqual(['1: imports node:net'])
    expect(violations(`\nconst m = await import('node:os')`)).toEqual(['2: imports node:os'])
    expect(violations(`export { x } from 'node:util'`)).toEqual(['1: imports node:util'])
    expect(violations(`const fs = require('fs')`)).toEqual(['1: imports fs'])
    expect(violations(`import { connect } from 'net'`)).toEqual(['1: imports net'])
    expect(violations(`let s: import('node:stream').Readable`)).toEqual(['1: imports node:stream'])
    expect(violations(`const f = Deno.readTextFile`)).toEqual(['1: names Deno'])
    expect(violations(`if (typeof Bun !== 'undefined') {}`)).toEqual(['1: names Bun'])
    expect(violations(`const env = process.env.X`)).toEqual(['1: names process'])
    expect(violations(`Buffer.from('x')`)).toEqual(['1: names Buffer'])
    expect(violations(`type T = Deno.NetAddr`)).toEqual(['1: names Deno'])
    expect(violations(`const d = globalThis.Deno`)).toEqual(['1: names Deno'])
    expect(violations(`const b = globalThis['Bun']`)).toEqual(['1: names Bun'])
  })

  it('allows prose, look-alikes and properties of other objects', () => {
    expect(
      violations(
        [
          `/** Works on Deno and Bun; node:http is not used. */`,
          `// Bun.serve is called by the entry point`,
          `const usage = \`fulcrum for Node, Deno and Bun \${1}\``,
          `const Bundle = 1`,
          `const job = { process: 1, Deno: 2 }`,
          `job.process`,
          `import { Hono } from 'hono'`,
          `import { x } from './node-ish.ts'`,
        ].join('\n'),
      ),
    ).toEqual([])
  })
})
