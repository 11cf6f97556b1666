import { Type } from '@sinclair/typebox'

export const HealthSchema = Type.Object({
  status: Type.Literal('ok', { description: 'The service answers and is not shutting down.' }),
  database: Type.Literal('ok', { description: 'The database answered, and has every migration this version needs.' })
}, { $id: 'Health', additionalProperties: false, description: 'The service is ready for traffic; anything else is a `503` problem instead.' })

export const LivenessSchema = Type.Object({
  status: Type.Literal('ok', { description: 'The process answers.' })
}, { $id: 'Liveness', additionalProperties: false, description: 'The process runs and answers HTTP; says nothing of the database.' })
