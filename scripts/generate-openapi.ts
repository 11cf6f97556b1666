import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { generateOpenApi } from '../src/openapi-document.js'
import { projectRoot } from '../src/paths.js'
import { ARTIFACTS, generatePostmanCollection, generateTypes } from './openapi-artifacts.js'

const outDir = path.join(projectRoot, 'openapi')
const { json, yaml } = await generateOpenApi()
const document = JSON.parse(json) as object
await mkdir(outDir, { recursive: true })
await writeFile(path.join(outDir, ARTIFACTS.json), json)
await writeFile(path.join(outDir, ARTIFACTS.yaml), yaml)
await writeFile(path.join(outDir, ARTIFACTS.types), await generateTypes(document))
await writeFile(path.join(outDir, ARTIFACTS.postman), await generatePostmanCollection(document))
console.log(`Wrote ${Object.values(ARTIFACTS).map((file) => `openapi/${file}`).join(', ')}`)
