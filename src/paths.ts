import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

function findProjectRoot (from: string): string {
  let dir = from
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`no package.json above ${from}`)
    dir = parent
  }
  return dir
}

/** The folder holding package.json, whether the code runs from `src/` (tsx) or `dist/src/` (compiled). */
export const projectRoot = findProjectRoot(path.dirname(fileURLToPath(import.meta.url)))

export const migrationsDir = path.join(projectRoot, 'migrations')
