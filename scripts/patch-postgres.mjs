// Runs on `npm install` / `npm ci` (the postinstall script). postgres.js 3.4.9 can crash the whole
// process with "TypeError: Cannot read properties of null (reading 'write')" when a connection
// closes while a small write is queued (a database restart does it), and can leave a reconnected
// connection unable to flush. This applies the guard proposed upstream until a release has it:
// the queued write is dropped and its query rejected with CONNECTION_CLOSED, and teardown resets
// the write timer. Idempotent; warns and changes nothing if the driver's code is not the expected one.
// See https://github.com/porsager/postgres/issues/1154 and https://github.com/porsager/postgres/pull/1209
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const MARKER = '/* ticket-booking: nextWrite guard */'
const replacements = [
  [
    'function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    `function nextWrite(fn) {\n    ${MARKER}\n    if (socket === null) {\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)`
  ],
  ['    clearImmediate(nextWriteTimer)\n', '    clearImmediate(nextWriteTimer)\n    nextWriteTimer = null\n    chunk = null\n']
]

// Its connection queues only shed consumed slots when they empty, so under sustained load they
// grow without bound and every `remove` (an indexOf) scans them: a CPU profile of the tier
// listing at 64 concurrent requests spent more time there than in any code of ours. `shift`
// below drops consumed slots once they outnumber the live ones.
const QUEUE_MARKER = '/* ticket-booking: compacting queue */'
const queueReplacements = [
  [
    `      if (index === xs.length) {
        index = 0
        xs = []
      } else {
        xs[index - 1] = undefined
      }`,
    `      ${QUEUE_MARKER}
      if (index === xs.length) {
        index = 0
        xs = []
      } else if (index > 64 && index * 2 > xs.length) {
        xs = xs.slice(index)
        index = 0
      } else {
        xs[index - 1] = undefined
      }`
  ]
]

// A connection that fails while it starts (killed during its first, internal query: the fetch of
// array types, or the state check of target_session_attrs) leaves that query's promise rejected
// with nobody listening: an unhandledRejection, which ends the process (close-with-grace shuts the
// service down on one). It also kept the dead connection's error and replayed it on the first query
// of the reconnected one. The startup queries' failures are now handled (the user's query gets the
// error through the connection as before), and a reconnect starts without the dead one's state.
// See https://github.com/porsager/postgres/issues/1192 and https://github.com/porsager/postgres/issues/1223
const STARTUP_MARKER = '/* ticket-booking: startup query guard */'
const startupReplacements = [
  ['        return fetchArrayTypes()\n', `        ${STARTUP_MARKER}\n        return fetchArrayTypes().catch(noop)\n`],
  ['    `], [], execute, null, { simple: true })\n', '    `], [], execute, null, { simple: true })\n    query.catch(noop)\n'],
  [
    '    if (initial)\n      return reconnect()\n',
    '    if (initial) {\n      query && query.reject(Errors.connection(\'CONNECTION_CLOSED\', options, socket))\n      query = errorResponse = null\n      return reconnect()\n    }\n'
  ]
]

// With `max_pipeline: 0` (one statement at a time per connection, what a pooler in transaction mode
// needs: see createSql) every transaction failed with UNSAFE_TRANSACTION, because `execute` stopped
// at the pipeline check before telling `begin` which connection its BEGIN went to. The check now
// comes after that call; with any other max_pipeline nothing changes (the call returns nothing, so
// BEGIN never let another statement be pipelined behind it, before or after).
// The same bug is reported in https://github.com/porsager/postgres/issues/970
const PIPELINE_MARKER = '/* ticket-booking: onexecute before the pipeline check */'
const pipelineReplacements = [
  [
    `        && sent.length < max_pipeline
        && (!q.options.onexecute || q.options.onexecute(connection))`,
    `        ${PIPELINE_MARKER}
        && (!q.options.onexecute || q.options.onexecute(connection))
        && sent.length < max_pipeline`
  ]
]

// With several hosts (DATABASE_URL naming a primary and its standby) a query waited for ever when
// none of them would do (the primary dead, the standby not yet promoted): the count of hosts tried,
// which decides when to give up, was never incremented, so every refusal was taken as "another
// host is left" and the connection went round the hosts with no pause until one became a primary.
// A query now tries each host once and fails (CONNECTION_DESTROYED, ECONNREFUSED, ...: a 503) after
// the last; a connect timeout also moves on to the next host instead of failing the query at once.
// See https://github.com/porsager/postgres/issues/1174 and https://github.com/porsager/postgres/pull/1175
const HOSTS_MARKER = '/* ticket-booking: count the hosts tried */'
const hostsReplacements = [
  ['    connect(query) {\n      initial = query\n      reconnect()\n', `    connect(query) {\n      ${HOSTS_MARKER}\n      retries = 0\n      initial = query\n      reconnect()\n`],
  ['      query = errorResponse = null\n      return reconnect()\n', '      query = errorResponse = null\n      retries++\n      return reconnect()\n'],
  ["  function connectTimedOut() {\n    errored(Errors.connection('CONNECT_TIMEOUT', options, socket))\n", "  function connectTimedOut() {\n    error(Errors.connection('CONNECT_TIMEOUT', options, socket))\n"]
]

// The pool keeps its connections in queues it does not expose; /metrics reports how many are in use
// and how many queries wait for one (src/db/pool-stats.ts reads this getter, and reports nothing
// when it is missing).
const STATS_MARKER = '/* ticket-booking: pool stats */'
const statsReplacements = [
  [
    `  Object.assign(sql, {
    get parameters() { return options.parameters },`,
    `  Object.assign(sql, {
    ${STATS_MARKER}
    get poolStats() { return { max: options.max, connecting: connecting.length, idle: open.length, inUse: busy.length + full.length + reserved.length, waiting: queries.length } },
    get parameters() { return options.parameters },`
  ]
]

function patch (relative, marker, edits) {
  const file = path.join(root, 'node_modules', 'postgres', relative)
  if (!existsSync(file)) return
  const original = readFileSync(file, 'utf8')
  if (original.includes(marker)) return
  if (!edits.every(([from]) => original.includes(from))) {
    console.warn(`patch-postgres: ${path.relative(root, file)} is not the expected postgres.js 3.4.9 code; left unchanged`)
    return
  }
  writeFileSync(file, edits.reduce((text, [from, to]) => text.split(from).join(to), original))
}

for (const variant of ['src', 'cjs/src', 'cf/src']) {
  patch(path.join(variant, 'queue.js'), QUEUE_MARKER, queueReplacements)
  patch(path.join(variant, 'index.js'), STATS_MARKER, statsReplacements)
}

for (const variant of ['src', 'cjs/src', 'cf/src']) {
  patch(path.join(variant, 'connection.js'), MARKER, replacements)
  patch(path.join(variant, 'connection.js'), STARTUP_MARKER, startupReplacements)
  patch(path.join(variant, 'connection.js'), PIPELINE_MARKER, pipelineReplacements)
  // After the startup query guard: it edits the lines this one extends.
  patch(path.join(variant, 'connection.js'), HOSTS_MARKER, hostsReplacements)
}
