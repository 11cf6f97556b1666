import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../../src/paths.js'

/**
 * What an integrator does: `npx openapi-typescript openapi/openapi.json -o openapi-types.d.ts`
 * with no options, then a strict TypeScript client with openapi-fetch. Every request property the
 * server defaults must be optional in those types, so a client that leaves them out compiles.
 */

const documentPath = path.join(projectRoot, 'openapi', 'openapi.json')
const cli = path.join(projectRoot, 'node_modules', 'openapi-typescript', 'bin', 'cli.js')

interface SchemaNode {
  $ref?: string
  default?: unknown
  properties?: Record<string, SchemaNode>
  items?: SchemaNode
  allOf?: SchemaNode[]
  anyOf?: SchemaNode[]
  oneOf?: SchemaNode[]
}
interface OpenApiDocument {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: SchemaNode }> } }>>
  components: { schemas: Record<string, SchemaNode> }
}

/** A request body property with a default: the operation, and the way from the body to it. */
interface DefaultedProperty { url: string, method: string, steps: ({ property: string } | 'item')[] }

/**
 * Every property of a JSON request body, at any depth, whose schema has a `default`, its own or that
 * of the schema it references: the server fills those in, so clients may leave them out.
 */
function defaultedRequestProperties (document: OpenApiDocument): DefaultedProperty[] {
  const resolve = (node: SchemaNode): SchemaNode => {
    if (node.$ref === undefined) return node
    const target = document.components.schemas[node.$ref.replace('#/components/schemas/', '')]
    if (target === undefined) throw new Error(`unresolved ${node.$ref}`)
    return { ...resolve(target), ...node, $ref: undefined }
  }
  const found: DefaultedProperty[] = []
  const walk = (node: SchemaNode, at: Omit<DefaultedProperty, 'steps'>, steps: DefaultedProperty['steps'], seen: Set<string>): void => {
    if (node.$ref !== undefined) {
      if (seen.has(node.$ref)) return
      seen = new Set([...seen, node.$ref])
    }
    const schema = resolve(node)
    for (const [property, child] of Object.entries(schema.properties ?? {})) {
      const next = [...steps, { property }]
      if (resolve(child).default !== undefined) found.push({ ...at, steps: next })
      walk(child, at, next, seen)
    }
    if (schema.items !== undefined) walk(schema.items, at, [...steps, 'item'], seen)
    for (const branch of [...schema.allOf ?? [], ...schema.anyOf ?? [], ...schema.oneOf ?? []]) walk(branch, at, steps, seen)
  }
  for (const [url, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const schema = operation.requestBody?.content?.['application/json']?.schema
      if (schema !== undefined) walk(schema, { url, method }, [], new Set())
    }
  }
  return found
}

/** A compile-time check, one per defaulted property: `true` only when the property is optional. */
function optionalityCheck ({ url, method, steps }: DefaultedProperty, index: number): string {
  const last = steps.at(-1)
  if (last === undefined || last === 'item') throw new Error('a defaulted property ends in a property')
  let type = `Body<${JSON.stringify(url)}, ${JSON.stringify(method)}>`
  for (const step of steps.slice(0, -1)) type = step === 'item' ? `NonNullable<${type}>[number]` : `NonNullable<${type}>[${JSON.stringify(step.property)}]`
  const pointer = steps.map((step) => step === 'item' ? '/*' : `/${step.property}`).join('')
  return `// ${method.toUpperCase()} ${url}: the body's ${pointer} has a server-side default\n` +
    `export const defaulted${index}: IsOptional<NonNullable<${type}>, ${JSON.stringify(last.property)}> = true\n`
}

