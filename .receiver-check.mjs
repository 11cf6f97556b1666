import { createServer } from 'node:http'
import { Webhook } from 'standardwebhooks'

const webhook = new Webhook(process.env.WEBHOOK_SECRET) // the whsec_… secret
createServer((req, res) => {
  let body = ''
  req.on('data', (chunk) => { body += chunk }).on('end', () => {
    try {
      const event = webhook.verify(body, req.headers) // throws on a bad signature or an old timestamp
      console.log(event.type, event.data.booking?.id ?? event.data.endpointId)
      res.writeHead(204).end()
    } catch { res.writeHead(400).end() }
  })
}).listen(4000)
