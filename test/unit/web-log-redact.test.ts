/** Secret query values are redacted from logged request URLs (src/web/log-redact.ts). */
import { describe, expect, it } from 'vitest';
import { redactUrl, serializeRequest } from '../../src/web/log-redact.js';
import type { FastifyRequest } from 'fastify';

describe('redactUrl', () => {
  it('redacts token-like parameters and keeps the path and the other parameters byte for byte', () => {
    expect(redactUrl('/api/v1/phone-home?uuid=4c4c4544-0031&token=SECRET&mac=aa%3Abb&format=ipxe')).toBe(
      '/api/v1/phone-home?uuid=4c4c4544-0031&token=[redacted]&mac=aa%3Abb&format=ipxe',
    );
    expect(redactUrl('/setup?token=abc')).toBe('/setup?token=[redacted]');
    expect(redactUrl('/x?access_token=a&Password=b&_csrf=c&api-key=d&setupToken=e&next=%2Fui')).toBe(
      '/x?access_token=[redacted]&Password=[redacted]&_csrf=[redacted]&api-key=[redacted]&setupToken=[redacted]&next=%2Fui',
    );
  });

  it('matches percent-encoded and repeated names, leaves URLs without a query alone', () => {
    expect(redactUrl('/p?%74oken=a&token=b&token')).toBe('/p?%74oken=[redacted]&token=[redacted]&token');
    expect(redactUrl('/boot/token/boot.cfg')).toBe('/boot/token/boot.cfg');
    expect(redactUrl('/p?bad=%E0%A4%A&token=x')).toBe('/p?bad=%E0%A4%A&token=[redacted]');
  });

  it('serializeRequest logs the redacted URL with the fields fastify logs', () => {
    const req = {
      method: 'GET',
      url: '/api/v1/phone-home?uuid=u&token=T0K3N',
      headers: {},
      host: '127.0.0.1:8080',
      ip: '127.0.0.1',
      socket: { remotePort: 4242 },
    };
    expect(serializeRequest(req as unknown as FastifyRequest)).toEqual({
      method: 'GET',
      url: '/api/v1/phone-home?uuid=u&token=[redacted]',
      version: undefined,
      host: '127.0.0.1:8080',
      remoteAddress: '127.0.0.1',
      remotePort: 4242,
    });
  });
});

describe('the web app logger', () => {
  it('redacts the token in the incoming-request line and in a `url` field logged by a handler', async () => {
    const { Writable } = await import('node:stream');
    const { createLogger } = await import('../../src/log.js');
    const { buildApp } = await import('../../src/web/app.js');
    const { openStore } = await import('../../src/store/index.js');
    let text = '';
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        text += c.toString();
        cb();
      },
    });
    const store = await openStore(':memory:');
    const app = await buildApp({ store, log: createLogger('info', sink) });
    app.get('/t', (req) => {
      req.log.warn({ method: req.method, url: req.url }, 'handler line');
      return 'ok';
    });
    const r = await app.inject({ method: 'GET', url: '/t?a=1&token=S3CR3T-VALUE' });
    expect(r.statusCode).toBe(200);
    await app.close();
    store.close();
    expect(text).toContain('"url":"/t?a=1&token=[redacted]"');
    expect(text).toContain('handler line');
    expect(text).not.toContain('S3CR3T-VALUE');
  });
});
