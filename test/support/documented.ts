import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { generateOpenApi } from '../../src/openapi-document.js'

export interface MediaType { schema?: object }
export interface DocumentedResponse { content?: Record<string, MediaType> }
export interface DocumentedOperation {
  operationId: string
  responses: Record<string, DocumentedResponse>
  parameters?: { name: string, in: string, schema: object }[]
  security?: Record<string, string[]>[]
  requestBody?: { content?: Record<string, MediaType> }
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, DocumentedOperation>>
  components: { schemas: Record<string, object> }
}

export interface Documented {
  document: OpenApiDocument
  /** Every operation with its method (upper case) and path template. */
  operations: (DocumentedOperation & { method: string, template: string })[]
  /**
   * Checks a response against the operation's documentation: its status must be documented, and
   * its body must match the schema of its media type. Returns what is wrong, or undefined.
   */
  check: (operation: DocumentedOperation, status: number, contentType: string | undefined, body: string) => string | undefined
}

/** The generated OpenAPI document, and a validator of responses against it (Ajv, JSON Schema 2020-12). */
export async function loadDocumented (): Promise<Documented> {
  const document = JSON.parse((await generateOpenApi()).json) as OpenApiDocument
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats.default(ajv)
  ajv.addSchema({ ...document, $id: 'openapi.json' })
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>()

  function validatorOf (schema: object) {
    const key = JSON.stringify(schema)
    let validate = compiled.get(key)
    if (validate === undefined) {
      // Response schemas are `$ref`s into the components, or unions of them: resolve them in the document.
      validate = ajv.compile(JSON.parse(key.replaceAll('"#/components/', '"openapi.json#/components/')) as object)
      compiled.set(key, validate)
    }
    return validate
  }

  function check (operation: DocumentedOperation, status: number, contentType: string | undefined, body: string): string | undefined {
    const response = operation.responses[String(status)]
    if (response === undefined) return `status ${status} is not documented for ${operation.operationId}`
    if (body === '') return response.content === undefined ? undefined : `${operation.operationId} ${status}: the documented body is missing`
    const mediaType = (contentType ?? '').split(';')[0] ?? ''
    const schema = response.content?.[mediaType]?.schema
    if (schema === undefined) return `${operation.operationId} ${status}: ${mediaType} is not documented`
    const validate = validatorOf(schema)
    // A JSON body is checked as the value it holds; any other (an SVG image) as the string it is.
    const json = mediaType === 'application/json' || mediaType.endsWith('+json')
    return validate(json ? JSON.parse(body) : body) ? undefined : `${operation.operationId} ${status}: ${ajv.errorsText(validate.errors)}`
  }

  const operations = Object.entries(document.paths).flatMap(([template, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ ...operation, method: method.toUpperCase(), template })))
  return { document, operations, check }
}
