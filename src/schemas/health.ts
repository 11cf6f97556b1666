import { Type } from '@sinclair/typebox'

export const HealthSchema = Type.Object({
  status: Type.Literal('ok', { description: 'The service answers.' }),
  database: Type.Literal('ok', { description: 'The database answered.' })
}, { $id: 'Health', additionalProperties: false, description: 'Service status; any failure is a `503` problem instead.' })
