import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
const [url, mode] = process.argv.slice(2);
const u = new URL(url);
const conn = { host: u.hostname, port: +u.port, tls: {}, maxRetriesPerRequest: null };
process.on('uncaughtException', (e) => { console.log('UNCAUGHT', e.code, e.stack.split('\n').slice(0, 12).join('\n')); process.exit(3); });
const objs = [];
if (mode.includes('q')) objs.push(new Queue('x', { connection: conn }));
if (mode.includes('r')) objs.push(new Redis(conn));
let n = 0;
for (const o of objs) o.on('error', async (e) => {
  console.log('error', o.constructor.name, e.code);
  if (n++ === 0) { for (const p of objs) { if (p.close) await p.close(); else p.disconnect(); } console.log('closed'); setTimeout(() => process.exit(0), 1000); }
});
