import { validationProblem } from './problems.js'

/** Where a keyset page ends: the sort timestamp and id of its last row. */
export interface PagePosition {
  at: Date
  id: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Cursors are opaque to clients: base64url of `[iso timestamp, id]`. */
export function encodeCursor (position: PagePosition): string {
  return Buffer.from(JSON.stringify([position.at.toISOString(), position.id])).toString('base64url')
}

export function decodeCursor (cursor: string): PagePosition {
  let decoded: unknown
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    decoded = undefined
  }
  if (Array.isArray(decoded) && decoded.length === 2) {
    const [at, id] = decoded as unknown[]
    if (typeof at === 'string' && typeof id === 'string' && UUID.test(id) && !Number.isNaN(Date.parse(at))) {
      return { at: new Date(at), id }
    }
  }
  throw validationProblem(
    [{ path: '/cursor', message: 'is not a cursor returned by this API' }],
    'The query string is not valid: /cursor is not a cursor returned by this API.'
  )
}

/** The position to continue after, from a `cursor` query parameter when one was sent. */
export function afterCursor (cursor: string | undefined): PagePosition | undefined {
  return cursor === undefined ? undefined : decodeCursor(cursor)
}

/** The `nextCursor` of a page: where its last item stands, or null when no page follows. */
export function nextCursor<T extends { id: string }> (items: T[], hasMore: boolean, sortTime: (item: T) => string): string | null {
  const last = items.at(-1)
  return hasMore && last !== undefined ? encodeCursor({ at: new Date(sortTime(last)), id: last.id }) : null
}
