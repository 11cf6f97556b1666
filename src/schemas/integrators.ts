import { Type, type Static } from '@sinclair/typebox'
import { DateTimeSchema, NameSchema, NullableString, PageSchema, UuidSchema, described, pageQueryFields, ref } from './common.js'

export const SCOPES = ['bookings:read', 'bookings:write', 'webhooks:manage'] as const
/** Keys one integrator may have, revoked ones included: its key list is one response. */
export const MAX_KEYS_PER_INTEGRATOR = 1000
export type Scope = typeof SCOPES[number]

export const ScopeSchema = Type.Union(SCOPES.map((scope) => Type.Literal(scope)), {
  $id: 'Scope',
  description: '`bookings:read`: read and list bookings. `bookings:write`: create, confirm and cancel bookings. `webhooks:manage`: manage webhook endpoints.'
})

export const MAX_RATE_LIMIT = 1_000_000

export const RateLimitsSchema = Type.Object({
  requestsPerMinute: Type.Integer({ format: 'int32', minimum: 1, maximum: MAX_RATE_LIMIT, description: 'Requests each of the integrator\'s keys may make per minute, across the API.' }),
  bookingsPerMinute: Type.Integer({ format: 'int32', minimum: 1, maximum: MAX_RATE_LIMIT, description: 'Bookings each of its keys may create per minute (`POST /api/bookings`, counted apart).' })
}, {
  $id: 'RateLimits',
  additionalProperties: false,
  description: 'An integrator\'s own rate limits, per key and minute, in every server process.',
  examples: [{ requestsPerMinute: 120000, bookingsPerMinute: 60000 }]
})
export type RateLimits = Static<typeof RateLimitsSchema>

export const integratorExample = { id: '2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e', name: 'Acme Tickets', createdAt: '2026-11-25T17:00:00.000Z', rateLimits: null }

export const IntegratorSchema = Type.Object({
  id: described(UuidSchema, 'The integrator\'s id.'),
  name: described(NameSchema, 'The integrator\'s name, 1 to 200 characters.'),
  createdAt: described(DateTimeSchema, 'When the integrator was created, in UTC.'),
  rateLimits: Type.Union([ref(RateLimitsSchema), Type.Null()], { description: 'Its own limits, or `null`: the service\'s defaults apply (`RATE_LIMIT_REQUESTS_PER_MINUTE`, `RATE_LIMIT_BOOKINGS_PER_MINUTE`).' })
}, { $id: 'Integrator', additionalProperties: false, description: 'A customer of the API, who books with keys of its own.', examples: [integratorExample] })
export type Integrator = Static<typeof IntegratorSchema>

export const IntegratorUpdateSchema = Type.Object({
  name: Type.Optional(NameSchema),
  rateLimits: Type.Optional(Type.Union([ref(RateLimitsSchema), Type.Null()], { description: 'Both limits, or `null` to go back to the service\'s defaults. From the next request on, on every process.' }))
}, {
  $id: 'IntegratorUpdate',
  additionalProperties: false,
  minProperties: 1,
  description: 'Changes to an integrator: any of its fields.',
  examples: [{ rateLimits: { requestsPerMinute: 120000, bookingsPerMinute: 60000 } }]
})
export type IntegratorUpdate = Static<typeof IntegratorUpdateSchema>

export const IntegratorCreateSchema = Type.Object({ name: NameSchema }, {
  $id: 'IntegratorCreate', additionalProperties: false, description: 'A new integrator.', examples: [{ name: 'Acme Tickets' }]
})

export const IntegratorPageSchema = PageSchema(IntegratorSchema, {
  $id: 'IntegratorPage', description: 'One page of integrators.', items: 'Up to `limit` integrators, oldest first.'
})

export const IntegratorListQuerySchema = Type.Object(
  pageQueryFields(),
  { additionalProperties: false }
)

export const apiKeyCreatedExample = 'tbk_UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFw'

export const apiKeyExample = {
  id: '5c4b3a29-1807-4f6e-8d5c-4b3a29180716',
  name: 'Production checkout',
  prefix: 'tbk_Qm9vay1h',
  scopes: ['bookings:read', 'bookings:write', 'webhooks:manage'],
  createdAt: '2026-11-25T17:05:00.000Z',
  lastUsedAt: null,
  revokedAt: null
}

const apiKeyProperties = {
  id: described(UuidSchema, 'The key\'s id.'),
  name: NullableString(NameSchema, 'Your label for the key, or `null`.'),
  prefix: Type.String({ maxLength: 12, pattern: '^tbk_', description: 'The first characters of the key, to recognise it; the rest is never shown again.' }),
  scopes: Type.Array(ref(ScopeSchema), { maxItems: SCOPES.length, description: 'What the key may do.', uniqueItems: true }),
  createdAt: described(DateTimeSchema, 'When the key was created, in UTC.'),
  lastUsedAt: NullableString(DateTimeSchema, 'When the key was last used (to the minute), or `null`.'),
  revokedAt: NullableString(DateTimeSchema, 'When the key was revoked, or `null` while it works.')
}

export const ApiKeySchema = Type.Object(apiKeyProperties, {
  $id: 'ApiKey', additionalProperties: false, description: 'An integrator\'s API key, without its secret.', examples: [apiKeyExample]
})
export type ApiKey = Static<typeof ApiKeySchema>

export const ApiKeyCreatedSchema = Type.Object({
  ...apiKeyProperties,
  key: Type.String({ maxLength: 47, pattern: '^tbk_[A-Za-z0-9_-]{43}$', description: 'The secret key, shown in this response only: store it now. Send it as `Authorization: Bearer <key>`.' })
}, {
  $id: 'ApiKeyCreated',
  additionalProperties: false,
  description: 'A new API key with its secret, which no later response shows.',
  examples: [{ ...apiKeyExample, key: apiKeyCreatedExample }]
})
export type ApiKeyCreated = Static<typeof ApiKeyCreatedSchema>

export const ApiKeyCreateSchema = Type.Object({
  name: Type.Optional(NameSchema),
  scopes: Type.Optional(Type.Array(ref(ScopeSchema), { minItems: 1, maxItems: SCOPES.length, uniqueItems: true, description: 'Default: all scopes.' }))
}, {
  $id: 'ApiKeyCreate', additionalProperties: false, description: 'A new key for the integrator.', examples: [{ name: 'Production checkout', scopes: ['bookings:read', 'bookings:write'] }]
})
export type ApiKeyCreate = Static<typeof ApiKeyCreateSchema>

export const ApiKeyListSchema = Type.Object({
  data: Type.Array(ref(ApiKeySchema), { maxItems: MAX_KEYS_PER_INTEGRATOR, description: `All of the integrator's keys, oldest first, revoked ones included; an integrator has at most ${MAX_KEYS_PER_INTEGRATOR}.` })
}, { $id: 'ApiKeyList', additionalProperties: false, description: 'An integrator\'s keys.' })

export const IntegratorParamsSchema = Type.Object({
  integratorId: Type.String({ ...UuidSchema, examples: [integratorExample.id] })
}, { additionalProperties: false })

export const ApiKeyParamsSchema = Type.Object({
  integratorId: Type.String({ ...UuidSchema, examples: [integratorExample.id] }),
  keyId: Type.String({ ...UuidSchema, examples: [apiKeyExample.id] })
}, { additionalProperties: false })

export const integratorSchemas = [
  ScopeSchema, RateLimitsSchema, IntegratorSchema, IntegratorUpdateSchema, IntegratorCreateSchema, IntegratorPageSchema, ApiKeySchema, ApiKeyCreatedSchema, ApiKeyCreateSchema, ApiKeyListSchema
]
