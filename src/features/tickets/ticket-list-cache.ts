/**
 * Serialized ticket lists, per booking, under the booking's `tickets_version` (which every change of
 * one of its tickets moves, in the database). A reader checks the version, one row, and sends the
 * cached body while it is current; the database stays the one source of truth, so several server
 * processes each keep their own cache. Bodies are kept encoded (UTF-8), as they go out. Bounded by
 * the bytes it holds; the least recently used go first.
 */
export function createTicketListCache (maxBytes = 32 * 2 ** 20) {
  const entries = new Map<string, { version: number, body: Buffer }>()
  let bytes = 0

  function drop (bookingId: string): void {
    const entry = entries.get(bookingId)
    if (entry === undefined) return
    entries.delete(bookingId)
    bytes -= entry.body.length
  }

  return {
    /** The body cached for this version of the booking's tickets, if any. */
    get (bookingId: string, version: number): Buffer | undefined {
      const entry = entries.get(bookingId)
      if (entry?.version !== version) return undefined
      // Most recently used last: Map keeps insertion order.
      entries.delete(bookingId)
      entries.set(bookingId, entry)
      return entry.body
    },

    set (bookingId: string, version: number, body: Buffer): void {
      drop(bookingId)
      if (body.length > maxBytes) return
      entries.set(bookingId, { version, body })
      bytes += body.length
      for (const oldest of entries.keys()) {
        if (bytes <= maxBytes) break
        drop(oldest)
      }
    }
  }
}

export type TicketListCache = ReturnType<typeof createTicketListCache>
