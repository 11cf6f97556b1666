import postgres from 'postgres'

/*
 * DATABASE_URL may name several hosts, as libpq and postgres.js take them:
 * `postgres://user@db-a:5432,db-b:5432/booking?target_session_attrs=primary`. postgres.js connects to
 * the primary among them by itself (and after a failover, to the new one); what else reads the URL
 * (the configuration check, node-pg-migrate's driver) takes one host only, so it is given the
 * primary's own URL.
 */

/** The host list of a postgres URL (`host[:port]` entries), and the URL with each one of them alone. */
export function hostsOf (databaseUrl: string): { hosts: string[], single: (host: string) => string } {
  const match = /^(postgres(?:ql)?:\/\/(?:[^@/]*@)?)([^/?#]*)(.*)$/s.exec(databaseUrl)
  const [, before = '', hostList = '', after = ''] = match ?? []
  const hosts = hostList.split(',').filter((host) => host !== '')
  return { hosts: hosts.length === 0 ? [hostList] : hosts, single: (host) => `${before}${host}${after}` }
}

/** Whether the URL parses, each of its hosts taken alone (the WHATWG parser refuses a host list). */
export function isValidDatabaseUrl (databaseUrl: string): boolean {
  const { hosts, single } = hostsOf(databaseUrl)
  return hosts.every((host) => URL.canParse(single(host)))
}

/**
 * The URL of the one host of `databaseUrl` that is the primary now (not in recovery), for the
 * clients that take one host; a URL of one host as it is. Hosts that do not answer are skipped;
 * when none is a primary, the error of the last one tried.
 */
export async function primaryUrl (databaseUrl: string): Promise<string> {
  const { hosts, single } = hostsOf(databaseUrl)
  if (hosts.length <= 1) return databaseUrl
  let failure: unknown = new Error('no host of DATABASE_URL is a primary')
  for (const host of hosts) {
    const url = new URL(single(host))
    url.searchParams.delete('target_session_attrs')
    const candidate = url.toString()
    const sql = postgres(candidate, { max: 1, connect_timeout: 5, onnotice: () => {} })
    try {
      const [row] = await sql<{ standby: boolean }[]>`select pg_is_in_recovery() as standby`
      if (row?.standby === false) return candidate
      failure = new Error(`the host ${host} is a standby`)
    } catch (error) {
      failure = error
    } finally {
      await sql.end({ timeout: 1 })
    }
  }
  throw failure
}
