import { Type } from '@sinclair/typebox'

export const HealthSchema = Type.Object({
  status: Type.Literal('ok'),
  database: Type.Literal('ok')
}, { $id: 'Health', additionalProperties: false })
