import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { generateOpenApi } from '../src/openapi-document.js'
import { projectRoot } from '../src/paths.js'

const outDir = path.join(projectRoot, 'openapi')
const { json, yaml } = await generateOpenApi()
await mkdir(outDir, { recursive: true })
await writeFile(path.join(outDir, 'openapi.json'), json)
await writeFile(path.join(outDir, 'openapi.yaml'), yaml)
console.log(`Wrote ${path.relative(process.cwd(), outDir)}/openapi.json and openapi.yaml`)
