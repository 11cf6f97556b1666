import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns'
import { isIP, type LookupFunction } from 'node:net'
import ipaddr from 'ipaddr.js'

/**
 * Only globally routable unicast addresses are public. ipaddr.js names every special range
 * (loopback, private, link-local, carrier-grade NAT, unique-local, NAT64, 6to4, reserved, ...);
 * an IPv4 address mapped into IPv6 is judged as the IPv4 address it is.
 */
export function isPublicAddress (address: string): boolean {
  if (!ipaddr.isValid(address)) return false
  return ipaddr.process(address).range() === 'unicast'
}

export class PrivateAddressError extends Error {
  override name = 'PrivateAddressError'
  readonly code = 'EWEBHOOKPRIVATEADDRESS'
  constructor (readonly host: string, readonly address: string) {
    super(`${host} resolves to ${address}, which is not a public address`)
  }
}

/** The host of a URL as the resolver sees it (IPv6 literals lose their brackets). */
export function hostOf (url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1')
}

/**
 * Refuses a URL whose host is an IP literal outside the public ranges, or `localhost`: the check
 * that can be made without the network, when an endpoint is saved. Deliveries check the resolved
 * address again (DNS answers change).
 */
export function privateLiteralHost (url: URL): string | undefined {
  const host = hostOf(url)
  if (host === 'localhost' || host.endsWith('.localhost')) return host
  if (isIP(host) !== 0 && !isPublicAddress(host)) return host
  return undefined
}

/**
 * A `lookup` for sockets that fails unless every address the name resolves to is public, so the
 * connection goes only to an address that was checked (no window for DNS rebinding).
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  const all: LookupAllOptions = { ...options, all: true }
  dnsLookup(hostname, all, (error, addresses: LookupAddress[]) => {
    if (error !== null) return callback(error, '', 0)
    const refused = addresses.find((entry) => !isPublicAddress(entry.address))
    if (refused !== undefined) return callback(new PrivateAddressError(hostname, refused.address), '', 0)
    if (options.all === true) {
      // Node's own signature: with `all`, the callback takes the list.
      (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, addresses)
      return
    }
    const first = addresses[0]
    if (first === undefined) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0)
    callback(null, first.address, first.family)
  })
}
