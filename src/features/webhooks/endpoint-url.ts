import { isIP } from 'node:net'
import { type ProblemError, validationProblem } from '../../problems.js'
import { hostOf, privateLiteralHost } from './network-guard.js'

/** An IP address, or a DNS name (as WHATWG URL gives it: lower case, IDNs in punycode) of labels of 1 to 63 characters. */
function isHostName (host: string): boolean {
  if (isIP(host) !== 0) return true
  const labels = host.endsWith('.') ? host.slice(0, -1).split('.') : host.split('.')
  return host.length <= 254 && labels.every((label) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label))
}

function urlProblem (message: string): ProblemError {
  return validationProblem([{ path: '/url', message }], `The request body is not valid: /url ${message}.`)
}

/**
 * What the JSON schema cannot say about an endpoint URL: that it parses as the sender will parse
 * it (WHATWG URL, as undici does), with a host, no credentials, and no private host.
 */
export function checkEndpointUrl (url: string | undefined, allowPrivateNetworks: boolean): void {
  if (url === undefined) return
  // WHATWG URL reads `http:///hooks` as the host `hooks`; a URL as written must have a host.
  const parsed = /^https?:\/\/[^/?#\\]/i.test(url) ? URL.parse(url) : null
  if (parsed === null || !isHostName(hostOf(parsed)) || parsed.port === '0' || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw urlProblem('must be a valid http:// or https:// URL with a host (and a port from 1 to 65535, if any)')
  }
  if (parsed.username !== '' || parsed.password !== '') throw urlProblem('must not contain a user name or password')
  const host = allowPrivateNetworks ? undefined : privateLiteralHost(parsed)
  if (host !== undefined) throw urlProblem(`must point at a public address; ${host} is not one`)
}
