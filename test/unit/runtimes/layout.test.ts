/**
 * The layout of runtimes/ (issue 11, "Reorganise runtimes/"):
 * - what differs between runtimes is said through the contract (runtimes/adapter.ts), so no file
 *   outside `runtimes/node/`, `runtimes/deno/` and `runtimes/bun/` compares a runtime's name or
 *   names the `Deno` and `Bun` globals (the entry points may name their own);
 * - imports point down: the entry points use everything; `start/` uses `tls/`, `upstream/` and
 *   the contract; a runtime's folder uses the contract, `tls/` and `upstream/`, never `start/`
 *   or another runtime's folder; `tls/`, `upstream/` and the contract use no runtime's folder.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../../helpers/fulcrum.ts'

const RUNTIMES = join(ROOT, 'runtimes')
const NAMES = new Set(['node', 'deno', 'bun'])
const EQUALITY = new Set([
  ts.SyntaxKind.EqualsEqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsEqualsToken,
  ts.SyntaxKind.EqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsToken,
])

/** Every source file under `dir`, relative to runtimes/. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [relative(RUNTIMES, path)] : []
  })
}

/** The folder of runtimes/ a file is in (`node`, `start`…), or `.` for the top level. */
const folderOf = (file: string) => (file.includes('/') ? file.split('/')[0]! : '.')

/** Where the runtime's name is compared, and where `Deno` or `Bun` is named, as `line: what`. */
function nameChecks(text: string, own?: string): string[] {
  const source = ts.createSourceFile('file.ts', text, ts.ScriptTarget.Latest, true)
  const found: string[] = []
  const report = (node: ts.Node, what: string) =>
    found.push(`${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${what}`)
  const isName = (node: ts.Node) => ts.isStringLiteralLike(node) && NAMES.has(node.text)
  const visit = (node: ts.Node): void => {
    if (
      ts.isBinaryExpression(node) &&
      EQUALITY.has(node.operatorToken.kind) &&
      (isName(node.left) || isName(node.right))
    ) {
      report(node, `compares ${node.getText()}`)
    }
    if (ts.isCaseClause(node) && isName(node.expression)) {
      report(node, `case ${node.expression.getText()}`)
    }
    if (
      ts.isIdentifier(node) &&
      (node.text === 'Deno' || node.text === 'Bun') &&
      node.text.toLowerCase() !== own &&
      !(ts.isPropertyAccessExpression(node.parent) && node.parent.name === node) &&
      !(ts.isPropertyAssignment(node.parent) && node.parent.name === node)
    ) {
      report(node, `names ${node.text}`)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** The runtimes/ files a file imports, relative to runtimes/ (`../` for what lies outside). */
function localImports(file: string): string[] {
  const text = readFileSync(join(RUNTIMES, file), 'utf8')
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  return source.statements.flatMap((statement) => {
    if (!(ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement))) return []
    const specifier = statement.moduleSpecifier
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) return []
    return [relative(RUNTIMES, resolve(RUNTIMES, dirname(file), specifier.text))]
  })
}

/** Which folders of runtimes/ each folder may import from (besides itself and src/). */
const MAY_IMPORT: Record<string, string[]> = {
  '.': ['.', 'node', 'deno', 'bun', 'start', 'tls', 'upstream'],
  start: ['.', 'tls', 'upstream'],
  node: ['.', 'tls', 'upstream'],
  deno: ['.', 'tls', 'upstream'],
  bun: ['.', 'tls', 'upstream'],
  tls: ['.'],
  upstream: ['.'],
}

describe('runtimes/ layout', () => {
  const files = sourceFiles(RUNTIMES)

  it('has the folders of the design and nothing else', () => {
    expect(new Set(files.map(folderOf))).toEqual(new Set(Object.keys(MAY_IMPORT)))
    expect(files.filter((file) => folderOf(file) === '.').sort()).toEqual([
      'adapter.ts',
      'bun.ts',
      'deno.ts',
      'node.ts',
    ])
  })

  it("checks no runtime's name outside its own folder", () => {
    const found = files
      .filter((file) => !NAMES.has(folderOf(file)))
      .flatMap((file) =>
        nameChecks(readFileSync(join(RUNTIMES, file), 'utf8'), file.replace(/\.ts$/, '')).map(
          (v) => `runtimes/${file}:${v}`,
        ),
      )
    expect(found).toEqual([])
  })

  it('imports point down', () => {
    const found = files.flatMap((file) => {
      const allowed = [folderOf(file), ...MAY_IMPORT[folderOf(file)]!]
      return localImports(file)
        .filter((target) => !target.startsWith('..') && !allowed.includes(folderOf(target)))
        .map((target) => `runtimes/${file} imports runtimes/${target}`)
    })
    expect(found).toEqual([])
  })

  it('catches each form (the checks themselves can fail)', () => {
    expect(nameChecks(`if (runtime.name !== 'node') {}`)).toEqual([
      "1: compares runtime.name !== 'node'",
    ])
    expect(nameChecks(`const b = "bun" === name`)).toEqual([`1: compares "bun" === name`])
    expect(nameChecks(`switch (rt) {\n  case 'deno':\n}`)).toEqual(["2: case 'deno'"])
    expect(nameChecks(`const v = Deno.version`)).toEqual(['1: names Deno'])
    expect(nameChecks(`if (typeof Bun !== 'undefined') {}`)).toEqual(['1: names Bun'])
    expect(nameChecks(`const v = Deno.version`, 'deno')).toEqual([])
    expect(
      nameChecks(
        [
          `/** Node, Deno or Bun */`,
          `const adapter = { name: 'node' }`,
          `log({ runtime: name })`,
          `if (name === 'nodes') {}`,
        ].join('\n'),
      ),
    ).toEqual([])
  })
})
