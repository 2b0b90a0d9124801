const mu = (l, prev) => { global.gc(); global.gc(); const m = process.memoryUsage(); console.log(l.padEnd(28), 'heapUsed', (m.heapUsed/1048576).toFixed(1), 'rss', (m.rss/1048576).toFixed(1)); return m.heapUsed; };
mu('bare');
for (const m of ['pino','zod','yaml','better-sqlite3','fast-xml-parser','fastify','@fastify/swagger','@fastify/swagger-ui','@fastify/static','@fastify/rate-limit','@fastify/cookie','eta','argon2','prom-client','commander','umzug','xmllint-wasm']) { await import(m); mu(m); }
for (const m of ['config/schema.js','store/index.js','clusters/index.js','vsphere/index.js','engine/jobs.js','web/app.js','boot/dhcp/server.js','boot/tftp/server.js','server.js']) { try { await import('./dist/' + m); mu(m); } catch (e) { console.log(m, 'ERR', e.message.slice(0,80)); } }
