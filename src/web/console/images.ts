/**
 * Console images: the image list, imports and their progress, and boot pins (`/api/v1/boot-assignments`).
 */
import type { FastifyPluginCallback } from 'fastify';
import { unlessMissing } from './api-call.js';
import { one, type Form } from './forms.js';
import { signedIn, type ConsoleOptions } from './render.js';

const enc = encodeURIComponent;

/** Registers `/images`, `/ui/images/*`, `/ui/pins`. */
export const imagePages: FastifyPluginCallback<ConsoleOptions> = (app, { api, page, fragment }, done) => {
  app.get('/images', async (req, reply) => {
    const call = api(req, reply);
    const [images, imports, pins] = await Promise.all([
      unlessMissing(call('GET', '/api/v1/images')),
      call('GET', '/api/v1/images/imports'),
      call('GET', '/api/v1/boot-assignments'),
    ]);
    return page(req, reply, 'images', { title: 'Images', images, imports, pins });
  });
  app.post<{ Body: Form }>('/ui/images/import', signedIn, async (req, reply) => {
    const source = one(req.body, 'source');
    const name = one(req.body, 'name');
    const s = await api(req, reply)('POST', '/api/v1/images/import', { source, ...(name ? { name } : {}) });
    return fragment(reply, '_import', { s });
  });
  app.get<{ Params: { id: string } }>('/ui/images/imports/:id', async (req, reply) =>
    fragment(reply, '_import', { s: await api(req, reply)('GET', `/api/v1/images/imports/${enc(req.params.id)}`) }),
  );
  app.post<{ Body: Form }>('/ui/pins', signedIn, async (req, reply) => {
    const uuid = one(req.body, 'uuid').toLowerCase();
    const image = one(req.body, 'image');
    const call = api(req, reply);
    if (image) await call('PUT', `/api/v1/boot-assignments/${enc(uuid)}`, { image });
    else await call('DELETE', `/api/v1/boot-assignments/${enc(uuid)}`);
    return fragment(reply, '_notice', {
      message: image ? `Host ${uuid} will boot ${image} next time.` : `Host ${uuid} is unpinned.`,
    });
  });
  done();
};