const client = (defaulted: DefaultedProperty[]) => `
import createClient from 'openapi-fetch'
import type { components, paths } from './openapi-types.js'

const api = createClient<paths>({ baseUrl: 'http://127.0.0.1:3000', headers: { authorization: 'Bearer tbk_example' } })

/** A tier without maxPerBooking (the server makes it 10), as the README's curl example does. */
export async function addStandingTier (eventId: string): Promise<number | undefined> {
  const { data } = await api.POST('/api/events/{eventId}/ticket-tiers', {
    params: { path: { eventId } },
    body: { name: 'Standing', price: 4900, capacity: 300 }
  })
  return data?.maxPerBooking
}

/** The component's type, as SDK users name it, without the defaulted property either. */
export const standing: components['schemas']['TicketTierCreate'] = { name: 'Standing', price: 4900, capacity: 300 }

/** An entry scan without type (the server makes it an entry), as a door sends it. */
export async function scanAtTheDoor (code: string, checkInListId: string): Promise<string | undefined> {
  const { data, error } = await api.POST('/api/check-ins', { body: { code, checkInListId, nonce: crypto.randomUUID() } })
  return data?.ticket.attendeeName ?? error?.type
}

/** The first page of events, without limit (20 by default). */
export async function firstEvents (): Promise<string[]> {
  const { data } = await api.GET('/api/events')
  return data?.data.map((event) => event.name) ?? []
}

type Body<P extends keyof paths, M extends keyof paths[P]> =
  paths[P][M] extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never
type IsOptional<T, K extends PropertyKey> = K extends keyof T ? (object extends Pick<T, K> ? true : false) : false

${defaulted.map(optionalityCheck).join('\n')}
`

let dir: string
let defaulted: DefaultedProperty[]
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'generated-client-'))
  // The client imports openapi-fetch as an integrator's project would, from its node_modules.
  await symlink(path.join(projectRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }))
  defaulted = defaultedRequestProperties(JSON.parse(await readFile(documentPath, 'utf8')) as OpenApiDocument)
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

/** Type-checks the file with the project's TypeScript, `strict` as integrators compile; the diagnostics as text. */
function typeCheck (file: string): string {
  const { options, errors } = ts.convertCompilerOptionsFromJson({
    strict: true,
    noEmit: true,
    target: 'ES2022',
    lib: ['ES2023', 'DOM'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    types: [],
    skipLibCheck: false
  }, dir)
  if (errors.length > 0) throw new Error(ts.flattenDiagnosticMessageText(errors[0]?.messageText, '\n'))
  const diagnostics = ts.getPreEmitDiagnostics(ts.createProgram([file], options))
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => dir,
    getNewLine: () => '\n'
  })
}

describe('types generated from the committed document with openapi-typescript\'s default options', () => {
  it('finds the request properties the server defaults', () => {
    expect(defaulted.map(({ url, method, steps }) => `${method} ${url} ${JSON.stringify(steps)}`)).toEqual(expect.arrayContaining([
      'post /api/events/{eventId}/ticket-tiers [{"property":"maxPerBooking"}]',
      'post /api/events/{eventId}/check-in-lists [{"property":"allowReentry"}]',
      'post /api/check-ins [{"property":"type"}]',
      'post /api/check-ins/batch [{"property":"checkIns"},"item",{"property":"type"}]'
    ]))
  })

  it('lets a strict client leave out every defaulted request property', async () => {
    // The CLI, run where no redocly.yaml is, exactly as the README's reader would run it.
    await promisify(execFile)(process.execPath, [cli, documentPath, '-o', path.join(dir, 'openapi-types.d.ts')], { cwd: dir })
    const file = path.join(dir, 'client.ts')
    await writeFile(file, client(defaulted))
    expect(typeCheck(file)).toBe('')
  })

  it('the same for the committed openapi/openapi-types.d.ts', async () => {
    const committed = path.join(dir, 'committed')
    await mkdir(committed)
    await writeFile(path.join(committed, 'openapi-types.d.ts'), await readFile(path.join(projectRoot, 'openapi', 'openapi-types.d.ts'), 'utf8'))
    const file = path.join(committed, 'client.ts')
    await writeFile(file, client(defaulted))
    expect(typeCheck(file)).toBe('')
  })
})
