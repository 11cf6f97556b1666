/** Largest request body accepted; a booking of 20 items is well under 4 KiB. */
export const BODY_LIMIT_BYTES = 64 * 1024
