// Generated from openapi/openapi.json by `npm run openapi` (openapi-typescript). Do not edit.

export interface paths {
    "/api/health/live": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Check that the process answers
         * @description `200` while the process runs and answers HTTP, even at capacity, while shutting down, or when the database is down: it queries nothing. Needs no authentication; for liveness probes and container health checks (a failing one means: restart the process).
         */
        get: operations["getLiveness"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/health/ready": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Check that the service is ready for traffic
         * @description `200` when the service should get traffic: the database answers within 2 s, it has every migration this version needs, and the service is not shutting down; otherwise a `503` problem with `Retry-After`. From the moment the service is told to stop (SIGTERM) it answers `503` while it still serves requests, so a load balancer takes it out of rotation before it stops accepting connections. Needs no authentication; for readiness probes and load balancer health checks.
         */
        get: operations["getReadiness"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Check the service and its database (same as the readiness check)
         * @description The same check as `GET /api/health/ready`, kept under its first name. `200` when the service should get traffic: the database answers within 2 s, it has every migration this version needs, and the service is not shutting down; otherwise a `503` problem with `Retry-After`. From the moment the service is told to stop (SIGTERM) it answers `503` while it still serves requests, so a load balancer takes it out of rotation before it stops accepting connections. Needs no authentication; for readiness probes and load balancer health checks.
         */
        get: operations["getHealth"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List events
         * @description Events ordered by `startsAt`, then `id`, in pages of `limit`. Follow `nextCursor` until it is `null`.
         */
        get: operations["listEvents"];
        put?: never;
        /**
         * Create an event (admin)
         * @description Creates an event without tiers; add them with `POST /api/events/{eventId}/ticket-tiers`. Times may carry any offset and are stored as the same instant in UTC; `endsAt` must not be before `startsAt`.
         */
        post: operations["createEvent"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/events/{eventId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get an event
         * @description One event by its id. Its ticket tiers are at `/api/events/{eventId}/ticket-tiers`.
         */
        get: operations["getEvent"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Change an event (admin)
         * @description Changes only the fields sent. Changing `currency` re-denominates the tier prices; existing bookings keep their own currency and amounts.
         */
        patch: operations["updateEvent"];
        trace?: never;
    };
    "/api/events/{eventId}/ticket-tiers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List the ticket tiers of an event
         * @description All tiers of the event in creation order, with what remains bookable right now.
         */
        get: operations["listTicketTiers"];
        put?: never;
        /**
         * Add a ticket tier to an event (admin)
         * @description The tier is priced in the event's currency and starts with `remaining` equal to `capacity`.
         */
        post: operations["createTicketTier"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/ticket-tiers/{ticketTierId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Change a ticket tier (admin)
         * @description Changes only the fields sent. A new `capacity` moves `remaining` by the same amount; below the tickets already sold it is a `409` (`urn:ticket-booking:problem:capacity-below-sold`). A new price applies to new bookings only.
         */
        patch: operations["updateTicketTier"];
        trace?: never;
    };
    "/api/integrators": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List integrators (admin)
         * @description Integrators oldest first, in pages of `limit`. Follow `nextCursor` until it is `null`.
         */
        get: operations["listIntegrators"];
        put?: never;
        /**
         * Create an integrator (admin)
         * @description An integrator is a customer of the API. Give it keys with `POST /api/integrators/{integratorId}/keys`.
         */
        post: operations["createIntegrator"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/integrators/{integratorId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get an integrator (admin)
         * @description One integrator by its id.
         */
        get: operations["getIntegrator"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Change an integrator (admin)
         * @description Renames the integrator or sets its own rate limits: `rateLimits` with both numbers (1 to 1,000,000 a minute, per key) gives each of its keys that budget, `null` restores the service's defaults. A change holds from the next request on, on every server process. An empty body is a `400`.
         */
        patch: operations["updateIntegrator"];
        trace?: never;
    };
    "/api/integrators/{integratorId}/keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List an integrator's API keys (admin)
         * @description Every key of the integrator, revoked ones included, without secrets.
         */
        get: operations["listApiKeys"];
        put?: never;
        /**
         * Create an API key for an integrator (admin)
         * @description The response holds the secret `key`, `tbk_` and 32 random bytes; it is shown this once, and the server keeps only a hash. Scopes default to all three.
         */
        post: operations["createApiKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/integrators/{integratorId}/keys/{keyId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Revoke an API key (admin)
         * @description The key fails from this instant on. Revoking a revoked key is a `204` again.
         */
        delete: operations["revokeApiKey"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/bookings": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List your bookings
         * @description The bookings made with your keys (an admin key sees all), newest first, in pages of `limit`, optionally of one event or in one status. Follow `nextCursor` until it is `null`.
         */
        get: operations["listBookings"];
        put?: never;
        /**
         * Book tickets
         * @description Books every item or none. Tickets leave `remaining` at once; prices are fixed on the booking.
         *
         *     **Holds**: with `hold: { ttlSeconds }` the booking is `held` until `expiresAt`: its tickets are reserved for you
         *     while the buyer pays. Confirm it with `POST /api/bookings/{bookingId}/confirm` before then, or it becomes `expired`
         *     at that instant and its tickets are bookable again. Without `hold` the booking is `confirmed` at once.
         *
         *     ```mermaid
         *     stateDiagram-v2
         *       [*] --> held: POST /api/bookings with hold
         *       [*] --> confirmed: POST /api/bookings
         *       held --> confirmed: POST …/confirm before expiresAt
         *       held --> expired: expiresAt passes
         *       held --> cancelled: POST …/cancel
         *       confirmed --> cancelled: POST …/cancel
         *     ```
         *
         *     **Idempotency**: send a key as the `Idempotency-Key` header or as `clientReference` (both: they must be equal).
         *     Retrying with the same key and the same request (the same JSON value: key order, whitespace and item order do not matter)
         *     returns the original booking as it is now with `200` and `Idempotent-Replayed: true`, whatever has happened to inventory since.
         *     The same key with a different request is a `422` (`urn:ticket-booking:problem:idempotency-key-reuse`);
         *     while the first request with a key is still running, others get `409` (`urn:ticket-booking:problem:idempotency-key-in-flight`): retry them.
         *     A request that failed does not use up its key.
         */
        post: operations["createBooking"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/bookings/{bookingId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a booking
         * @description The booking as it is now, with the prices it was made at.
         */
        get: operations["getBooking"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/bookings/{bookingId}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Cancel a booking
         * @description Cancels a `held` or `confirmed` booking and puts its tickets back into `remaining`. Cancelling a cancelled booking returns it unchanged and releases nothing. An `expired` hold cannot be cancelled (its tickets are already back): `409`.
         */
        post: operations["cancelBooking"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/bookings/{bookingId}/confirm": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Confirm a held booking
         * @description Turns a `held` booking into `confirmed` before its `expiresAt`. Confirming a confirmed booking returns it unchanged. An expired hold or a cancelled booking cannot be confirmed: `409`.
         */
        post: operations["confirmBooking"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/bookings/{bookingId}/tickets": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List a booking's tickets
         * @description Every ticket of the booking (one per booked unit), in `position` order, as the booking is now: `pending` while it is held, `valid` with a `code` once it is confirmed, `void` once it is cancelled or expired. The tickets and the booking never disagree. Another integrator's booking is a `404`; an admin key reads any.
         */
        get: operations["listBookingTickets"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/tickets/{ticketId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a ticket
         * @description One ticket, as its booking is now. Another integrator's ticket is a `404`, exactly like a missing one; an admin key reads any.
         */
        get: operations["getTicket"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Name a ticket's holder
         * @description Sets or clears `attendeeName`, on a `pending` or `valid` ticket; the code does not change (it holds nothing personal). A `void` ticket is a `409`. Admin keys read tickets but do not change them.
         */
        patch: operations["updateTicket"];
        trace?: never;
    };
    "/api/tickets/{ticketId}/qr": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a ticket's QR code
         * @description The ticket's `code` as a QR code (SVG, error correction level M), for e-mails and wallets. A ticket without a code (`pending` or `void`) is a `409`.
         */
        get: operations["getTicketQr"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/tickets/{ticketId}/reissue": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Reissue a ticket's code
         * @description Gives a `valid` ticket a new code (`ver` one more, signed with the current key, `reissuedAt` set), for a holder whose code leaked. The old code is revoked from that instant: it is listed in the event's revocations for offline scanners. A `pending` or `void` ticket is a `409`.
         */
        post: operations["reissueTicket"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/ticket-keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get the keys that verify ticket codes
         * @description A JWK Set (RFC 7517) of Ed25519 public keys: the current signing key and every older one that signed a code still valid. Verify a code offline with any JOSE library: the key is the one whose `kid` the code's protected header names, the algorithm `EdDSA`. Public and cacheable (`Cache-Control`, `ETag`; `If-None-Match` gives `304`).
         */
        get: operations["listTicketKeys"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/ticket-keys/rotate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Rotate the ticket signing key
         * @description Generates a new Ed25519 key that signs every code from now on (new tickets and reissues; other server processes switch within a second). Codes already issued keep their key, which stays in `GET /api/ticket-keys` while any code it signed is valid. When the operator supplies the keys (`TICKET_SIGNING_KEYS`) they are rotated there: `409`.
         */
        post: operations["rotateTicketKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/events/{eventId}/revocations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List an event's revoked codes
         * @description For offline scanners: every code of the event that no longer admits anyone (reissued, or its booking cancelled after it was confirmed), oldest first. `nextCursor` is never `null`: keep the last one and ask again with it later for what came since. Each entry is written in the transaction that revoked the code, and entries are numbered in the order those transactions commit, so none ever appears behind a cursor you hold. A hold's tickets never had a code, so its expiry or cancellation revokes nothing. An admin key or a scanner key of this event reads it; another event's scanner key gets `404`, as for an unknown event.
         */
        get: operations["listRevocations"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/events/{eventId}/check-in-lists": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List an event's check-in lists
         * @description Every list of the event in creation order (at most 100). With an admin key, or a scanner key of this event; another event's scanner key gets `404`, as for an unknown event.
         */
        get: operations["listCheckInLists"];
        put?: never;
        /**
         * Create a check-in list for an event (admin)
         * @description A door's rule: `ticketTierIds` limits the list to those tiers of the event (`null` or absent: every tier), and `allowReentry` (default `false`) lets a holder go out and in again. A tier that does not exist or belongs to another event is a `422` (`tier-not-in-event`, listing `ticketTierIds`).
         */
        post: operations["createCheckInList"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/check-in-lists/{checkInListId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a check-in list
         * @description With an admin key, or a scanner key of the list's event; another event's scanner key gets `404`, exactly as for an unknown list.
         */
        get: operations["getCheckInList"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/events/{eventId}/scanner-keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List an event's scanner keys (admin)
         * @description Every scanner key of the event, revoked ones included, without secrets.
         */
        get: operations["listScannerKeys"];
        put?: never;
        /**
         * Create a scanner key for an event (admin)
         * @description A key for one scanning device: `key` is `tbs_` and 32 random bytes, shown this once; the server keeps only a hash. It works for the check-in operations and the revocations feed of this event only, until it is revoked.
         */
        post: operations["createScannerKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/check-ins": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Scan a ticket at a door
         * @description With a scanner key: checks the code (its signature and `kid`, revocations, the ticket's status, the list's tiers), then lets the holder in (`entry`, the default) or out (`exit`). Any number of simultaneous scans of one ticket on one list, on any number of devices and server processes, admit it exactly once: every other entry is `409 already-checked-in`, naming the admission that stands in `firstCheckIn`. Every answer, refusals included, is recorded. The same `nonce` again with the same code, list and type replays the first answer (status and body) with `Idempotent-Replayed: true` and records nothing more; with another code, list or type it is a `422 nonce-reuse`.
         */
        post: operations["scanTicket"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/check-ins/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Upload the scans an offline device made
         * @description With a scanner key: records up to 1000 scans a device made while offline (it verified the codes itself), applied in `scannedAt` order after what is recorded already, and answers one result per scan in request order: `admitted`, `replayed` (this nonce was recorded before: uploading again is safe), `rejected` (as a single scan would have been, with its `problem`), or `conflict` (an entry of a ticket admitted already: the holder got in twice; the first admission stands, and `GET /api/check-in-lists/{checkInListId}/conflicts` lists it). A rejected scan never stops the rest. The whole upload is one transaction: if it fails (a `503`), nothing of it was recorded, and the same upload sent again records every scan exactly once.
         */
        post: operations["uploadScans"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/check-in-lists/{checkInListId}/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Count who is in
         * @description Exact counts of the list at one instant: `tickets` (valid tickets the list admits), `admitted` (distinct tickets admitted at least once), `inside` (tickets whose last recorded scan let them in) and `conflicts`, in all and for every tier the list admits. With an admin key, or a scanner key of the list's event.
         */
        get: operations["getCheckInListStatus"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/check-in-lists/{checkInListId}/conflicts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List a check-in list's conflicts
         * @description Tickets admitted twice while a device was offline, in the order the second entries were recorded: the admission that stands (`first`) and the entry recorded as the conflict (`second`). With an admin key, or a scanner key of the list's event.
         */
        get: operations["listCheckInConflicts"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/events/{eventId}/scanner-keys/{keyId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Revoke a scanner key (admin)
         * @description The key fails from the next request on (`401`). Revoking a revoked key is a `204` again; a key of another event is a `404`.
         */
        delete: operations["revokeScannerKey"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/webhook-endpoints": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List your webhook endpoints
         * @description Your endpoints, oldest first, in pages of `limit`, without secrets. Follow `nextCursor` until it is `null`.
         */
        get: operations["listWebhookEndpoints"];
        put?: never;
        /**
         * Register a webhook endpoint
         * @description The endpoint receives the chosen events of your bookings as signed `POST` requests (see the `webhooks` section of this document for the bodies).
         *     The response holds the signing `secret`, shown this once (and again only by rotating it).
         *
         *     **Verifying**: deliveries follow the [Standard Webhooks](https://www.standardwebhooks.com/) specification: headers `webhook-id` (the event id, the same on every retry),
         *     `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`).
         *     Verify with a Standard Webhooks library, e.g. `new Webhook(secret).verify(body, headers)` from the `standardwebhooks` npm package.
         *
         *     **Delivery** is at least once, in no promised order: answer `2xx` within 10 s; anything else (redirects too) is retried after about
         *     5 s, 1 min, 10 min and 1 h, then every 6 h for 3 days.
         */
        post: operations["createWebhookEndpoint"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/webhook-endpoints/{endpointId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a webhook endpoint
         * @description One of your endpoints, without its secret. Another integrator's endpoint is a `404`.
         */
        get: operations["getWebhookEndpoint"];
        put?: never;
        post?: never;
        /**
         * Delete a webhook endpoint
         * @description The endpoint receives nothing more; its pending deliveries and its delivery log are deleted with it. An attempt already in flight may still arrive.
         */
        delete: operations["deleteWebhookEndpoint"];
        options?: never;
        head?: never;
        /**
         * Change a webhook endpoint
         * @description Changes the fields sent; at least one. A new `events` list applies to events from now on. Disabling pauses deliveries (pending ones wait); enabling resumes them.
         */
        patch: operations["updateWebhookEndpoint"];
        trace?: never;
    };
    "/api/webhook-endpoints/{endpointId}/rotate-secret": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Rotate a webhook endpoint's secret
         * @description Makes a new signing secret and returns it, this once. For 24 hours every delivery carries two signatures, space-separated in `webhook-signature`: one with the new secret and one with the old, so your receiver can switch at any moment in that window. Rotating again within the 24 hours drops the oldest secret.
         */
        post: operations["rotateWebhookSecret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/webhook-endpoints/{endpointId}/ping": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Send a test event to a webhook endpoint
         * @description Sends a signed `webhook.ping` event (see `PingEvent`) at once, retried like any other. Follow it in the endpoint's deliveries.
         */
        post: operations["pingWebhookEndpoint"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/webhook-endpoints/{endpointId}/deliveries": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List a webhook endpoint's deliveries
         * @description The endpoint's deliveries, newest first, in pages of `limit`, with the outcome of their attempts. Follow `nextCursor` until it is `null`.
         */
        get: operations["listWebhookDeliveries"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/webhook-deliveries/{deliveryId}/retry": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Retry a webhook delivery
         * @description Attempts the delivery again at once, whatever its status (a `failed` one gets one more attempt; a `succeeded` one is sent again with the same `webhook-id`). An attempt already in flight finishes first.
         */
        post: operations["retryWebhookDelivery"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export interface webhooks {
    bookingEvent: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A booking of yours changed
         * @description Sent to each of your endpoints subscribed to the event's `type`: `booking.created`, `booking.confirmed`, `booking.cancelled` or `booking.expired` (within 30 s of `expiresAt`). At least once, in no promised order; retried after about 5 s, 1 min, 10 min and 1 h, then every 6 h for 3 days.
         */
        post: operations["receiveBookingEvent"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    ticketCheckedIn: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A ticket of yours was admitted
         * @description Sent to each of your endpoints subscribed to `ticket.checked_in` when a door admits a ticket of one of your bookings (an entry let in, scanned online or uploaded later by an offline device; not exits, refusals or conflicts). Signed and retried like every event.
         */
        post: operations["receiveTicketCheckedIn"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    webhookPing: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A test event you asked for
         * @description Sent by `POST /api/webhook-endpoints/{endpointId}/ping`, signed and retried like every event.
         */
        post: operations["receiveWebhookPing"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export interface components {
    schemas: {
        /** @description One offending value of a request. */
        FieldError: {
            /**
             * @description JSON Pointer to the offending value within the part of the request named in `detail` (body, querystring, path parameters or headers); empty for the whole part.
             * @example /items/0/quantity
             */
            path: string;
            /**
             * @description What is wrong with it, in English.
             * @example must be <= 10
             */
            message: string;
        };
        /** @description An RFC 9457 problem details object. */
        Problem: {
            /**
             * Format: uri
             * @description A stable URI identifying the kind of error; compare it, not `title`. Known types: `urn:ticket-booking:problem:validation-error` (400), `urn:ticket-booking:problem:unauthorized` (401), `urn:ticket-booking:problem:insufficient-scope` (403), `urn:ticket-booking:problem:not-found` (404), `urn:ticket-booking:problem:method-not-allowed` (405), `urn:ticket-booking:problem:capacity-below-sold` (409), `urn:ticket-booking:problem:insufficient-inventory` (409), `urn:ticket-booking:problem:hold-expired` (409), `urn:ticket-booking:problem:booking-cancelled` (409), `urn:ticket-booking:problem:limit-reached` (409), `urn:ticket-booking:problem:webhook-endpoint-disabled` (409), `urn:ticket-booking:problem:ticket-void` (409), `urn:ticket-booking:problem:ticket-pending` (409), `urn:ticket-booking:problem:already-checked-in` (409), `urn:ticket-booking:problem:code-revoked` (409), `urn:ticket-booking:problem:not-inside` (409), `urn:ticket-booking:problem:keys-configured` (409), `urn:ticket-booking:problem:idempotency-key-in-flight` (409), `urn:ticket-booking:problem:tier-not-in-event` (422), `urn:ticket-booking:problem:idempotency-key-reuse` (422), `urn:ticket-booking:problem:ticket-not-on-list` (422), `urn:ticket-booking:problem:nonce-reuse` (422), `urn:ticket-booking:problem:unknown-code` (404), `urn:ticket-booking:problem:payload-too-large` (413), `urn:ticket-booking:problem:unsupported-media-type` (415), `urn:ticket-booking:problem:rate-limited` (429), `urn:ticket-booking:problem:client-error` (400), `urn:ticket-booking:problem:internal-error` (500), `urn:ticket-booking:problem:service-unavailable` (503). New types may be added; all start with `urn:ticket-booking:problem:`.
             * @example urn:ticket-booking:problem:not-found
             */
            type: string;
            /** @description Short summary of the kind of error; the same for every occurrence of a `type`. */
            title: string;
            /**
             * Format: int32
             * @description The HTTP status code.
             */
            status: number;
            /** @description Explanation specific to this occurrence. */
            detail?: string;
            /** @description The request path this problem occurred on. */
            instance?: string;
        } & {
            [key: string]: unknown;
        };
        /** @description Problem details for a request that is not valid (`urn:ticket-booking:problem:validation-error`). */
        ValidationProblem: {
            /**
             * Format: uri
             * @description A stable URI identifying the kind of error; compare it, not `title`. Known types: `urn:ticket-booking:problem:validation-error` (400), `urn:ticket-booking:problem:unauthorized` (401), `urn:ticket-booking:problem:insufficient-scope` (403), `urn:ticket-booking:problem:not-found` (404), `urn:ticket-booking:problem:method-not-allowed` (405), `urn:ticket-booking:problem:capacity-below-sold` (409), `urn:ticket-booking:problem:insufficient-inventory` (409), `urn:ticket-booking:problem:hold-expired` (409), `urn:ticket-booking:problem:booking-cancelled` (409), `urn:ticket-booking:problem:limit-reached` (409), `urn:ticket-booking:problem:webhook-endpoint-disabled` (409), `urn:ticket-booking:problem:ticket-void` (409), `urn:ticket-booking:problem:ticket-pending` (409), `urn:ticket-booking:problem:already-checked-in` (409), `urn:ticket-booking:problem:code-revoked` (409), `urn:ticket-booking:problem:not-inside` (409), `urn:ticket-booking:problem:keys-configured` (409), `urn:ticket-booking:problem:idempotency-key-in-flight` (409), `urn:ticket-booking:problem:tier-not-in-event` (422), `urn:ticket-booking:problem:idempotency-key-reuse` (422), `urn:ticket-booking:problem:ticket-not-on-list` (422), `urn:ticket-booking:problem:nonce-reuse` (422), `urn:ticket-booking:problem:unknown-code` (404), `urn:ticket-booking:problem:payload-too-large` (413), `urn:ticket-booking:problem:unsupported-media-type` (415), `urn:ticket-booking:problem:rate-limited` (429), `urn:ticket-booking:problem:client-error` (400), `urn:ticket-booking:problem:internal-error` (500), `urn:ticket-booking:problem:service-unavailable` (503). New types may be added; all start with `urn:ticket-booking:problem:`.
             * @example urn:ticket-booking:problem:not-found
             */
            type: string;
            /** @description Short summary of the kind of error; the same for every occurrence of a `type`. */
            title: string;
            /**
             * Format: int32
             * @description The HTTP status code.
             */
            status: number;
            /** @description Explanation specific to this occurrence. */
            detail?: string;
            /** @description The request path this problem occurred on. */
            instance?: string;
            /** @description What is wrong, one entry per offending value. */
            errors: components["schemas"]["FieldError"][];
        } & {
            [key: string]: unknown;
        };
        /**
         * @description A concert or other event that sells tickets in tiers. Every tier is priced in the event's currency.
         * @example {
         *       "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *       "name": "The Demo Tour: Live",
         *       "description": "Doors open at 19:00.",
         *       "venue": "Riverside Arena",
         *       "startsAt": "2027-07-17T19:30:00.000Z",
         *       "endsAt": "2027-07-17T23:00:00.000Z",
         *       "currency": "EUR",
         *       "createdAt": "2026-11-25T18:00:00.000Z"
         *     }
         */
        Event: {
            /**
             * Format: uuid
             * @description The event's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /** @description The event's name, 1 to 200 characters. */
            name: string;
            /** @description Free text about the event, or `null`. */
            description: string | null;
            /** @description Where it takes place, 1 to 200 characters. */
            venue: string;
            /**
             * Format: date-time
             * @description When it starts, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            startsAt: string;
            /**
             * Format: date-time
             * @description When it ends, in UTC, or `null` when not given.
             * @example 2026-12-31T20:00:00.000Z
             */
            endsAt: string | null;
            /**
             * @description ISO 4217 currency of every tier's price.
             * @example EUR
             */
            currency: string;
            /**
             * Format: date-time
             * @description When the event was created, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
        };
        /** @description One page of events, ordered by `startsAt`, then `id`. */
        EventPage: {
            /** @description Up to `limit` events. */
            data: components["schemas"]["Event"][];
            /** @description Pass as `cursor` to get the next page; `null` on the last page. */
            nextCursor: string | null;
        };
        /**
         * @description A new event. Times may carry any offset; they are stored as the same instant in UTC.
         * @example {
         *       "name": "Midnight Echoes: World Tour",
         *       "description": "Doors open at 19:00.",
         *       "venue": "Riverside Arena",
         *       "startsAt": "2026-12-31T20:00:00+01:00",
         *       "endsAt": "2026-12-31T23:30:00+01:00",
         *       "currency": "EUR"
         *     }
         */
        EventCreate: {
            /** @description 1 to 200 characters, not only whitespace. */
            name: string;
            /** @description Free text about the event, up to 2000 characters; `null` clears it. */
            description?: string | null;
            /** @description 1 to 200 characters, not only whitespace. */
            venue: string;
            /**
             * Format: date-time
             * @description RFC 3339 date-time of at most 35 characters. Input may carry any offset; output is always UTC with milliseconds. Between 1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
             * @example 2026-12-31T20:00:00.000Z
             */
            startsAt: string;
            /** @description When it ends; not before `startsAt`. `null` clears it. */
            endsAt?: string | null;
            /**
             * @description ISO 4217 currency code: three capital letters.
             * @example EUR
             */
            currency: string;
        };
        /**
         * @description Any non-empty subset of the create fields; `description` and `endsAt` may be set to `null` to clear them.
         * @example {
         *       "venue": "Harbour Hall",
         *       "description": "Doors open at 18:30."
         *     }
         */
        EventUpdate: {
            /** @description 1 to 200 characters, not only whitespace. */
            name?: string;
            /** @description Free text about the event, up to 2000 characters; `null` clears it. */
            description?: string | null;
            /** @description 1 to 200 characters, not only whitespace. */
            venue?: string;
            /**
             * Format: date-time
             * @description RFC 3339 date-time of at most 35 characters. Input may carry any offset; output is always UTC with milliseconds. Between 1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
             * @example 2026-12-31T20:00:00.000Z
             */
            startsAt?: string;
            /** @description When it ends; not before `startsAt`. `null` clears it. */
            endsAt?: string | null;
            /**
             * @description ISO 4217 currency code: three capital letters.
             * @example EUR
             */
            currency?: string;
        };
        /**
         * Format: int32
         * @description Most tickets of this tier one booking may take; 10 when left out.
         * @default 10
         * @example 10
         */
        NewTierMaxPerBooking: number;
        /**
         * @description A class of tickets for one event (VIP, general admission, ...) with its price and inventory.
         * @example {
         *       "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *       "name": "VIP",
         *       "price": 25000,
         *       "currency": "EUR",
         *       "capacity": 50,
         *       "remaining": 46,
         *       "held": 2,
         *       "maxPerBooking": 4
         *     }
         */
        TicketTier: {
            /**
             * Format: uuid
             * @description The tier's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * Format: uuid
             * @description The event the tier belongs to.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            eventId: string;
            /** @description 1 to 200 characters, not only whitespace. */
            name: string;
            /**
             * Format: int32
             * @description Price of one ticket in minor units of the currency (cents).
             * @example 8900
             */
            price: number;
            /**
             * @description The event's currency, in which `price` is given.
             * @example EUR
             */
            currency: string;
            /**
             * Format: int32
             * @description Number of tickets the tier has in all.
             * @example 500
             */
            capacity: number;
            /**
             * Format: int32
             * @description Tickets that can still be booked right now; never below 0. Tickets of a hold count again from the instant it expires.
             */
            remaining: number;
            /**
             * Format: int32
             * @description Tickets in unexpired holds: not in `remaining`, not yet confirmed.
             */
            held: number;
            /**
             * Format: int32
             * @description Most tickets of this tier one booking may take.
             * @example 10
             */
            maxPerBooking: number;
        };
        /** @description All tiers of one event. */
        TicketTierList: {
            /** @description The event's tiers in creation order; an event has at most 100. */
            data: components["schemas"]["TicketTier"][];
        };
        /**
         * @description A new tier; `remaining` starts at `capacity` and the price is in the event's currency.
         * @example {
         *       "name": "VIP",
         *       "price": 25000,
         *       "capacity": 50,
         *       "maxPerBooking": 4
         *     }
         */
        TicketTierCreate: {
            /** @description 1 to 200 characters, not only whitespace. */
            name: string;
            /**
             * Format: int32
             * @description Price of one ticket in minor units of the currency (cents).
             * @example 8900
             */
            price: number;
            /**
             * Format: int32
             * @description Number of tickets the tier has in all.
             * @example 500
             */
            capacity: number;
            maxPerBooking?: components["schemas"]["NewTierMaxPerBooking"];
        };
        /**
         * @description Any non-empty subset of the create fields. A price change applies to new bookings only.
         * @example {
         *       "capacity": 600
         *     }
         */
        TicketTierUpdate: {
            /** @description 1 to 200 characters, not only whitespace. */
            name?: string;
            /**
             * Format: int32
             * @description Price of one ticket in minor units of the currency (cents).
             * @example 8900
             */
            price?: number;
            /**
             * Format: int32
             * @description New total capacity; `remaining` moves by the same amount. Must not be below the tickets already sold.
             * @example 500
             */
            capacity?: number;
            /**
             * Format: int32
             * @description Most tickets of this tier one booking may take.
             * @example 10
             */
            maxPerBooking?: number;
        };
        /** @description The tickets of one tier in a booking, at the price they were booked at. */
        BookingItem: {
            /**
             * Format: uuid
             * @description The tier booked.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            ticketTierId: string;
            /** @description The tier's name when the booking was made. */
            tierName: string;
            /**
             * Format: int32
             * @description Tickets of this tier in the booking.
             */
            quantity: number;
            /**
             * Format: int32
             * @description Price of one ticket when the booking was made, in minor units.
             */
            unitPrice: number;
            /**
             * Format: int64
             * @description `quantity` × `unitPrice`, in minor units.
             */
            lineTotal: number;
        };
        /**
         * @description `held`: the tickets are reserved until `expiresAt`; confirm before then. `confirmed`: booked. `expired`: the hold lapsed at `expiresAt` and its tickets are bookable again. `cancelled`: cancelled, its tickets are bookable again. No other transitions exist:
         *
         *     ```mermaid
         *     stateDiagram-v2
         *       [*] --> held: POST /api/bookings with hold
         *       [*] --> confirmed: POST /api/bookings
         *       held --> confirmed: POST …/confirm before expiresAt
         *       held --> expired: expiresAt passes
         *       held --> cancelled: POST …/cancel
         *       confirmed --> cancelled: POST …/cancel
         *     ```
         */
        BookingStatus: "held" | "confirmed" | "expired" | "cancelled";
        /**
         * @description Tickets of one event, taken all together. Prices are fixed when the booking is made.
         * @example {
         *       "id": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
         *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *       "clientReference": "order-1042",
         *       "status": "confirmed",
         *       "items": [
         *         {
         *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *           "tierName": "VIP",
         *           "quantity": 2,
         *           "unitPrice": 25000,
         *           "lineTotal": 50000
         *         },
         *         {
         *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
         *           "tierName": "Balcony",
         *           "quantity": 1,
         *           "unitPrice": 5900,
         *           "lineTotal": 5900
         *         }
         *       ],
         *       "total": 55900,
         *       "currency": "EUR",
         *       "createdAt": "2026-11-25T18:04:05.123Z",
         *       "expiresAt": null,
         *       "cancelledAt": null
         *     }
         */
        Booking: {
            /**
             * Format: uuid
             * @description The booking's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * Format: uuid
             * @description The event booked.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            eventId: string;
            /** @description The idempotency key the booking was made with (header or body), or `null`. */
            clientReference: string | null;
            status: components["schemas"]["BookingStatus"];
            /** @description One entry per tier, in the order they were requested. */
            items: components["schemas"]["BookingItem"][];
            /**
             * Format: int64
             * @description Sum of the line totals, in minor units.
             */
            total: number;
            /**
             * @description ISO 4217 currency code: three capital letters.
             * @example EUR
             */
            currency: string;
            /**
             * Format: date-time
             * @description When the booking was made, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /**
             * Format: date-time
             * @description While `held`: when the hold lapses unless confirmed. `null` in every other status.
             * @example 2026-12-31T20:00:00.000Z
             */
            expiresAt: string | null;
            /**
             * Format: date-time
             * @description When it was cancelled, in UTC, or `null`.
             * @example 2026-12-31T20:00:00.000Z
             */
            cancelledAt: string | null;
        };
        /** @description One page of bookings. */
        BookingPage: {
            /** @description Up to `limit` bookings, newest first. */
            data: components["schemas"]["Booking"][];
            /** @description Pass as `cursor` to get the next page; `null` on the last page. */
            nextCursor: string | null;
        };
        /**
         * @description All items are booked together or not at all.
         * @example {
         *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *       "items": [
         *         {
         *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *           "quantity": 2
         *         },
         *         {
         *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
         *           "quantity": 1
         *         }
         *       ]
         *     }
         */
        BookingCreate: {
            /**
             * Format: uuid
             * @description The event to book.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            eventId: string;
            /** @description Your unique reference for this booking, 1 to 200 characters; it doubles as the idempotency key. */
            clientReference?: string;
            /** @description Hold the tickets instead of booking them outright: the booking is `held` until confirmed with `POST /api/bookings/{bookingId}/confirm`, and lapses (`expired`) at `expiresAt`. Without `hold` the booking is `confirmed` at once. */
            hold?: {
                /**
                 * Format: int32
                 * @description How long to hold the tickets, 60 to 3600 seconds.
                 * @example 600
                 */
                ttlSeconds: number;
            };
            /** @description 1 to 20 items, each for a different tier of the event. */
            items: {
                /**
                 * Format: uuid
                 * @description A tier of the event.
                 * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
                 */
                ticketTierId: string;
                /**
                 * Format: int32
                 * @description At least 1 and at most the tier's `maxPerBooking`.
                 */
                quantity: number;
            }[];
        };
        /**
         * @description A tier with fewer tickets remaining than requested.
         * @example {
         *       "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *       "requested": 3,
         *       "remaining": 1
         *     }
         */
        Shortage: {
            /**
             * Format: uuid
             * @description The short tier.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            ticketTierId: string;
            /**
             * Format: int32
             * @description Tickets the request asked for.
             */
            requested: number;
            /**
             * Format: int32
             * @description Tickets that remained when the request was decided.
             */
            remaining: number;
        };
        /** @description `urn:ticket-booking:problem:insufficient-inventory`: nothing was booked. */
        InsufficientInventoryProblem: {
            /**
             * Format: uri
             * @description A stable URI identifying the kind of error; compare it, not `title`. Known types: `urn:ticket-booking:problem:validation-error` (400), `urn:ticket-booking:problem:unauthorized` (401), `urn:ticket-booking:problem:insufficient-scope` (403), `urn:ticket-booking:problem:not-found` (404), `urn:ticket-booking:problem:method-not-allowed` (405), `urn:ticket-booking:problem:capacity-below-sold` (409), `urn:ticket-booking:problem:insufficient-inventory` (409), `urn:ticket-booking:problem:hold-expired` (409), `urn:ticket-booking:problem:booking-cancelled` (409), `urn:ticket-booking:problem:limit-reached` (409), `urn:ticket-booking:problem:webhook-endpoint-disabled` (409), `urn:ticket-booking:problem:ticket-void` (409), `urn:ticket-booking:problem:ticket-pending` (409), `urn:ticket-booking:problem:already-checked-in` (409), `urn:ticket-booking:problem:code-revoked` (409), `urn:ticket-booking:problem:not-inside` (409), `urn:ticket-booking:problem:keys-configured` (409), `urn:ticket-booking:problem:idempotency-key-in-flight` (409), `urn:ticket-booking:problem:tier-not-in-event` (422), `urn:ticket-booking:problem:idempotency-key-reuse` (422), `urn:ticket-booking:problem:ticket-not-on-list` (422), `urn:ticket-booking:problem:nonce-reuse` (422), `urn:ticket-booking:problem:unknown-code` (404), `urn:ticket-booking:problem:payload-too-large` (413), `urn:ticket-booking:problem:unsupported-media-type` (415), `urn:ticket-booking:problem:rate-limited` (429), `urn:ticket-booking:problem:client-error` (400), `urn:ticket-booking:problem:internal-error` (500), `urn:ticket-booking:problem:service-unavailable` (503). New types may be added; all start with `urn:ticket-booking:problem:`.
             * @example urn:ticket-booking:problem:not-found
             */
            type: string;
            /** @description Short summary of the kind of error; the same for every occurrence of a `type`. */
            title: string;
            /**
             * Format: int32
             * @description The HTTP status code.
             */
            status: number;
            /** @description Explanation specific to this occurrence. */
            detail?: string;
            /** @description The request path this problem occurred on. */
            instance?: string;
            /** @description Every tier of the request that has fewer tickets remaining than requested. */
            shortages: components["schemas"]["Shortage"][];
        } & {
            [key: string]: unknown;
        };
        /** @description `urn:ticket-booking:problem:tier-not-in-event`: nothing was booked. */
        TierNotInEventProblem: {
            /**
             * Format: uri
             * @description A stable URI identifying the kind of error; compare it, not `title`. Known types: `urn:ticket-booking:problem:validation-error` (400), `urn:ticket-booking:problem:unauthorized` (401), `urn:ticket-booking:problem:insufficient-scope` (403), `urn:ticket-booking:problem:not-found` (404), `urn:ticket-booking:problem:method-not-allowed` (405), `urn:ticket-booking:problem:capacity-below-sold` (409), `urn:ticket-booking:problem:insufficient-inventory` (409), `urn:ticket-booking:problem:hold-expired` (409), `urn:ticket-booking:problem:booking-cancelled` (409), `urn:ticket-booking:problem:limit-reached` (409), `urn:ticket-booking:problem:webhook-endpoint-disabled` (409), `urn:ticket-booking:problem:ticket-void` (409), `urn:ticket-booking:problem:ticket-pending` (409), `urn:ticket-booking:problem:already-checked-in` (409), `urn:ticket-booking:problem:code-revoked` (409), `urn:ticket-booking:problem:not-inside` (409), `urn:ticket-booking:problem:keys-configured` (409), `urn:ticket-booking:problem:idempotency-key-in-flight` (409), `urn:ticket-booking:problem:tier-not-in-event` (422), `urn:ticket-booking:problem:idempotency-key-reuse` (422), `urn:ticket-booking:problem:ticket-not-on-list` (422), `urn:ticket-booking:problem:nonce-reuse` (422), `urn:ticket-booking:problem:unknown-code` (404), `urn:ticket-booking:problem:payload-too-large` (413), `urn:ticket-booking:problem:unsupported-media-type` (415), `urn:ticket-booking:problem:rate-limited` (429), `urn:ticket-booking:problem:client-error` (400), `urn:ticket-booking:problem:internal-error` (500), `urn:ticket-booking:problem:service-unavailable` (503). New types may be added; all start with `urn:ticket-booking:problem:`.
             * @example urn:ticket-booking:problem:not-found
             */
            type: string;
            /** @description Short summary of the kind of error; the same for every occurrence of a `type`. */
            title: string;
            /**
             * Format: int32
             * @description The HTTP status code.
             */
            status: number;
            /** @description Explanation specific to this occurrence. */
            detail?: string;
            /** @description The request path this problem occurred on. */
            instance?: string;
            /** @description The requested tiers that do not exist or belong to another event. */
            ticketTierIds: string[];
        } & {
            [key: string]: unknown;
        };
        /** @description Follows the booking: `pending` while it is `held` (no code yet: nobody gets in on an unpaid hold), `valid` once it is `confirmed` (the ticket has a `code`), `void` once it is `cancelled` or `expired`. */
        TicketStatus: "pending" | "valid" | "void";
        /**
         * @description What one person shows at the door. A booking of 2 VIP and 1 GA has 3 tickets.
         * @example {
         *       "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *       "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
         *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *       "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *       "tierName": "VIP",
         *       "position": 1,
         *       "status": "valid",
         *       "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
         *       "attendeeName": "Ada Lovelace",
         *       "createdAt": "2026-11-25T18:04:05.123Z",
         *       "reissuedAt": null
         *     }
         */
        Ticket: {
            /**
             * Format: uuid
             * @description The ticket's id (`tid` in its code).
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * Format: uuid
             * @description The booking the ticket belongs to.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            bookingId: string;
            /**
             * Format: uuid
             * @description The event it admits to (`eid` in its code).
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            eventId: string;
            /**
             * Format: uuid
             * @description Its tier (`tier` in its code).
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            ticketTierId: string;
            /** @description The tier's name when the booking was made. */
            tierName: string;
            /**
             * Format: int32
             * @description Numbers the booking's tickets from 1, in the order of its items.
             */
            position: number;
            status: components["schemas"]["TicketStatus"];
            /** @description The code to show at the door while the ticket is `valid`; `null` while it is `pending` or `void`. */
            code: string | null;
            /** @description Who the ticket is for, or `null` while nobody is named. */
            attendeeName: string | null;
            /**
             * Format: date-time
             * @description When the ticket was made (with its booking), in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /**
             * Format: date-time
             * @description When the code was last reissued, or `null`.
             * @example 2026-12-31T20:00:00.000Z
             */
            reissuedAt: string | null;
        };
        /** @description A booking's tickets. */
        TicketList: {
            /** @description Every ticket of the booking, in `position` order. */
            data: components["schemas"]["Ticket"][];
        };
        /**
         * @description Names (or un-names) the ticket's holder. The code does not change: it holds nothing personal.
         * @example {
         *       "attendeeName": "Ada Lovelace"
         *     }
         */
        TicketUpdate: {
            /** @description The holder's name, or `null` to clear it. */
            attendeeName: string | null;
        };
        /**
         * @description A public key that verifies ticket codes (a JWK, RFC 7517).
         * @example {
         *       "kty": "OKP",
         *       "crv": "Ed25519",
         *       "x": "kvKE10q9KATOb6g0HWiBHFs5eHvZPTpnoJZlOopcjdw",
         *       "kid": "RrmAD8L33qti0Dhm",
         *       "alg": "EdDSA",
         *       "use": "sig"
         *     }
         */
        TicketPublicKey: {
            /**
             * @description Key type: an octet key pair (RFC 8037).
             * @enum {string}
             */
            kty: "OKP";
            /**
             * @description The curve.
             * @enum {string}
             */
            crv: "Ed25519";
            /** @description The public key, base64url. */
            x: string;
            /** @description The key id codes name in their protected header. */
            kid: string;
            /**
             * @description The one algorithm codes are signed with.
             * @enum {string}
             */
            alg: "EdDSA";
            /**
             * @description The key verifies signatures.
             * @enum {string}
             */
            use: "sig";
        };
        /**
         * @description A JWK Set (RFC 7517) of the keys whose codes may still be presented.
         * @example {
         *       "keys": [
         *         {
         *           "kty": "OKP",
         *           "crv": "Ed25519",
         *           "x": "kvKE10q9KATOb6g0HWiBHFs5eHvZPTpnoJZlOopcjdw",
         *           "kid": "RrmAD8L33qti0Dhm",
         *           "alg": "EdDSA",
         *           "use": "sig"
         *         }
         *       ]
         *     }
         */
        TicketKeySet: {
            /** @description The current signing key first, then every older key that signed a code still valid. */
            keys: components["schemas"]["TicketPublicKey"][];
        };
        /**
         * @description A code that no longer admits anyone.
         * @example {
         *       "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *       "ver": 1,
         *       "reason": "reissued",
         *       "revokedAt": "2026-11-26T09:30:00.000Z"
         *     }
         */
        Revocation: {
            /**
             * Format: uuid
             * @description The ticket whose code is revoked (`tid`).
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            ticketId: string;
            /**
             * Format: int32
             * @description The code version revoked: refuse a code with this `tid` and this `ver` (or a lower one).
             */
            ver: number;
            /** @description `reissued`: the ticket has a newer code. `cancelled`: its booking was cancelled. */
            reason: "reissued" | "cancelled";
            /**
             * Format: date-time
             * @description When the code was revoked, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            revokedAt: string;
        };
        /** @description Revocations of one event's codes, oldest first. */
        RevocationPage: {
            /** @description Up to `limit` revocations, oldest first. */
            data: components["schemas"]["Revocation"][];
            /** @description Never `null`: keep it, and ask again with it later for the revocations written since. A page shorter than `limit` means you are up to date. */
            nextCursor: string;
        };
        /**
         * @description Whether a holder may go out and in again; `false` when left out.
         * @default false
         */
        NewListAllowReentry: boolean;
        /**
         * @description A door's rule: which of an event's tickets it admits, and whether they may come back in.
         * @example {
         *       "id": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
         *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *       "name": "VIP entrance",
         *       "ticketTierIds": [
         *         "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71"
         *       ],
         *       "allowReentry": false,
         *       "createdAt": "2026-12-01T18:00:00.000Z"
         *     }
         */
        CheckInList: {
            /**
             * Format: uuid
             * @description The check-in list's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * Format: uuid
             * @description The event whose tickets the list admits.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            eventId: string;
            /** @description The list's name, 1 to 200 characters. */
            name: string;
            /** @description The tiers whose tickets the list admits, or `null`: every tier of the event. */
            ticketTierIds: string[] | null;
            /** @description Whether a holder admitted on this list may go out and in again. */
            allowReentry: boolean;
            /**
             * Format: date-time
             * @description When the list was created, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
        };
        /** @description `urn:ticket-booking:problem:tier-not-in-event`: no list was created. */
        CheckInListTierProblem: {
            /**
             * Format: uri
             * @description A stable URI identifying the kind of error; compare it, not `title`. Known types: `urn:ticket-booking:problem:validation-error` (400), `urn:ticket-booking:problem:unauthorized` (401), `urn:ticket-booking:problem:insufficient-scope` (403), `urn:ticket-booking:problem:not-found` (404), `urn:ticket-booking:problem:method-not-allowed` (405), `urn:ticket-booking:problem:capacity-below-sold` (409), `urn:ticket-booking:problem:insufficient-inventory` (409), `urn:ticket-booking:problem:hold-expired` (409), `urn:ticket-booking:problem:booking-cancelled` (409), `urn:ticket-booking:problem:limit-reached` (409), `urn:ticket-booking:problem:webhook-endpoint-disabled` (409), `urn:ticket-booking:problem:ticket-void` (409), `urn:ticket-booking:problem:ticket-pending` (409), `urn:ticket-booking:problem:already-checked-in` (409), `urn:ticket-booking:problem:code-revoked` (409), `urn:ticket-booking:problem:not-inside` (409), `urn:ticket-booking:problem:keys-configured` (409), `urn:ticket-booking:problem:idempotency-key-in-flight` (409), `urn:ticket-booking:problem:tier-not-in-event` (422), `urn:ticket-booking:problem:idempotency-key-reuse` (422), `urn:ticket-booking:problem:ticket-not-on-list` (422), `urn:ticket-booking:problem:nonce-reuse` (422), `urn:ticket-booking:problem:unknown-code` (404), `urn:ticket-booking:problem:payload-too-large` (413), `urn:ticket-booking:problem:unsupported-media-type` (415), `urn:ticket-booking:problem:rate-limited` (429), `urn:ticket-booking:problem:client-error` (400), `urn:ticket-booking:problem:internal-error` (500), `urn:ticket-booking:problem:service-unavailable` (503). New types may be added; all start with `urn:ticket-booking:problem:`.
             * @example urn:ticket-booking:problem:not-found
             */
            type: string;
            /** @description Short summary of the kind of error; the same for every occurrence of a `type`. */
            title: string;
            /**
             * Format: int32
             * @description The HTTP status code.
             */
            status: number;
            /** @description Explanation specific to this occurrence. */
            detail?: string;
            /** @description The request path this problem occurred on. */
            instance?: string;
            /** @description The requested tiers that do not exist or belong to another event. */
            ticketTierIds: string[];
        } & {
            [key: string]: unknown;
        };
        /**
         * @description A new check-in list for the event.
         * @example {
         *       "name": "VIP entrance",
         *       "ticketTierIds": [
         *         "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71"
         *       ],
         *       "allowReentry": false
         *     }
         */
        CheckInListCreate: {
            /** @description 1 to 200 characters, not only whitespace. */
            name: string;
            /** @description Tiers of this event whose tickets the list admits; `null` or absent: every tier. */
            ticketTierIds?: string[] | null;
            allowReentry?: components["schemas"]["NewListAllowReentry"];
        };
        /** @description An event's check-in lists. */
        CheckInListList: {
            /** @description The event's check-in lists in creation order; an event has at most 100. */
            data: components["schemas"]["CheckInList"][];
        };
        /**
         * @description A scanning device's key for one event, without its secret.
         * @example {
         *       "id": "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b",
         *       "name": "North gate, device 3",
         *       "prefix": "tbs_N2Qx7aPz",
         *       "createdAt": "2026-12-01T18:05:00.000Z",
         *       "revokedAt": null
         *     }
         */
        ScannerKey: {
            /**
             * Format: uuid
             * @description The scanner key's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /** @description Your label for the device, 1 to 200 characters. */
            name: string;
            /** @description The first characters of the key, to recognise it; the rest is never shown again. */
            prefix: string;
            /**
             * Format: date-time
             * @description When the key was created, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /**
             * Format: date-time
             * @description When the key was revoked, or `null` while it works.
             * @example 2026-12-31T20:00:00.000Z
             */
            revokedAt: string | null;
        };
        /**
         * @description A new scanner key with its secret, which no later response shows.
         * @example {
         *       "id": "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b",
         *       "name": "North gate, device 3",
         *       "prefix": "tbs_N2Qx7aPz",
         *       "createdAt": "2026-12-01T18:05:00.000Z",
         *       "revokedAt": null,
         *       "key": "tbs_4xQm2Zr0PpW9kVb7JhTg1cYs3LdN6eRf8oUaiSBjCtE"
         *     }
         */
        ScannerKeyCreated: {
            /**
             * Format: uuid
             * @description The scanner key's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /** @description Your label for the device, 1 to 200 characters. */
            name: string;
            /** @description The first characters of the key, to recognise it; the rest is never shown again. */
            prefix: string;
            /**
             * Format: date-time
             * @description When the key was created, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /**
             * Format: date-time
             * @description When the key was revoked, or `null` while it works.
             * @example 2026-12-31T20:00:00.000Z
             */
            revokedAt: string | null;
            /** @description The secret key, shown in this response only: store it on the device now. Send it as `Authorization: Bearer <key>`. */
            key: string;
        };
        /**
         * @description A new scanner key for the event.
         * @example {
         *       "name": "North gate, device 3"
         *     }
         */
        ScannerKeyCreate: {
            /** @description 1 to 200 characters, not only whitespace. */
            name: string;
        };
        /** @description An event's scanner keys. */
        ScannerKeyList: {
            /** @description All of the event's scanner keys, oldest first, revoked ones included; an event has at most 1000. */
            data: components["schemas"]["ScannerKey"][];
        };
        /** @description `entry`: the holder comes in. `exit`: the holder goes out (on a list with re-entry, they may come back in). */
        CheckInType: "entry" | "exit";
        /**
         * @description `entry` (when left out) or `exit`.
         * @default entry
         */
        ScanType: "entry" | "exit";
        /**
         * @description One scan of a ticket's code at a door.
         * @example {
         *       "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
         *       "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
         *       "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
         *       "type": "entry",
         *       "gate": "North gate"
         *     }
         */
        Scan: {
            /**
             * @description The ticket's code as the device read it (at most 1000 characters; codes this service issues have at most 400). Anything that is not a code of a ticket of the scanner key's event, forged or garbled, is a `404 unknown-code`.
             * @example eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA
             */
            code: string;
            /**
             * Format: uuid
             * @description The check-in list the door scans for (a list of the scanner key's event).
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            checkInListId: string;
            /**
             * @description The device's name for this one scan, 1 to 100 characters, unique among the scans of the event (a UUID is a good choice). Sending the same scan again with it replays the first answer and records nothing more.
             * @example c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978
             */
            nonce: string;
            type?: components["schemas"]["ScanType"];
            /**
             * @description Where the scan happened, 1 to 100 characters.
             * @example North gate
             */
            gate?: string;
            /**
             * Format: date-time
             * @description When the scan happened (default: now); more than 60 s ahead of the server's clock is a `400`.
             * @example 2026-12-31T20:00:00.000Z
             */
            scannedAt?: string;
        };
        /**
         * @description A scan a device made while offline: as a `Scan`, with `scannedAt` required.
         * @example {
         *       "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
         *       "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
         *       "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
         *       "type": "entry",
         *       "gate": "North gate",
         *       "scannedAt": "2026-12-31T19:02:11.250Z"
         *     }
         */
        OfflineScan: {
            /**
             * @description The ticket's code as the device read it (at most 1000 characters; codes this service issues have at most 400). Anything that is not a code of a ticket of the scanner key's event, forged or garbled, is a `404 unknown-code`.
             * @example eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA
             */
            code: string;
            /**
             * Format: uuid
             * @description The check-in list the door scans for (a list of the scanner key's event).
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            checkInListId: string;
            /**
             * @description The device's name for this one scan, 1 to 100 characters, unique among the scans of the event (a UUID is a good choice). Sending the same scan again with it replays the first answer and records nothing more.
             * @example c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978
             */
            nonce: string;
            type?: components["schemas"]["ScanType"];
            /**
             * @description Where the scan happened, 1 to 100 characters.
             * @example North gate
             */
            gate?: string;
            /**
             * Format: date-time
             * @description When the scan happened on the device; more than 60 s ahead of the server's clock is `rejected`.
             * @example 2026-12-31T20:00:00.000Z
             */
            scannedAt: string;
        };
        /**
         * @description The scans a device made while offline.
         * @example {
         *       "checkIns": [
         *         {
         *           "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
         *           "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
         *           "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
         *           "type": "entry",
         *           "gate": "North gate",
         *           "scannedAt": "2026-12-31T19:02:11.250Z"
         *         }
         *       ]
         *     }
         */
        CheckInBatch: {
            /** @description 1 to 1000 scans, in any order: they are applied in `scannedAt` order. */
            checkIns: components["schemas"]["OfflineScan"][];
        };
        /**
         * @description A recorded scan that let its holder in (`entry`) or out (`exit`), with the ticket as it was then, so the gate can show the tier and the holder's name.
         * @example {
         *       "id": "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706",
         *       "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *       "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
         *       "type": "entry",
         *       "scannedAt": "2026-12-31T19:02:11.250Z",
         *       "recordedAt": "2026-12-31T19:02:11.301Z",
         *       "gate": "North gate",
         *       "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
         *       "ticket": {
         *         "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *         "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
         *         "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *         "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *         "tierName": "VIP",
         *         "position": 1,
         *         "status": "valid",
         *         "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
         *         "attendeeName": "Ada Lovelace",
         *         "createdAt": "2026-11-25T18:04:05.123Z",
         *         "reissuedAt": null
         *       }
         *     }
         */
        CheckIn: {
            /**
             * Format: uuid
             * @description The check-in's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * Format: uuid
             * @description The ticket scanned.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            ticketId: string;
            /**
             * Format: uuid
             * @description The list it was scanned for.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            checkInListId: string;
            type: components["schemas"]["CheckInType"];
            /**
             * Format: date-time
             * @description When the scan happened (as the device said), in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            scannedAt: string;
            /**
             * Format: date-time
             * @description When the server recorded it, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            recordedAt: string;
            /**
             * @description Where the scan happened, or `null`.
             * @example North gate
             */
            gate: string | null;
            /**
             * @description The device's nonce of the scan.
             * @example c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978
             */
            nonce: string;
            ticket: components["schemas"]["Ticket"];
        };
        /** @description Why a scan was refused: `already-checked-in` (409, with `firstCheckIn`), `ticket-void`, `code-revoked`, `not-inside` (409), `ticket-not-on-list`, `nonce-reuse` (422), `unknown-code`, `not-found` (404, an unknown list) or `validation-error` (400). */
        ScanProblem: {
            /**
             * Format: uri
             * @description A stable URI identifying the kind of error; compare it, not `title`. Known types: `urn:ticket-booking:problem:validation-error` (400), `urn:ticket-booking:problem:unauthorized` (401), `urn:ticket-booking:problem:insufficient-scope` (403), `urn:ticket-booking:problem:not-found` (404), `urn:ticket-booking:problem:method-not-allowed` (405), `urn:ticket-booking:problem:capacity-below-sold` (409), `urn:ticket-booking:problem:insufficient-inventory` (409), `urn:ticket-booking:problem:hold-expired` (409), `urn:ticket-booking:problem:booking-cancelled` (409), `urn:ticket-booking:problem:limit-reached` (409), `urn:ticket-booking:problem:webhook-endpoint-disabled` (409), `urn:ticket-booking:problem:ticket-void` (409), `urn:ticket-booking:problem:ticket-pending` (409), `urn:ticket-booking:problem:already-checked-in` (409), `urn:ticket-booking:problem:code-revoked` (409), `urn:ticket-booking:problem:not-inside` (409), `urn:ticket-booking:problem:keys-configured` (409), `urn:ticket-booking:problem:idempotency-key-in-flight` (409), `urn:ticket-booking:problem:tier-not-in-event` (422), `urn:ticket-booking:problem:idempotency-key-reuse` (422), `urn:ticket-booking:problem:ticket-not-on-list` (422), `urn:ticket-booking:problem:nonce-reuse` (422), `urn:ticket-booking:problem:unknown-code` (404), `urn:ticket-booking:problem:payload-too-large` (413), `urn:ticket-booking:problem:unsupported-media-type` (415), `urn:ticket-booking:problem:rate-limited` (429), `urn:ticket-booking:problem:client-error` (400), `urn:ticket-booking:problem:internal-error` (500), `urn:ticket-booking:problem:service-unavailable` (503). New types may be added; all start with `urn:ticket-booking:problem:`.
             * @example urn:ticket-booking:problem:not-found
             */
            type: string;
            /** @description Short summary of the kind of error; the same for every occurrence of a `type`. */
            title: string;
            /**
             * Format: int32
             * @description The HTTP status code.
             */
            status: number;
            /** @description Explanation specific to this occurrence. */
            detail?: string;
            /** @description The request path this problem occurred on. */
            instance?: string;
            /**
             * Format: uuid
             * @description The ticket the code names (every refusal of a ticket of the event carries it).
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            ticketId?: string;
            /** @description The admission that stands: the first one (the entry of the current stay, on a list with re-entry). */
            firstCheckIn?: {
                /**
                 * Format: date-time
                 * @description When the admission that stands was scanned.
                 * @example 2026-12-31T20:00:00.000Z
                 */
                scannedAt: string;
                /**
                 * @description Where, or `null`.
                 * @example North gate
                 */
                gate: string | null;
            };
        } & {
            [key: string]: unknown;
        };
        /** @description What became of one scan of an upload. */
        CheckInResult: {
            /**
             * @description The scan's nonce.
             * @example c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978
             */
            nonce: string;
            /** @description `admitted`: recorded (an entry let in, or an exit let out). `replayed`: this nonce was recorded before; `checkIn` and `problem` are its first answer. `rejected`: refused as a single scan would have been (`problem` says why). `conflict`: an entry a single scan would have refused as `already-checked-in`: the holder got in twice. The first admission stands; this one is recorded as the conflict (`checkIn`, with `problem` naming the first), and counts for `inside`. */
            outcome: "admitted" | "replayed" | "rejected" | "conflict";
            /** @description The recorded check-in (`admitted`, `conflict`, or a replay of one); otherwise `null`. */
            checkIn: components["schemas"]["CheckIn"] | null;
            /** @description Why it was refused (`rejected`, or a replay of a refusal), or what it conflicts with (`conflict`); otherwise `null`. */
            problem: components["schemas"]["ScanProblem"] | null;
        };
        /**
         * @description What became of each scan of an upload.
         * @example {
         *       "results": [
         *         {
         *           "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
         *           "outcome": "admitted",
         *           "checkIn": {
         *             "id": "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706",
         *             "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *             "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
         *             "type": "entry",
         *             "scannedAt": "2026-12-31T19:02:11.250Z",
         *             "recordedAt": "2026-12-31T19:02:11.301Z",
         *             "gate": "North gate",
         *             "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
         *             "ticket": {
         *               "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *               "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
         *               "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *               "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *               "tierName": "VIP",
         *               "position": 1,
         *               "status": "valid",
         *               "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
         *               "attendeeName": "Ada Lovelace",
         *               "createdAt": "2026-11-25T18:04:05.123Z",
         *               "reissuedAt": null
         *             }
         *           },
         *           "problem": null
         *         }
         *       ]
         *     }
         */
        CheckInBatchResult: {
            /** @description One result per scan, in request order. */
            results: components["schemas"]["CheckInResult"][];
        };
        /**
         * @description A ticket admitted twice while a device was offline: the first admission stands.
         * @example {
         *       "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *       "first": {
         *         "id": "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706",
         *         "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *         "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
         *         "type": "entry",
         *         "scannedAt": "2026-12-31T19:02:11.250Z",
         *         "recordedAt": "2026-12-31T19:02:11.301Z",
         *         "gate": "North gate",
         *         "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
         *         "ticket": {
         *           "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *           "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
         *           "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *           "tierName": "VIP",
         *           "position": 1,
         *           "status": "valid",
         *           "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
         *           "attendeeName": "Ada Lovelace",
         *           "createdAt": "2026-11-25T18:04:05.123Z",
         *           "reissuedAt": null
         *         }
         *       },
         *       "second": {
         *         "nonce": "0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b",
         *         "scannedAt": "2026-12-31T19:40:02.000Z",
         *         "gate": "South gate",
         *         "recordedAt": "2026-12-31T21:15:40.512Z"
         *       }
         *     }
         */
        CheckInConflict: {
            /**
             * Format: uuid
             * @description The ticket that got in twice.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            ticketId: string;
            first: components["schemas"]["CheckIn"];
            /** @description The entry that let the holder in a second time, recorded as the conflict. */
            second: {
                /**
                 * @description The nonce of the second entry.
                 * @example c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978
                 */
                nonce: string;
                /**
                 * Format: date-time
                 * @description When the second entry was scanned (on the device).
                 * @example 2026-12-31T20:00:00.000Z
                 */
                scannedAt: string;
                /**
                 * @description Where, or `null`.
                 * @example North gate
                 */
                gate: string | null;
                /**
                 * Format: date-time
                 * @description When the upload that carried it was recorded.
                 * @example 2026-12-31T20:00:00.000Z
                 */
                recordedAt: string;
            };
        };
        /** @description One page of a list's conflicts. */
        CheckInConflictPage: {
            /** @description Up to `limit` conflicts, oldest first (in the order they were recorded). */
            data: components["schemas"]["CheckInConflict"][];
            /** @description Pass as `cursor` to get the next page; `null` on the last page. */
            nextCursor: string | null;
        };
        /**
         * @description Exact counts of a list at one instant (one snapshot of the database), not estimates.
         * @example {
         *       "tickets": 1200,
         *       "admitted": 845,
         *       "inside": 790,
         *       "conflicts": 2,
         *       "byTier": [
         *         {
         *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *           "tickets": 1200,
         *           "admitted": 845,
         *           "inside": 790
         *         }
         *       ]
         *     }
         */
        CheckInListStatus: {
            /**
             * Format: int32
             * @description `valid` tickets the list admits.
             */
            tickets: number;
            /**
             * Format: int32
             * @description Distinct tickets admitted on the list at least once.
             */
            admitted: number;
            /**
             * Format: int32
             * @description Tickets whose last recorded scan on the list let them in (a conflict counts: somebody got in).
             */
            inside: number;
            /**
             * Format: int32
             * @description Offline double admissions recorded on the list (`GET …/conflicts` lists them).
             */
            conflicts: number;
            /** @description Every tier the list admits, zeros included, in the tiers' creation order. */
            byTier: {
                /**
                 * Format: uuid
                 * @description The tier.
                 * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
                 */
                ticketTierId: string;
                /**
                 * Format: int32
                 * @description `valid` tickets of the tier.
                 */
                tickets: number;
                /**
                 * Format: int32
                 * @description Its tickets admitted at least once.
                 */
                admitted: number;
                /**
                 * Format: int32
                 * @description Its tickets inside now.
                 */
                inside: number;
            }[];
        };
        /** @description `bookings:read`: read and list bookings. `bookings:write`: create, confirm and cancel bookings. `webhooks:manage`: manage webhook endpoints. */
        Scope: "bookings:read" | "bookings:write" | "webhooks:manage";
        /**
         * @description An integrator's own rate limits, per key and minute, in every server process.
         * @example {
         *       "requestsPerMinute": 120000,
         *       "bookingsPerMinute": 60000
         *     }
         */
        RateLimits: {
            /**
             * Format: int32
             * @description Requests each of the integrator's keys may make per minute, across the API.
             */
            requestsPerMinute: number;
            /**
             * Format: int32
             * @description Bookings each of its keys may create per minute (`POST /api/bookings`, counted apart).
             */
            bookingsPerMinute: number;
        };
        /**
         * @description A customer of the API, who books with keys of its own.
         * @example {
         *       "id": "2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e",
         *       "name": "Acme Tickets",
         *       "createdAt": "2026-11-25T17:00:00.000Z",
         *       "rateLimits": null
         *     }
         */
        Integrator: {
            /**
             * Format: uuid
             * @description The integrator's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /** @description The integrator's name, 1 to 200 characters. */
            name: string;
            /**
             * Format: date-time
             * @description When the integrator was created, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /** @description Its own limits, or `null`: the service's defaults apply (`RATE_LIMIT_REQUESTS_PER_MINUTE`, `RATE_LIMIT_BOOKINGS_PER_MINUTE`). */
            rateLimits: components["schemas"]["RateLimits"] | null;
        };
        /**
         * @description Changes to an integrator: any of its fields.
         * @example {
         *       "rateLimits": {
         *         "requestsPerMinute": 120000,
         *         "bookingsPerMinute": 60000
         *       }
         *     }
         */
        IntegratorUpdate: {
            /** @description 1 to 200 characters, not only whitespace. */
            name?: string;
            /** @description Both limits, or `null` to go back to the service's defaults. From the next request on, on every process. */
            rateLimits?: components["schemas"]["RateLimits"] | null;
        };
        /**
         * @description A new integrator.
         * @example {
         *       "name": "Acme Tickets"
         *     }
         */
        IntegratorCreate: {
            /** @description 1 to 200 characters, not only whitespace. */
            name: string;
        };
        /** @description One page of integrators. */
        IntegratorPage: {
            /** @description Up to `limit` integrators, oldest first. */
            data: components["schemas"]["Integrator"][];
            /** @description Pass as `cursor` to get the next page; `null` on the last page. */
            nextCursor: string | null;
        };
        /**
         * @description An integrator's API key, without its secret.
         * @example {
         *       "id": "5c4b3a29-1807-4f6e-8d5c-4b3a29180716",
         *       "name": "Production checkout",
         *       "prefix": "tbk_Qm9vay1h",
         *       "scopes": [
         *         "bookings:read",
         *         "bookings:write",
         *         "webhooks:manage"
         *       ],
         *       "createdAt": "2026-11-25T17:05:00.000Z",
         *       "lastUsedAt": null,
         *       "revokedAt": null
         *     }
         */
        ApiKey: {
            /**
             * Format: uuid
             * @description The key's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /** @description Your label for the key, or `null`. */
            name: string | null;
            /** @description The first characters of the key, to recognise it; the rest is never shown again. */
            prefix: string;
            /** @description What the key may do. */
            scopes: components["schemas"]["Scope"][];
            /**
             * Format: date-time
             * @description When the key was created, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /**
             * Format: date-time
             * @description When the key was last used (to the minute), or `null`.
             * @example 2026-12-31T20:00:00.000Z
             */
            lastUsedAt: string | null;
            /**
             * Format: date-time
             * @description When the key was revoked, or `null` while it works.
             * @example 2026-12-31T20:00:00.000Z
             */
            revokedAt: string | null;
        };
        /**
         * @description A new API key with its secret, which no later response shows.
         * @example {
         *       "id": "5c4b3a29-1807-4f6e-8d5c-4b3a29180716",
         *       "name": "Production checkout",
         *       "prefix": "tbk_Qm9vay1h",
         *       "scopes": [
         *         "bookings:read",
         *         "bookings:write",
         *         "webhooks:manage"
         *       ],
         *       "createdAt": "2026-11-25T17:05:00.000Z",
         *       "lastUsedAt": null,
         *       "revokedAt": null,
         *       "key": "tbk_UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFw"
         *     }
         */
        ApiKeyCreated: {
            /**
             * Format: uuid
             * @description The key's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /** @description Your label for the key, or `null`. */
            name: string | null;
            /** @description The first characters of the key, to recognise it; the rest is never shown again. */
            prefix: string;
            /** @description What the key may do. */
            scopes: components["schemas"]["Scope"][];
            /**
             * Format: date-time
             * @description When the key was created, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /**
             * Format: date-time
             * @description When the key was last used (to the minute), or `null`.
             * @example 2026-12-31T20:00:00.000Z
             */
            lastUsedAt: string | null;
            /**
             * Format: date-time
             * @description When the key was revoked, or `null` while it works.
             * @example 2026-12-31T20:00:00.000Z
             */
            revokedAt: string | null;
            /** @description The secret key, shown in this response only: store it now. Send it as `Authorization: Bearer <key>`. */
            key: string;
        };
        /**
         * @description A new key for the integrator.
         * @example {
         *       "name": "Production checkout",
         *       "scopes": [
         *         "bookings:read",
         *         "bookings:write"
         *       ]
         *     }
         */
        ApiKeyCreate: {
            /** @description 1 to 200 characters, not only whitespace. */
            name?: string;
            /** @description Default: all scopes. */
            scopes?: components["schemas"]["Scope"][];
        };
        /** @description An integrator's keys. */
        ApiKeyList: {
            /** @description All of the integrator's keys, oldest first, revoked ones included; an integrator has at most 1000. */
            data: components["schemas"]["ApiKey"][];
        };
        /** @description `booking.created`: a new booking, held or confirmed. `booking.confirmed`: a hold was confirmed. `booking.cancelled`: a booking was cancelled, by you or by an operator. `booking.expired`: a hold lapsed (sent within 30 s of its `expiresAt`). `ticket.checked_in`: a ticket of one of your bookings was admitted at a door (an entry let in, online or uploaded from an offline device). */
        WebhookEventType: "booking.created" | "booking.confirmed" | "booking.cancelled" | "booking.expired" | "ticket.checked_in";
        /**
         * @description A URL that receives your bookings' events, signed per the Standard Webhooks specification.
         * @example {
         *       "id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
         *       "url": "https://tickets.example.com/webhooks/booking",
         *       "events": [
         *         "booking.created",
         *         "booking.cancelled",
         *         "booking.expired"
         *       ],
         *       "description": "Order service",
         *       "createdAt": "2026-11-25T17:10:00.000Z",
         *       "disabled": false
         *     }
         */
        WebhookEndpoint: {
            /**
             * Format: uuid
             * @description The endpoint's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * Format: uri
             * @description Where deliveries are POSTed: an `https://` (or `http://`) URL of at most 2048 characters, without user name or password. Redirects are not followed. Addresses that are not public (loopback, private, link-local, ...) are refused, when saved and again on the resolved address of every delivery, unless the server runs with `WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`.
             * @example https://tickets.example.com/webhooks/booking
             */
            url: string;
            /** @description The event types this endpoint receives, at least one. */
            events: components["schemas"]["WebhookEventType"][];
            /** @description Your note about the endpoint, or `null`. */
            description: string | null;
            /**
             * Format: date-time
             * @description When the endpoint was registered, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /** @description `true`: no new events are queued for it, and its pending deliveries wait until it is enabled again. */
            disabled: boolean;
        };
        /**
         * @description A webhook endpoint with its signing secret, which only the registration and a rotation show.
         * @example {
         *       "id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
         *       "url": "https://tickets.example.com/webhooks/booking",
         *       "events": [
         *         "booking.created",
         *         "booking.cancelled",
         *         "booking.expired"
         *       ],
         *       "description": "Order service",
         *       "createdAt": "2026-11-25T17:10:00.000Z",
         *       "disabled": false,
         *       "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4rSdUaPlxlE="
         *     }
         */
        WebhookEndpointWithSecret: {
            /**
             * Format: uuid
             * @description The endpoint's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * Format: uri
             * @description Where deliveries are POSTed: an `https://` (or `http://`) URL of at most 2048 characters, without user name or password. Redirects are not followed. Addresses that are not public (loopback, private, link-local, ...) are refused, when saved and again on the resolved address of every delivery, unless the server runs with `WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`.
             * @example https://tickets.example.com/webhooks/booking
             */
            url: string;
            /** @description The event types this endpoint receives, at least one. */
            events: components["schemas"]["WebhookEventType"][];
            /** @description Your note about the endpoint, or `null`. */
            description: string | null;
            /**
             * Format: date-time
             * @description When the endpoint was registered, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /** @description `true`: no new events are queued for it, and its pending deliveries wait until it is enabled again. */
            disabled: boolean;
            /**
             * @description The signing secret (`whsec_` and the base64 of 32 random bytes), shown in this response only: give it to your Standard Webhooks verifier.
             * @example whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4rSdUaPlxlE=
             */
            secret: string;
        };
        /**
         * @description A new webhook endpoint.
         * @example {
         *       "url": "https://tickets.example.com/webhooks/booking",
         *       "events": [
         *         "booking.created",
         *         "booking.cancelled",
         *         "booking.expired"
         *       ],
         *       "description": "Order service"
         *     }
         */
        WebhookEndpointCreate: {
            /**
             * Format: uri
             * @description Where deliveries are POSTed: an `https://` (or `http://`) URL of at most 2048 characters, without user name or password. Redirects are not followed. Addresses that are not public (loopback, private, link-local, ...) are refused, when saved and again on the resolved address of every delivery, unless the server runs with `WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`.
             * @example https://tickets.example.com/webhooks/booking
             */
            url: string;
            /** @description The event types this endpoint receives, at least one. */
            events: components["schemas"]["WebhookEventType"][];
            /** @description Your note about the endpoint, at most 500 characters. */
            description?: string;
        };
        /**
         * @description The fields to change; at least one.
         * @example {
         *       "disabled": true
         *     }
         */
        WebhookEndpointUpdate: {
            /**
             * Format: uri
             * @description Where deliveries are POSTed: an `https://` (or `http://`) URL of at most 2048 characters, without user name or password. Redirects are not followed. Addresses that are not public (loopback, private, link-local, ...) are refused, when saved and again on the resolved address of every delivery, unless the server runs with `WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`.
             * @example https://tickets.example.com/webhooks/booking
             */
            url?: string;
            /** @description The event types this endpoint receives, at least one. */
            events?: components["schemas"]["WebhookEventType"][];
            /** @description Your note about the endpoint; `null` removes it. */
            description?: string | null;
            /** @description `true` pauses deliveries to the endpoint; `false` resumes them. */
            disabled?: boolean;
        };
        /** @description One page of webhook endpoints. */
        WebhookEndpointPage: {
            /** @description Up to `limit` of your endpoints, oldest first. */
            data: components["schemas"]["WebhookEndpoint"][];
            /** @description Pass as `cursor` to get the next page; `null` on the last page. */
            nextCursor: string | null;
        };
        /**
         * @description One event on its way to one endpoint, with the outcome of its attempts.
         * @example {
         *       "id": "3c2b1a09-8f7e-4d6c-9b5a-493827160504",
         *       "endpointId": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
         *       "eventId": "9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0",
         *       "eventType": "booking.created",
         *       "status": "pending",
         *       "attempts": 1,
         *       "createdAt": "2026-11-25T18:04:05.130Z",
         *       "lastAttemptAt": "2026-11-25T18:04:05.210Z",
         *       "lastResponseStatus": 500,
         *       "lastError": "The endpoint answered 500.",
         *       "nextAttemptAt": "2026-11-25T18:04:10.210Z"
         *     }
         */
        WebhookDelivery: {
            /**
             * Format: uuid
             * @description The delivery's id.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * Format: uuid
             * @description The endpoint it goes to.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            endpointId: string;
            /**
             * Format: uuid
             * @description The event it carries: the `id` of the body and the `webhook-id` header, the same on every attempt.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            eventId: string;
            /**
             * @description The event's type: one of the `WebhookEventType`s, or `webhook.ping`.
             * @example booking.created
             */
            eventType: "booking.created" | "booking.confirmed" | "booking.cancelled" | "booking.expired" | "ticket.checked_in" | "webhook.ping";
            /** @description `pending`: not delivered yet, another attempt is due at `nextAttemptAt`. `succeeded`: the endpoint answered `2xx` within 10 s. `failed`: every attempt of the schedule failed (about 3 days); retry it by hand. */
            status: "pending" | "succeeded" | "failed";
            /**
             * Format: int32
             * @description Attempts made so far.
             */
            attempts: number;
            /**
             * Format: date-time
             * @description When the delivery was queued, in UTC: the event's commit.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /**
             * Format: date-time
             * @description When the last attempt started, or `null` before the first.
             * @example 2026-12-31T20:00:00.000Z
             */
            lastAttemptAt: string | null;
            /** @description The HTTP status of the last attempt, or `null` when there was none or no response came (see `lastError`). */
            lastResponseStatus: number | null;
            /** @description Why the last attempt failed, or `null` when it succeeded or none was made. */
            lastError: string | null;
            /**
             * Format: date-time
             * @description When the next attempt is due while `pending` (about 5 s, 1 min, 10 min and 1 h after the failed ones, then every 6 h for 3 days); `null` otherwise.
             * @example 2026-12-31T20:00:00.000Z
             */
            nextAttemptAt: string | null;
        };
        /** @description One page of an endpoint's deliveries. */
        WebhookDeliveryPage: {
            /** @description Up to `limit` deliveries, newest first. */
            data: components["schemas"]["WebhookDelivery"][];
            /** @description Pass as `cursor` to get the next page; `null` on the last page. */
            nextCursor: string | null;
        };
        /**
         * @description What a webhook endpoint receives when one of your bookings changes.
         * @example {
         *       "id": "9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0",
         *       "type": "booking.created",
         *       "createdAt": "2026-11-25T18:04:05.130Z",
         *       "data": {
         *         "booking": {
         *           "id": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
         *           "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *           "clientReference": "order-1042",
         *           "status": "confirmed",
         *           "items": [
         *             {
         *               "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *               "tierName": "VIP",
         *               "quantity": 2,
         *               "unitPrice": 25000,
         *               "lineTotal": 50000
         *             },
         *             {
         *               "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
         *               "tierName": "Balcony",
         *               "quantity": 1,
         *               "unitPrice": 5900,
         *               "lineTotal": 5900
         *             }
         *           ],
         *           "total": 55900,
         *           "currency": "EUR",
         *           "createdAt": "2026-11-25T18:04:05.123Z",
         *           "expiresAt": null,
         *           "cancelledAt": null
         *         }
         *       }
         *     }
         */
        BookingEvent: {
            /**
             * Format: uuid
             * @description The event id, also sent as the `webhook-id` header; the same on every retry, so use it to skip duplicates.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /** @description Which change: one of the `booking.*` `WebhookEventType`s. */
            type: "booking.created" | "booking.confirmed" | "booking.cancelled" | "booking.expired";
            /**
             * Format: date-time
             * @description When the change happened, in UTC. Deliveries come in no promised order: compare this.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /** @description The booking as `GET /api/bookings/{bookingId}` showed it right after the change. */
            data: {
                booking: components["schemas"]["Booking"];
            };
        };
        /**
         * @description What a webhook endpoint receives when a ticket of one of your bookings is admitted at a door.
         * @example {
         *       "id": "2b3c4d5e-6f70-4182-9304-a5b6c7d8e9f0",
         *       "type": "ticket.checked_in",
         *       "createdAt": "2026-12-31T19:02:11.301Z",
         *       "data": {
         *         "ticket": {
         *           "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *           "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
         *           "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *           "tierName": "VIP",
         *           "position": 1,
         *           "status": "valid",
         *           "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
         *           "attendeeName": "Ada Lovelace",
         *           "createdAt": "2026-11-25T18:04:05.123Z",
         *           "reissuedAt": null
         *         },
         *         "checkIn": {
         *           "id": "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706",
         *           "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *           "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
         *           "type": "entry",
         *           "scannedAt": "2026-12-31T19:02:11.250Z",
         *           "recordedAt": "2026-12-31T19:02:11.301Z",
         *           "gate": "North gate",
         *           "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
         *           "ticket": {
         *             "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
         *             "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
         *             "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
         *             "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
         *             "tierName": "VIP",
         *             "position": 1,
         *             "status": "valid",
         *             "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
         *             "attendeeName": "Ada Lovelace",
         *             "createdAt": "2026-11-25T18:04:05.123Z",
         *             "reissuedAt": null
         *           }
         *         }
         *       }
         *     }
         */
        TicketCheckedInEvent: {
            /**
             * Format: uuid
             * @description The event id, also sent as the `webhook-id` header; the same on every retry, so use it to skip duplicates.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * @description Always `ticket.checked_in`.
             * @enum {string}
             */
            type: "ticket.checked_in";
            /**
             * Format: date-time
             * @description When the admission was recorded, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /** @description The ticket admitted and the check-in that admitted it, as the door saw them. */
            data: {
                ticket: components["schemas"]["Ticket"];
                checkIn: components["schemas"]["CheckIn"];
            };
        };
        /**
         * @description What `POST /api/webhook-endpoints/{endpointId}/ping` sends, to test a receiver.
         * @example {
         *       "id": "1d2c3b4a-5968-4776-8594-a3b2c1d0e9f8",
         *       "type": "webhook.ping",
         *       "createdAt": "2026-11-25T17:11:00.000Z",
         *       "data": {
         *         "endpointId": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"
         *       }
         *     }
         */
        PingEvent: {
            /**
             * Format: uuid
             * @description The event id, also sent as the `webhook-id` header.
             * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
             */
            id: string;
            /**
             * @description Always `webhook.ping`.
             * @enum {string}
             */
            type: "webhook.ping";
            /**
             * Format: date-time
             * @description When the ping was asked for, in UTC.
             * @example 2026-12-31T20:00:00.000Z
             */
            createdAt: string;
            /** @description Which endpoint was pinged. */
            data: {
                /**
                 * Format: uuid
                 * @description The endpoint pinged.
                 * @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70
                 */
                endpointId: string;
            };
        };
        /** @description The service is ready for traffic; anything else is a `503` problem instead. */
        Health: {
            /**
             * @description The service answers and is not shutting down.
             * @enum {string}
             */
            status: "ok";
            /**
             * @description The database answered, and has every migration this version needs.
             * @enum {string}
             */
            database: "ok";
        };
        /** @description The process runs and answers HTTP; says nothing of the database. */
        Liveness: {
            /**
             * @description The process answers.
             * @enum {string}
             */
            status: "ok";
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    getLiveness: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The process answers. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "status": "ok"
                     *     }
                     */
                    "application/json": components["schemas"]["Liveness"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getReadiness: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Ready: the database answers, has every migration, and the service is not shutting down. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "status": "ok",
                     *       "database": "ok"
                     *     }
                     */
                    "application/json": components["schemas"]["Health"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not ready for traffic: the service is shutting down (it still serves the requests that reach it for a short while, so a load balancer can move traffic first), the database did not answer within 2 s, or it lacks a migration this version needs; also when the server is overloaded. Retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before asking again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getHealth: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Ready: the database answers, has every migration, and the service is not shutting down. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "status": "ok",
                     *       "database": "ok"
                     *     }
                     */
                    "application/json": components["schemas"]["Health"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not ready for traffic: the service is shutting down (it still serves the requests that reach it for a short while, so a load balancer can move traffic first), the database did not answer within 2 s, or it lacks a migration this version needs; also when the server is overloaded. Retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before asking again. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listEvents: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100; 20 when left out. */
                limit?: number;
                /** @description The `nextCursor` of the previous page; leave it out for the first. */
                cursor?: string;
            };
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of events. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *           "name": "The Demo Tour: Live",
                     *           "description": "Doors open at 19:00.",
                     *           "venue": "Riverside Arena",
                     *           "startsAt": "2027-07-17T19:30:00.000Z",
                     *           "endsAt": "2027-07-17T23:00:00.000Z",
                     *           "currency": "EUR",
                     *           "createdAt": "2026-11-25T18:00:00.000Z"
                     *         }
                     *       ],
                     *       "nextCursor": "WyIyMDI3LTA3LTE3VDE5OjMwOjAwLjAwMFoiLCI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiXQ"
                     *     }
                     */
                    "application/json": components["schemas"]["EventPage"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createEvent: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "name": "Midnight Echoes: World Tour",
                 *       "description": "Doors open at 19:00.",
                 *       "venue": "Riverside Arena",
                 *       "startsAt": "2026-12-31T20:00:00+01:00",
                 *       "endsAt": "2026-12-31T23:30:00+01:00",
                 *       "currency": "EUR"
                 *     }
                 */
                "application/json": components["schemas"]["EventCreate"];
            };
        };
        responses: {
            /** @description The event was created. */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description The URL of the new event. */
                    Location?: string;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "name": "The Demo Tour: Live",
                     *       "description": "Doors open at 19:00.",
                     *       "venue": "Riverside Arena",
                     *       "startsAt": "2027-07-17T19:30:00.000Z",
                     *       "endsAt": "2027-07-17T23:00:00.000Z",
                     *       "currency": "EUR",
                     *       "createdAt": "2026-11-25T18:00:00.000Z"
                     *     }
                     */
                    "application/json": components["schemas"]["Event"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getEvent: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The event. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "name": "The Demo Tour: Live",
                     *       "description": "Doors open at 19:00.",
                     *       "venue": "Riverside Arena",
                     *       "startsAt": "2027-07-17T19:30:00.000Z",
                     *       "endsAt": "2027-07-17T23:00:00.000Z",
                     *       "currency": "EUR",
                     *       "createdAt": "2026-11-25T18:00:00.000Z"
                     *     }
                     */
                    "application/json": components["schemas"]["Event"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    updateEvent: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "venue": "Harbour Hall",
                 *       "description": "Doors open at 18:30."
                 *     }
                 */
                "application/json": components["schemas"]["EventUpdate"];
            };
        };
        responses: {
            /** @description The changed event. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "name": "The Demo Tour: Live",
                     *       "description": "Doors open at 19:00.",
                     *       "venue": "Riverside Arena",
                     *       "startsAt": "2027-07-17T19:30:00.000Z",
                     *       "endsAt": "2027-07-17T23:00:00.000Z",
                     *       "currency": "EUR",
                     *       "createdAt": "2026-11-25T18:00:00.000Z"
                     *     }
                     */
                    "application/json": components["schemas"]["Event"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listTicketTiers: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The event's tiers. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *           "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *           "name": "VIP",
                     *           "price": 25000,
                     *           "currency": "EUR",
                     *           "capacity": 50,
                     *           "remaining": 46,
                     *           "held": 2,
                     *           "maxPerBooking": 4
                     *         }
                     *       ]
                     *     }
                     */
                    "application/json": components["schemas"]["TicketTierList"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createTicketTier: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "name": "VIP",
                 *       "price": 25000,
                 *       "capacity": 50,
                 *       "maxPerBooking": 4
                 *     }
                 */
                "application/json": components["schemas"]["TicketTierCreate"];
            };
        };
        responses: {
            /** @description The tier was created. */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "name": "VIP",
                     *       "price": 25000,
                     *       "currency": "EUR",
                     *       "capacity": 50,
                     *       "remaining": 50,
                     *       "held": 2,
                     *       "maxPerBooking": 4
                     *     }
                     */
                    "application/json": components["schemas"]["TicketTier"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The event has 100 tiers already, the most an event may have. Problem type: `urn:ticket-booking:problem:limit-reached`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    updateTicketTier: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71 */
                ticketTierId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "capacity": 600
                 *     }
                 */
                "application/json": components["schemas"]["TicketTierUpdate"];
            };
        };
        responses: {
            /** @description The changed tier. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "name": "VIP",
                     *       "price": 25000,
                     *       "currency": "EUR",
                     *       "capacity": 50,
                     *       "remaining": 46,
                     *       "held": 2,
                     *       "maxPerBooking": 4
                     *     }
                     */
                    "application/json": components["schemas"]["TicketTier"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The new capacity is below the tickets already sold; nothing was changed. Problem type: `urn:ticket-booking:problem:capacity-below-sold`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listIntegrators: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100; 20 when left out. */
                limit?: number;
                /** @description The `nextCursor` of the previous page; leave it out for the first. */
                cursor?: string;
            };
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of integrators. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e",
                     *           "name": "Acme Tickets",
                     *           "createdAt": "2026-11-25T17:00:00.000Z",
                     *           "rateLimits": null
                     *         }
                     *       ],
                     *       "nextCursor": null
                     *     }
                     */
                    "application/json": components["schemas"]["IntegratorPage"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createIntegrator: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "name": "Acme Tickets"
                 *     }
                 */
                "application/json": components["schemas"]["IntegratorCreate"];
            };
        };
        responses: {
            /** @description The integrator was created. */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description The URL of the new integrator. */
                    Location?: string;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e",
                     *       "name": "Acme Tickets",
                     *       "createdAt": "2026-11-25T17:00:00.000Z",
                     *       "rateLimits": null
                     *     }
                     */
                    "application/json": components["schemas"]["Integrator"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getIntegrator: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e */
                integratorId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The integrator. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e",
                     *       "name": "Acme Tickets",
                     *       "createdAt": "2026-11-25T17:00:00.000Z",
                     *       "rateLimits": null
                     *     }
                     */
                    "application/json": components["schemas"]["Integrator"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    updateIntegrator: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e */
                integratorId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "rateLimits": {
                 *         "requestsPerMinute": 120000,
                 *         "bookingsPerMinute": 60000
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["IntegratorUpdate"];
            };
        };
        responses: {
            /** @description The integrator as it is now. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e",
                     *       "name": "Acme Tickets",
                     *       "createdAt": "2026-11-25T17:00:00.000Z",
                     *       "rateLimits": {
                     *         "requestsPerMinute": 120000,
                     *         "bookingsPerMinute": 60000
                     *       }
                     *     }
                     */
                    "application/json": components["schemas"]["Integrator"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listApiKeys: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e */
                integratorId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The keys. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "5c4b3a29-1807-4f6e-8d5c-4b3a29180716",
                     *           "name": "Production checkout",
                     *           "prefix": "tbk_Qm9vay1h",
                     *           "scopes": [
                     *             "bookings:read",
                     *             "bookings:write",
                     *             "webhooks:manage"
                     *           ],
                     *           "createdAt": "2026-11-25T17:05:00.000Z",
                     *           "lastUsedAt": null,
                     *           "revokedAt": null
                     *         }
                     *       ]
                     *     }
                     */
                    "application/json": components["schemas"]["ApiKeyList"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createApiKey: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e */
                integratorId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "name": "Production checkout",
                 *       "scopes": [
                 *         "bookings:read",
                 *         "bookings:write"
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["ApiKeyCreate"];
            };
        };
        responses: {
            /** @description The key was created; store `key` now. */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "5c4b3a29-1807-4f6e-8d5c-4b3a29180716",
                     *       "name": "Production checkout",
                     *       "prefix": "tbk_Qm9vay1h",
                     *       "scopes": [
                     *         "bookings:read",
                     *         "bookings:write",
                     *         "webhooks:manage"
                     *       ],
                     *       "createdAt": "2026-11-25T17:05:00.000Z",
                     *       "lastUsedAt": null,
                     *       "revokedAt": null,
                     *       "key": "tbk_UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFw"
                     *     }
                     */
                    "application/json": components["schemas"]["ApiKeyCreated"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The integrator has 1000 keys already, revoked ones included: the most it may have. Problem type: `urn:ticket-booking:problem:limit-reached`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    revokeApiKey: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 2b7d0c1e-4f5a-4c3b-9d8e-7f6a5b4c3d2e */
                integratorId: string;
                /** @example 5c4b3a29-1807-4f6e-8d5c-4b3a29180716 */
                keyId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The key is revoked. */
            204: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listBookings: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100; 20 when left out. */
                limit?: number;
                /** @description The `nextCursor` of the previous page; leave it out for the first. */
                cursor?: string;
                /** @description Only bookings of this event. */
                eventId?: string;
                /** @description Only bookings in this status (as clients see it: a lapsed hold is `expired`). */
                status?: "held" | "confirmed" | "expired" | "cancelled";
            };
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of bookings. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *           "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *           "clientReference": "order-1042",
                     *           "status": "confirmed",
                     *           "items": [
                     *             {
                     *               "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *               "tierName": "VIP",
                     *               "quantity": 2,
                     *               "unitPrice": 25000,
                     *               "lineTotal": 50000
                     *             },
                     *             {
                     *               "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
                     *               "tierName": "Balcony",
                     *               "quantity": 1,
                     *               "unitPrice": 5900,
                     *               "lineTotal": 5900
                     *             }
                     *           ],
                     *           "total": 55900,
                     *           "currency": "EUR",
                     *           "createdAt": "2026-11-25T18:04:05.123Z",
                     *           "expiresAt": null,
                     *           "cancelledAt": null
                     *         }
                     *       ],
                     *       "nextCursor": null
                     *     }
                     */
                    "application/json": components["schemas"]["BookingPage"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createBooking: {
        parameters: {
            query?: never;
            header?: {
                /** @description The same as `clientReference` (when both are sent they must be equal). A retry with the same key and the same body returns the original booking. */
                "idempotency-key"?: string;
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                 *       "items": [
                 *         {
                 *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                 *           "quantity": 2
                 *         },
                 *         {
                 *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
                 *           "quantity": 1
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["BookingCreate"];
            };
        };
        responses: {
            /** @description A replay: the booking an earlier request with the same idempotency key created, as it is now. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `true`: this is the booking an earlier request with the same key created. */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "clientReference": "order-1042",
                     *       "status": "confirmed",
                     *       "items": [
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *           "tierName": "VIP",
                     *           "quantity": 2,
                     *           "unitPrice": 25000,
                     *           "lineTotal": 50000
                     *         },
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
                     *           "tierName": "Balcony",
                     *           "quantity": 1,
                     *           "unitPrice": 5900,
                     *           "lineTotal": 5900
                     *         }
                     *       ],
                     *       "total": 55900,
                     *       "currency": "EUR",
                     *       "createdAt": "2026-11-25T18:04:05.123Z",
                     *       "expiresAt": null,
                     *       "cancelledAt": null
                     *     }
                     */
                    "application/json": components["schemas"]["Booking"];
                };
            };
            /** @description The booking was made: `confirmed`, or `held` until `expiresAt` when `hold` was given. */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description The URL of the new booking. */
                    Location?: string;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "clientReference": "order-1042",
                     *       "status": "held",
                     *       "items": [
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *           "tierName": "VIP",
                     *           "quantity": 2,
                     *           "unitPrice": 25000,
                     *           "lineTotal": 50000
                     *         },
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
                     *           "tierName": "Balcony",
                     *           "quantity": 1,
                     *           "unitPrice": 5900,
                     *           "lineTotal": 5900
                     *         }
                     *       ],
                     *       "total": 55900,
                     *       "currency": "EUR",
                     *       "createdAt": "2026-11-25T18:04:05.123Z",
                     *       "expiresAt": "2026-11-25T18:14:05.123Z",
                     *       "cancelledAt": null
                     *     }
                     */
                    "application/json": components["schemas"]["Booking"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not enough tickets remain (with `shortages` for every short tier), or a request with the same idempotency key is still in flight (retry after `Retry-After`). Nothing was booked. Problem type: `urn:ticket-booking:problem:insufficient-inventory`, `urn:ticket-booking:problem:idempotency-key-in-flight`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description With idempotency-key-in-flight: seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["InsufficientInventoryProblem"] | components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A tier does not exist or belongs to another event (listed in `ticketTierIds`), or the idempotency key was used for a different request. Nothing was booked. Problem type: `urn:ticket-booking:problem:tier-not-in-event`, `urn:ticket-booking:problem:idempotency-key-reuse`. */
            422: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["TierNotInEventProblem"] | components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getBooking: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b */
                bookingId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The booking. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "clientReference": "order-1042",
                     *       "status": "confirmed",
                     *       "items": [
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *           "tierName": "VIP",
                     *           "quantity": 2,
                     *           "unitPrice": 25000,
                     *           "lineTotal": 50000
                     *         },
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
                     *           "tierName": "Balcony",
                     *           "quantity": 1,
                     *           "unitPrice": 5900,
                     *           "lineTotal": 5900
                     *         }
                     *       ],
                     *       "total": 55900,
                     *       "currency": "EUR",
                     *       "createdAt": "2026-11-25T18:04:05.123Z",
                     *       "expiresAt": null,
                     *       "cancelledAt": null
                     *     }
                     */
                    "application/json": components["schemas"]["Booking"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    cancelBooking: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b */
                bookingId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The cancelled booking. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "clientReference": "order-1042",
                     *       "status": "cancelled",
                     *       "items": [
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *           "tierName": "VIP",
                     *           "quantity": 2,
                     *           "unitPrice": 25000,
                     *           "lineTotal": 50000
                     *         },
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
                     *           "tierName": "Balcony",
                     *           "quantity": 1,
                     *           "unitPrice": 5900,
                     *           "lineTotal": 5900
                     *         }
                     *       ],
                     *       "total": 55900,
                     *       "currency": "EUR",
                     *       "createdAt": "2026-11-25T18:04:05.123Z",
                     *       "expiresAt": null,
                     *       "cancelledAt": "2026-11-25T19:12:44.318Z"
                     *     }
                     */
                    "application/json": components["schemas"]["Booking"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The booking is an expired hold. Problem type: `urn:ticket-booking:problem:hold-expired`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    confirmBooking: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b */
                bookingId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The confirmed booking. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "clientReference": "order-1042",
                     *       "status": "confirmed",
                     *       "items": [
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *           "tierName": "VIP",
                     *           "quantity": 2,
                     *           "unitPrice": 25000,
                     *           "lineTotal": 50000
                     *         },
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73",
                     *           "tierName": "Balcony",
                     *           "quantity": 1,
                     *           "unitPrice": 5900,
                     *           "lineTotal": 5900
                     *         }
                     *       ],
                     *       "total": 55900,
                     *       "currency": "EUR",
                     *       "createdAt": "2026-11-25T18:04:05.123Z",
                     *       "expiresAt": null,
                     *       "cancelledAt": null
                     *     }
                     */
                    "application/json": components["schemas"]["Booking"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The hold expired, or the booking is cancelled. Problem type: `urn:ticket-booking:problem:hold-expired`, `urn:ticket-booking:problem:booking-cancelled`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listBookingTickets: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b */
                bookingId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The booking's tickets. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *           "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *           "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *           "tierName": "VIP",
                     *           "position": 1,
                     *           "status": "valid",
                     *           "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                     *           "attendeeName": "Ada Lovelace",
                     *           "createdAt": "2026-11-25T18:04:05.123Z",
                     *           "reissuedAt": null
                     *         },
                     *         {
                     *           "id": "4d0e3f2a-5b6c-4d7e-9f8a-0b1c2d3e4f5a",
                     *           "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *           "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *           "tierName": "VIP",
                     *           "position": 2,
                     *           "status": "valid",
                     *           "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                     *           "attendeeName": null,
                     *           "createdAt": "2026-11-25T18:04:05.123Z",
                     *           "reissuedAt": null
                     *         }
                     *       ]
                     *     }
                     */
                    "application/json": components["schemas"]["TicketList"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getTicket: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f */
                ticketId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The ticket. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *       "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *       "tierName": "VIP",
                     *       "position": 1,
                     *       "status": "valid",
                     *       "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                     *       "attendeeName": "Ada Lovelace",
                     *       "createdAt": "2026-11-25T18:04:05.123Z",
                     *       "reissuedAt": null
                     *     }
                     */
                    "application/json": components["schemas"]["Ticket"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    updateTicket: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f */
                ticketId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "attendeeName": "Ada Lovelace"
                 *     }
                 */
                "application/json": components["schemas"]["TicketUpdate"];
            };
        };
        responses: {
            /** @description The ticket with its holder's name. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *       "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *       "tierName": "VIP",
                     *       "position": 1,
                     *       "status": "valid",
                     *       "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                     *       "attendeeName": "Ada Lovelace",
                     *       "createdAt": "2026-11-25T18:04:05.123Z",
                     *       "reissuedAt": null
                     *     }
                     */
                    "application/json": components["schemas"]["Ticket"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The ticket is void. Problem type: `urn:ticket-booking:problem:ticket-void`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getTicketQr: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f */
                ticketId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description An SVG image of the QR code (the example's path data is shortened). */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /** @example <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 85 85" shape-rendering="crispEdges"><path fill="#ffffff" d="M0 0h85v85H0z"/><path stroke="#000000" d="M4 4.5h7m3 0h1…"/></svg> */
                    "image/svg+xml": string;
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The ticket has no code: it is `pending` (its booking is held) or `void`. Problem type: `urn:ticket-booking:problem:ticket-pending`, `urn:ticket-booking:problem:ticket-void`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    reissueTicket: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f */
                ticketId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The ticket with its new code. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *       "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *       "tierName": "VIP",
                     *       "position": 1,
                     *       "status": "valid",
                     *       "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                     *       "attendeeName": "Ada Lovelace",
                     *       "createdAt": "2026-11-25T18:04:05.123Z",
                     *       "reissuedAt": "2026-11-26T09:30:00.000Z"
                     *     }
                     */
                    "application/json": components["schemas"]["Ticket"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The ticket has no code to reissue: it is `pending` or `void`. Problem type: `urn:ticket-booking:problem:ticket-pending`, `urn:ticket-booking:problem:ticket-void`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listTicketKeys: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `ETag` of the key set you hold (or several, comma-separated): while it is still the current one the answer is `304` without a body. */
                "if-none-match"?: string;
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The key set. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description The key set may be cached for five minutes; fetch it again at once on a code whose `kid` it lacks. */
                    "Cache-Control"?: string;
                    /** @description Names this version of the key set (a strong entity tag); send it back as `If-None-Match` to get `304` while nothing changed. */
                    ETag?: string;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "keys": [
                     *         {
                     *           "kty": "OKP",
                     *           "crv": "Ed25519",
                     *           "x": "kvKE10q9KATOb6g0HWiBHFs5eHvZPTpnoJZlOopcjdw",
                     *           "kid": "RrmAD8L33qti0Dhm",
                     *           "alg": "EdDSA",
                     *           "use": "sig"
                     *         }
                     *       ]
                     *     }
                     */
                    "application/json": components["schemas"]["TicketKeySet"];
                };
            };
            /** @description The key set is the one named in `If-None-Match`. */
            304: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description The key set may be cached for five minutes; fetch it again at once on a code whose `kid` it lacks. */
                    "Cache-Control"?: string;
                    /** @description Names this version of the key set (a strong entity tag); send it back as `If-None-Match` to get `304` while nothing changed. */
                    ETag?: string;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    rotateTicketKey: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The new current key (its public part). */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "kty": "OKP",
                     *       "crv": "Ed25519",
                     *       "x": "kvKE10q9KATOb6g0HWiBHFs5eHvZPTpnoJZlOopcjdw",
                     *       "kid": "RrmAD8L33qti0Dhm",
                     *       "alg": "EdDSA",
                     *       "use": "sig"
                     *     }
                     */
                    "application/json": components["schemas"]["TicketPublicKey"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The keys come from `TICKET_SIGNING_KEYS`. Problem type: `urn:ticket-booking:problem:keys-configured`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listRevocations: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100; 20 when left out. */
                limit?: number;
                /** @description A `nextCursor` this feed returned; leave it out to read from the start. */
                cursor?: string;
            };
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revocations after `cursor`. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *           "ver": 1,
                     *           "reason": "reissued",
                     *           "revokedAt": "2026-11-26T09:30:00.000Z"
                     *         }
                     *       ],
                     *       "nextCursor": "cjQy"
                     *     }
                     */
                    "application/json": components["schemas"]["RevocationPage"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listCheckInLists: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The event's lists. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                     *           "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *           "name": "VIP entrance",
                     *           "ticketTierIds": [
                     *             "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71"
                     *           ],
                     *           "allowReentry": false,
                     *           "createdAt": "2026-12-01T18:00:00.000Z"
                     *         }
                     *       ]
                     *     }
                     */
                    "application/json": components["schemas"]["CheckInListList"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createCheckInList: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "name": "VIP entrance",
                 *       "ticketTierIds": [
                 *         "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71"
                 *       ],
                 *       "allowReentry": false
                 *     }
                 */
                "application/json": components["schemas"]["CheckInListCreate"];
            };
        };
        responses: {
            /** @description The list was created. */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description The URL of the new check-in list. */
                    Location?: string;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "name": "VIP entrance",
                     *       "ticketTierIds": [
                     *         "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71"
                     *       ],
                     *       "allowReentry": false,
                     *       "createdAt": "2026-12-01T18:00:00.000Z"
                     *     }
                     */
                    "application/json": components["schemas"]["CheckInList"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The event has 100 check-in lists already, the most an event may have. Problem type: `urn:ticket-booking:problem:limit-reached`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A tier does not exist or belongs to another event (listed in `ticketTierIds`). Nothing was created. Problem type: `urn:ticket-booking:problem:tier-not-in-event`. */
            422: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["CheckInListTierProblem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getCheckInList: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d */
                checkInListId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The list. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                     *       "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *       "name": "VIP entrance",
                     *       "ticketTierIds": [
                     *         "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71"
                     *       ],
                     *       "allowReentry": false,
                     *       "createdAt": "2026-12-01T18:00:00.000Z"
                     *     }
                     */
                    "application/json": components["schemas"]["CheckInList"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listScannerKeys: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The keys. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b",
                     *           "name": "North gate, device 3",
                     *           "prefix": "tbs_N2Qx7aPz",
                     *           "createdAt": "2026-12-01T18:05:00.000Z",
                     *           "revokedAt": null
                     *         }
                     *       ]
                     *     }
                     */
                    "application/json": components["schemas"]["ScannerKeyList"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createScannerKey: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "name": "North gate, device 3"
                 *     }
                 */
                "application/json": components["schemas"]["ScannerKeyCreate"];
            };
        };
        responses: {
            /** @description The key was created; store `key` on the device now. */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b",
                     *       "name": "North gate, device 3",
                     *       "prefix": "tbs_N2Qx7aPz",
                     *       "createdAt": "2026-12-01T18:05:00.000Z",
                     *       "revokedAt": null,
                     *       "key": "tbs_4xQm2Zr0PpW9kVb7JhTg1cYs3LdN6eRf8oUaiSBjCtE"
                     *     }
                     */
                    "application/json": components["schemas"]["ScannerKeyCreated"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The event has 1000 scanner keys already, revoked ones included: the most it may have. Problem type: `urn:ticket-booking:problem:limit-reached`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    scanTicket: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                 *       "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                 *       "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
                 *       "type": "entry",
                 *       "gate": "North gate"
                 *     }
                 */
                "application/json": components["schemas"]["Scan"];
            };
        };
        responses: {
            /** @description Admitted (an entry let in) or let out (an exit), with the ticket so the gate can show the tier and the holder's name; also the replay of such an answer, with `Idempotent-Replayed: true`. */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Present (`true`) on a replay: the first answer to a scan with this nonce, as it was then; nothing more was recorded. */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706",
                     *       "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *       "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                     *       "type": "entry",
                     *       "scannedAt": "2026-12-31T19:02:11.250Z",
                     *       "recordedAt": "2026-12-31T19:02:11.301Z",
                     *       "gate": "North gate",
                     *       "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
                     *       "ticket": {
                     *         "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *         "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *         "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *         "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *         "tierName": "VIP",
                     *         "position": 1,
                     *         "status": "valid",
                     *         "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                     *         "attendeeName": "Ada Lovelace",
                     *         "createdAt": "2026-11-25T18:04:05.123Z",
                     *         "reissuedAt": null
                     *       }
                     *     }
                     */
                    "application/json": components["schemas"]["CheckIn"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The code is malformed, its signature does not verify, or it names no ticket of the scanner key's event (`unknown-code`); or the check-in list is not one of the event's (`not-found`). Also as a replay. Problem type: `urn:ticket-booking:problem:unknown-code`, `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Present (`true`) on a replay: the first answer to a scan with this nonce, as it was then; nothing more was recorded. */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ScanProblem"];
                };
            };
            /** @description Refused at the door, with the `ticketId`; also as a replay. Problem type: `urn:ticket-booking:problem:already-checked-in`, `urn:ticket-booking:problem:ticket-void`, `urn:ticket-booking:problem:code-revoked`, `urn:ticket-booking:problem:not-inside`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Present (`true`) on a replay: the first answer to a scan with this nonce, as it was then; nothing more was recorded. */
                    "Idempotent-Replayed"?: "true";
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ScanProblem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The list does not admit the ticket's tier (`ticket-not-on-list`, with the `ticketId`; also as a replay), or the nonce was used for another scan (`nonce-reuse`: nothing was recorded). Problem type: `urn:ticket-booking:problem:ticket-not-on-list`, `urn:ticket-booking:problem:nonce-reuse`. */
            422: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ScanProblem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    uploadScans: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "checkIns": [
                 *         {
                 *           "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                 *           "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                 *           "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
                 *           "type": "entry",
                 *           "gate": "North gate",
                 *           "scannedAt": "2026-12-31T19:02:11.250Z"
                 *         }
                 *       ]
                 *     }
                 */
                "application/json": components["schemas"]["CheckInBatch"];
            };
        };
        responses: {
            /** @description One result per scan, in request order. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "results": [
                     *         {
                     *           "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
                     *           "outcome": "admitted",
                     *           "checkIn": {
                     *             "id": "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706",
                     *             "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *             "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                     *             "type": "entry",
                     *             "scannedAt": "2026-12-31T19:02:11.250Z",
                     *             "recordedAt": "2026-12-31T19:02:11.301Z",
                     *             "gate": "North gate",
                     *             "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
                     *             "ticket": {
                     *               "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *               "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *               "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *               "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *               "tierName": "VIP",
                     *               "position": 1,
                     *               "status": "valid",
                     *               "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                     *               "attendeeName": "Ada Lovelace",
                     *               "createdAt": "2026-11-25T18:04:05.123Z",
                     *               "reissuedAt": null
                     *             }
                     *           },
                     *           "problem": null
                     *         }
                     *       ]
                     *     }
                     */
                    "application/json": components["schemas"]["CheckInBatchResult"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getCheckInListStatus: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d */
                checkInListId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The counts. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "tickets": 1200,
                     *       "admitted": 845,
                     *       "inside": 790,
                     *       "conflicts": 2,
                     *       "byTier": [
                     *         {
                     *           "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *           "tickets": 1200,
                     *           "admitted": 845,
                     *           "inside": 790
                     *         }
                     *       ]
                     *     }
                     */
                    "application/json": components["schemas"]["CheckInListStatus"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listCheckInConflicts: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100; 20 when left out. */
                limit?: number;
                /** @description The `nextCursor` of the previous page; leave it out for the first. */
                cursor?: string;
            };
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d */
                checkInListId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of conflicts. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *           "first": {
                     *             "id": "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706",
                     *             "ticketId": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *             "checkInListId": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                     *             "type": "entry",
                     *             "scannedAt": "2026-12-31T19:02:11.250Z",
                     *             "recordedAt": "2026-12-31T19:02:11.301Z",
                     *             "gate": "North gate",
                     *             "nonce": "c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978",
                     *             "ticket": {
                     *               "id": "3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                     *               "bookingId": "0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b",
                     *               "eventId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70",
                     *               "ticketTierId": "6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71",
                     *               "tierName": "VIP",
                     *               "position": 1,
                     *               "status": "valid",
                     *               "code": "eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA",
                     *               "attendeeName": "Ada Lovelace",
                     *               "createdAt": "2026-11-25T18:04:05.123Z",
                     *               "reissuedAt": null
                     *             }
                     *           },
                     *           "second": {
                     *             "nonce": "0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b",
                     *             "scannedAt": "2026-12-31T19:40:02.000Z",
                     *             "gate": "South gate",
                     *             "recordedAt": "2026-12-31T21:15:40.512Z"
                     *           }
                     *         }
                     *       ],
                     *       "nextCursor": null
                     *     }
                     */
                    "application/json": components["schemas"]["CheckInConflictPage"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    revokeScannerKey: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 */
                eventId: string;
                /** @example 1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b */
                keyId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The key is revoked. */
            204: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listWebhookEndpoints: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100; 20 when left out. */
                limit?: number;
                /** @description The `nextCursor` of the previous page; leave it out for the first. */
                cursor?: string;
            };
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of endpoints. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
                     *           "url": "https://tickets.example.com/webhooks/booking",
                     *           "events": [
                     *             "booking.created",
                     *             "booking.cancelled",
                     *             "booking.expired"
                     *           ],
                     *           "description": "Order service",
                     *           "createdAt": "2026-11-25T17:10:00.000Z",
                     *           "disabled": false
                     *         }
                     *       ],
                     *       "nextCursor": null
                     *     }
                     */
                    "application/json": components["schemas"]["WebhookEndpointPage"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "url": "https://tickets.example.com/webhooks/booking",
                 *       "events": [
                 *         "booking.created",
                 *         "booking.cancelled",
                 *         "booking.expired"
                 *       ],
                 *       "description": "Order service"
                 *     }
                 */
                "application/json": components["schemas"]["WebhookEndpointCreate"];
            };
        };
        responses: {
            /** @description The endpoint was registered; store `secret` now. */
            201: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description The URL of the new endpoint. */
                    Location?: string;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
                     *       "url": "https://tickets.example.com/webhooks/booking",
                     *       "events": [
                     *         "booking.created",
                     *         "booking.cancelled",
                     *         "booking.expired"
                     *       ],
                     *       "description": "Order service",
                     *       "createdAt": "2026-11-25T17:10:00.000Z",
                     *       "disabled": false,
                     *       "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4rSdUaPlxlE="
                     *     }
                     */
                    "application/json": components["schemas"]["WebhookEndpointWithSecret"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You have 20 webhook endpoints already, the most an integrator may have. Problem type: `urn:ticket-booking:problem:limit-reached`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d */
                endpointId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The endpoint. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
                     *       "url": "https://tickets.example.com/webhooks/booking",
                     *       "events": [
                     *         "booking.created",
                     *         "booking.cancelled",
                     *         "booking.expired"
                     *       ],
                     *       "description": "Order service",
                     *       "createdAt": "2026-11-25T17:10:00.000Z",
                     *       "disabled": false
                     *     }
                     */
                    "application/json": components["schemas"]["WebhookEndpoint"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    deleteWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d */
                endpointId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The endpoint is deleted. */
            204: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    updateWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d */
                endpointId: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "disabled": true
                 *     }
                 */
                "application/json": components["schemas"]["WebhookEndpointUpdate"];
            };
        };
        responses: {
            /** @description The endpoint as changed. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
                     *       "url": "https://tickets.example.com/webhooks/booking",
                     *       "events": [
                     *         "booking.created",
                     *         "booking.cancelled",
                     *         "booking.expired"
                     *       ],
                     *       "description": "Order service",
                     *       "createdAt": "2026-11-25T17:10:00.000Z",
                     *       "disabled": true
                     *     }
                     */
                    "application/json": components["schemas"]["WebhookEndpoint"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    rotateWebhookSecret: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d */
                endpointId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The new secret; store it now. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
                     *       "url": "https://tickets.example.com/webhooks/booking",
                     *       "events": [
                     *         "booking.created",
                     *         "booking.cancelled",
                     *         "booking.expired"
                     *       ],
                     *       "description": "Order service",
                     *       "createdAt": "2026-11-25T17:10:00.000Z",
                     *       "disabled": false,
                     *       "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4rSdUaPlxlE="
                     *     }
                     */
                    "application/json": components["schemas"]["WebhookEndpointWithSecret"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    pingWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d */
                endpointId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The ping is on its way: its delivery, as queued. */
            202: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "3c2b1a09-8f7e-4d6c-9b5a-493827160504",
                     *       "endpointId": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
                     *       "eventId": "9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0",
                     *       "eventType": "webhook.ping",
                     *       "status": "pending",
                     *       "attempts": 0,
                     *       "createdAt": "2026-11-25T18:04:05.130Z",
                     *       "lastAttemptAt": null,
                     *       "lastResponseStatus": null,
                     *       "lastError": null,
                     *       "nextAttemptAt": "2026-11-25T18:04:05.130Z"
                     *     }
                     */
                    "application/json": components["schemas"]["WebhookDelivery"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The endpoint is disabled: enable it with `PATCH { "disabled": false }` first. Problem type: `urn:ticket-booking:problem:webhook-endpoint-disabled`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listWebhookDeliveries: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100; 20 when left out. */
                limit?: number;
                /** @description The `nextCursor` of the previous page; leave it out for the first. */
                cursor?: string;
            };
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d */
                endpointId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of deliveries. */
            200: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "data": [
                     *         {
                     *           "id": "3c2b1a09-8f7e-4d6c-9b5a-493827160504",
                     *           "endpointId": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
                     *           "eventId": "9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0",
                     *           "eventType": "booking.created",
                     *           "status": "pending",
                     *           "attempts": 1,
                     *           "createdAt": "2026-11-25T18:04:05.130Z",
                     *           "lastAttemptAt": "2026-11-25T18:04:05.210Z",
                     *           "lastResponseStatus": 500,
                     *           "lastError": "The endpoint answered 500.",
                     *           "nextAttemptAt": "2026-11-25T18:04:10.210Z"
                     *         }
                     *       ],
                     *       "nextCursor": null
                     *     }
                     */
                    "application/json": components["schemas"]["WebhookDeliveryPage"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    retryWebhookDelivery: {
        parameters: {
            query?: never;
            header?: {
                /** @description Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID. */
                "x-request-id"?: string;
            };
            path: {
                /** @example 3c2b1a09-8f7e-4d6c-9b5a-493827160504 */
                deliveryId: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The delivery is due now. */
            202: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "3c2b1a09-8f7e-4d6c-9b5a-493827160504",
                     *       "endpointId": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
                     *       "eventId": "9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0",
                     *       "eventType": "booking.created",
                     *       "status": "pending",
                     *       "attempts": 1,
                     *       "createdAt": "2026-11-25T18:04:05.130Z",
                     *       "lastAttemptAt": "2026-11-25T18:04:05.210Z",
                     *       "lastResponseStatus": 500,
                     *       "lastError": "The endpoint answered 500.",
                     *       "nextAttemptAt": "2026-11-25T18:30:00.000Z"
                     *     }
                     */
                    "application/json": components["schemas"]["WebhookDelivery"];
                };
            };
            /** @description The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON. Problem type: `urn:ticket-booking:problem:validation-error`. */
            400: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["ValidationProblem"];
                };
            };
            /** @description The bearer key is missing, unknown, revoked, or not one this operation takes. Problem type: `urn:ticket-booking:problem:unauthorized`. */
            401: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed. Problem type: `urn:ticket-booking:problem:insufficient-scope`. */
            403: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description `Bearer realm="integrator", error="insufficient_scope", scope="…"`. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The resource does not exist, or belongs to another integrator. Problem type: `urn:ticket-booking:problem:not-found`. */
            404: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The endpoint is disabled: enable it with `PATCH { "disabled": false }` first. Problem type: `urn:ticket-booking:problem:webhook-endpoint-disabled`. */
            409: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is larger than 64 KiB. Problem type: `urn:ticket-booking:problem:payload-too-large`. */
            413: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request body is not `application/json`. Problem type: `urn:ticket-booking:problem:unsupported-media-type`. */
            415: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own. Problem type: `urn:ticket-booking:problem:rate-limited`. */
            429: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation). */
                    "RateLimit-Limit"?: number;
                    /** @description Requests left in the current window. */
                    "RateLimit-Remaining"?: number;
                    /** @description Seconds until the window resets. */
                    "RateLimit-Reset"?: number;
                    /** @description Seconds until the window resets. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it. Problem type: `urn:ticket-booking:problem:internal-error`. */
            500: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds. Problem type: `urn:ticket-booking:problem:service-unavailable`. */
            503: {
                headers: {
                    /** @description The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID. */
                    "x-request-id"?: string;
                    /** @description Only on responses to a browser request whose `Origin` is one of the server's `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response. */
                    "Access-Control-Allow-Origin"?: string;
                    /** @description Seconds to wait before retrying. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    receiveBookingEvent: {
        parameters: {
            query?: never;
            header: {
                /**
                 * @description The event id: the same on every retry of the event, so use it to skip duplicates.
                 * @example 9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0
                 */
                "webhook-id": string;
                /**
                 * @description Unix seconds when this attempt was sent; reject ones far from your clock (the Standard Webhooks libraries allow 5 minutes).
                 * @example 1795975445
                 */
                "webhook-timestamp": string;
                /**
                 * @description `v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded part of the endpoint's secret after `whsec_`; during the 24 hours after a rotation, a second signature with the previous secret follows, space-separated. Verify with a Standard Webhooks library.
                 * @example v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=
                 */
                "webhook-signature": string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BookingEvent"];
            };
        };
        responses: {
            /** @description Received: answer within 10 s. The body is ignored. */
            "2XX": {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Anything else, no answer within 10 s, or a redirect (not followed): the event is sent again later with the same `webhook-id`. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    receiveTicketCheckedIn: {
        parameters: {
            query?: never;
            header: {
                /**
                 * @description The event id: the same on every retry of the event, so use it to skip duplicates.
                 * @example 9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0
                 */
                "webhook-id": string;
                /**
                 * @description Unix seconds when this attempt was sent; reject ones far from your clock (the Standard Webhooks libraries allow 5 minutes).
                 * @example 1795975445
                 */
                "webhook-timestamp": string;
                /**
                 * @description `v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded part of the endpoint's secret after `whsec_`; during the 24 hours after a rotation, a second signature with the previous secret follows, space-separated. Verify with a Standard Webhooks library.
                 * @example v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=
                 */
                "webhook-signature": string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TicketCheckedInEvent"];
            };
        };
        responses: {
            /** @description Received: answer within 10 s. The body is ignored. */
            "2XX": {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Anything else, no answer within 10 s, or a redirect (not followed): the event is sent again later with the same `webhook-id`. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    receiveWebhookPing: {
        parameters: {
            query?: never;
            header: {
                /**
                 * @description The event id: the same on every retry of the event, so use it to skip duplicates.
                 * @example 9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0
                 */
                "webhook-id": string;
                /**
                 * @description Unix seconds when this attempt was sent; reject ones far from your clock (the Standard Webhooks libraries allow 5 minutes).
                 * @example 1795975445
                 */
                "webhook-timestamp": string;
                /**
                 * @description `v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded part of the endpoint's secret after `whsec_`; during the 24 hours after a rotation, a second signature with the previous secret follows, space-separated. Verify with a Standard Webhooks library.
                 * @example v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=
                 */
                "webhook-signature": string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PingEvent"];
            };
        };
        responses: {
            /** @description Received: answer within 10 s. The body is ignored. */
            "2XX": {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Anything else, no answer within 10 s, or a redirect (not followed): the event is sent again later with the same `webhook-id`. */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
}
