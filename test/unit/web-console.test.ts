/**
 * The console uses only the public API: its pages and /ui/ fragments reach the server through
 * in-process `/api/v1` requests with the caller's own session (so the API's roles, CSRF, audit and
 * problems apply), render API problems as HTML, and show the editor marks, live job steps, last
 * booted images and MAC-only boot events.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { clusterService } from '../../src/app/web-adapters.js';
import { editorLines } from '../../src/web/console/clusters.js';
import { sideBySide } from '../../src/web/console/cluster-history.js';
import {
  makeApp,
  loginAs,
  call,
  clusterRepo,
  clusterXml,
  cookiesOf,
  RecordingQueue,
  PASSWORD,
  type Client,
} from '../helpers/web.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const U1 = '4c4c4544-0033-4810-8052-b4c04f4e3401';
const U2 = '4c4c4544-0033-4810-8052-b4c04f4e3402';
const MAC1 = '52:54:00:00:00:01';

describe('web console: only the public API', () => {
  it('imports no store, service, context, auth or API module: only eta, fastify types, node:url, problem and schema patterns', () => {
    const dir = join(process.cwd(), 'src/web/console');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    // One plugin per resource, plus the shared API call, forms and renderers.
    expect(files.sort()).toEqual([
      'admin.ts',
      'api-call.ts',
      'cluster-history.ts',
      'clusters.ts',
      'dashboard.ts',
      'forms.ts',
      'hosts.ts',
      'images.ts',
      'index.ts',
      'jobs.ts',
      'render.ts',
      'session.ts',
    ]);
    const outside = new Set<string>();
    const fromProblem = new Set<string>();
    for (const f of files) {
      const src = readFileSync(join(dir, f), 'utf8');
      const imports = [...src.matchAll(/^import\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]!);
      // Sibling modules of the console are the only other imports.
      for (const i of imports) if (!/^\.\/[a-z-]+\.js$/.test(i)) outside.add(i);
      // No WebContext / deps in sight, and the schema import is the field patterns only.
      expect(src).not.toMatch(/\bctx\b|\.deps\b|\bstore\b\./);
      const schemas = /import \{([^}]*)\} from '\.\.\/schemas\.js'/.exec(src);
      if (schemas) expect(schemas[1]!.trim()).toBe('IPV4_PATTERN');
      const problem = /import \{([^}]*)\} from '\.\.\/problem\.js'/.exec(src);
      for (const n of problem?.[1]!.split(',') ?? []) fromProblem.add(n.trim());
    }
    expect([...outside].sort()).toEqual(['../problem.js', '../schemas.js', 'eta', 'fastify', 'node:url']);
    expect([...fromProblem].sort()).toEqual(['HttpProblem', 'reasonPhrase', 'type FieldError']);
  });

  it('lays diff hunks side by side: context on both sides, removed and added lines paired in order', () => {
    const rows = sideBySide([
      {
        oldStart: 3,
        oldLines: 4,
        newStart: 3,
        newLines: 5,
        lines: [' a', '-b', '-c', '+B', '+C', '+D', ' e', '\\ No newline at end of file'],
      },
    ]);
    expect(rows.map((r) => [r.kind, r.left?.n, r.left?.text, r.right?.n, r.right?.text, r.header])).toEqual([
      ['hunk', undefined, undefined, undefined, undefined, '@@ -3,4 +3,5 @@'],
      ['same', 3, 'a', 3, 'a', undefined],
      ['change', 4, 'b', 4, 'B', undefined],
      ['change', 5, 'c', 5, 'C', undefined],
      ['add', undefined, undefined, 6, 'D', undefined],
      ['same', 6, 'e', 7, 'e', undefined],
    ]);
  });

  it('marks issues on their lines (past the end: the last line); issues without a line are not marked', () => {
    const lines = editorLines('<a>\n<b/>\n</a>', [
      { message: 'bad b', line: 2, column: 3 },
      { message: 'late', line: 9 },
      { message: 'no line' },
    ]);
    expect(lines.map((l) => [l.n, l.text, l.messages])).toEqual([
      [1, '<a>', []],
      [2, '<b/>', ['2:3 bad b']],
      [3, '</a>', ['late']],
    ]);
  });
});

describe('web console: pages and actions through /api/v1', () => {
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;
  let op: Client;
  let view: Client;
  let cleanup: () => void;
  let dir: string;
  const seen: Array<{ method: string; url: string; user: string | undefined }> = [];
  const queue = new RecordingQueue();

  beforeAll(async () => {
    const r = await clusterRepo({ 'lab.xml': clusterXml('lab') });
    cleanup = r.cleanup;
    dir = r.dir;
    ({ app, store } = await makeApp({ clusters: clusterService(r.repo), queue }, undefined, (a) => {
      a.addHook('preHandler', (req, _reply, done) => {
        if (req.url.startsWith('/api/v1/')) seen.push({ method: req.method, url: req.url, user: req.user?.username });
        done();
      });
    }));
    admin = await loginAs(app, 'admin');
    op = await loginAs(app, 'op');
    view = await loginAs(app, 'view');
    await store.hosts.upsertSighting({ uuid: U1, at: 1000, mac: MAC1, hostname: 'esx1' });
    await store.hosts.upsertSighting({ uuid: U2, at: 2000, mac: '52:54:00:00:00:02' });
  });
  afterAll(async () => {
    await app.close();
    store.close();
    cleanup();
  });

  it('renders the host page from GET /api/v1/hosts/:uuid, its boots (MAC-only events included) and jobs, as the caller', async () => {
    await store.hosts.addBootEvent({
      at: 5000,
      hostUuid: null,
      mac: MAC1,
      address: '10.0.0.9',
      protocol: 'dhcp',
      file: 'undionly.kpxe',
      image: null,
      firmware: 'bios',
    });
    await store.hosts.addBootEvent({
      at: 6000,
      hostUuid: U1,
      mac: MAC1,
      address: '10.0.0.9',
      protocol: 'http',
      file: '/boot/esxi-a/mboot.efi',
      image: 'esxi-a',
      firmware: 'efi',
    });
    seen.length = 0;
    const res = await call(app, view, 'GET', `/hosts/${U1}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('undionly.kpxe'); // the MAC-only DHCP request
    expect(res.body).toContain('/boot/esxi-a/mboot.efi');
    expect(res.body).toMatch(/<dd id="last-image">esxi-a<\/dd>/);
    expect(seen.map((s) => `${s.method} ${s.url.split('?')[0]}`).sort()).toEqual(
      [
        'GET /api/v1/hosts/' + U1,
        `GET /api/v1/hosts/${U1}/boots`,
        `GET /api/v1/hosts/${U1}/install`,
        `GET /api/v1/hosts/${U1}/jobs`,
        'GET /api/v1/images',
        'GET /api/v1/session',
      ].sort(),
    );
    expect(new Set(seen.map((s) => s.user))).toEqual(new Set(['view']));
  });

  it('shows the image each host last booted next to its pin on the hosts page', async () => {
    await store.hosts.setImagePin(U1, 'esxi-b', 7000);
    const res = await call(app, view, 'GET', '/hosts');
    const row = new RegExp(`<tr><td><a href="/hosts/${U1}">[\\s\\S]*?</tr>`).exec(res.body)![0];
    expect(row).toMatch(/<span class="pin">pin: esxi-b<\/span> · <span class="booted"[^>]*>booted: esxi-a<\/span>/);
    const row2 = new RegExp(`<tr><td><a href="/hosts/${U2}">[\\s\\S]*?</tr>`).exec(res.body)![0];
    expect(row2).toContain('<td class="image"><span class="muted">—</span></td>');
    await store.hosts.setImagePin(U1, null, 7001);
  });

  it('lists recent boots of every host on the dashboard through GET /api/v1/boots', async () => {
    seen.length = 0;
    const res = await call(app, view, 'GET', '/');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('undionly.kpxe');
    expect(seen.map((s) => s.url)).toContain('/api/v1/boots?limit=10');
    const api = await call(app, view, 'GET', '/api/v1/boots?limit=1');
    expect(api.json()).toEqual([expect.objectContaining({ at: 6000, hostUuid: U1, image: 'esxi-a' })]);
  });

  it('renders API problems as HTML: unknown host 404, bad UUID 400, a viewer on /users 403', async () => {
    const unknown = await call(app, view, 'GET', '/hosts/00000000-0000-0000-0000-00000000abcd');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^text\/html/);
    expect(unknown.body).toContain('<title>Not Found · statelesx</title>');
    expect(unknown.body).toContain('host 00000000-0000-0000-0000-00000000abcd not found');
    expect(unknown.body).toContain('<nav aria-label="Main">');
    const bad = await call(app, view, 'GET', '/hosts/not-a-uuid');
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^text\/html/);
    expect(bad.body).toContain('<code>/params/uuid</code>');
    const users = await call(app, view, 'GET', '/users');
    expect(users.statusCode).toBe(403);
    expect(users.body).toMatch(/role viewer may not GET \/api\/v1\/users \(needs admin\)/);
    expect((await call(app, admin, 'GET', '/users')).body).toContain('<td>view</td>');
  });

  it('pins through PUT /api/v1/boot-assignments as the caller: the API checks the role, validates, audits', async () => {
    const byViewer = await call(app, view, 'POST', '/ui/pins', `uuid=${U2}&image=esxi-a`, FORM);
    expect(byViewer.statusCode).toBe(403);
    expect(byViewer.body).toMatch(/^<div class="alert error" role="alert">/);
    expect(byViewer.body).toContain('role viewer may not PUT /api/v1/boot-assignments/:uuid (needs operator)');
    const badUuid = await call(app, op, 'POST', '/ui/pins', 'uuid=nope&image=esxi-a', FORM);
    expect(badUuid.statusCode).toBe(400);
    expect(badUuid.body).toContain('<code>/params/uuid</code>');
    const ok = await call(app, op, 'POST', '/ui/pins', `uuid=${U2}&image=esxi-a`, FORM);
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain(`Host ${U2} will boot esxi-a next time.`);
    expect((await store.hosts.get(U2))?.imagePin).toBe('esxi-a');
    expect((await store.audit.list(1))[0]).toMatchObject({ actor: 'op', action: 'pin.set', target: U2 });
    // The API's CSRF check applies to the forwarded call: a form with the right _csrf works, none is refused.
    const form = await app.inject({
      method: 'POST',
      url: '/ui/pins',
      cookies: op.cookies,
      headers: FORM,
      payload: `uuid=${U2}&image=&_csrf=${encodeURIComponent(op.csrf)}`,
    });
    expect(form.statusCode).toBe(200);
    expect((await store.hosts.get(U2))?.imagePin).toBeNull();
    const none = await app.inject({
      method: 'POST',
      url: '/ui/pins',
      cookies: op.cookies,
      headers: FORM,
      payload: `uuid=${U2}&image=esxi-a`,
    });
    expect(none.statusCode).toBe(403);
    expect((await store.hosts.get(U2))?.imagePin).toBeNull();
  });

  it('joins through POST /api/v1/unregistered/join; its field errors name the host, not its index', async () => {
    const incomplete = await call(app, op, 'POST', '/ui/join', `hosts=${U1}&fqdn.${U1}=&cluster=lab`, FORM);
    expect(incomplete.statusCode).toBe(400);
    expect(incomplete.body).toContain('<code>/body/hosts/0/fqdn</code>');
    expect(incomplete.body).toContain(`host ${U1}: enter the FQDN vCenter will use`);
    const badAddr = await call(
      app,
      op,
      'POST',
      '/ui/join',
      `hosts=${U1}&fqdn.${U1}=esx1.lab.example&addr.${U1}=vmk1%3D10.0.0.300&cluster=lab`,
      FORM,
    );
    expect(badAddr.statusCode).toBe(400);
    expect(badAddr.body).toContain('&quot;vmk1=10.0.0.300&quot; is not vmkN=a.b.c.d');
    // The cluster file's own validation answers too (this cluster has no vmk1), per host.
    const noNic = await call(
      app,
      op,
      'POST',
      '/ui/join',
      `hosts=${U1}&fqdn.${U1}=esx1.lab.example&addr.${U1}=vmk1%3D10.0.1.11&cluster=lab`,
      FORM,
    );
    expect(noNic.statusCode).toBe(200);
    expect(noNic.body).toContain('vmk1 is not a VMkernel NIC of this cluster');
    const ok = await call(app, op, 'POST', '/ui/join', `hosts=${U1}&fqdn.${U1}=esx1.lab.example&cluster=lab`, FORM);
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toMatch(
      /Host <code>[0-9a-f-]+<\/code> added to <strong>lab<\/strong>; job <a href="\/jobs\/job-1"/,
    );
    expect(readFileSync(join(dir, 'lab.xml'), 'utf8')).toContain(`uuid="${U1}"`);
    expect((await store.audit.list(1))[0]).toMatchObject({
      actor: 'op',
      action: 'host.join',
      target: U1,
      after: expect.objectContaining({ cluster: 'lab', fqdn: 'esx1.lab.example' }) as unknown,
    });
  });

  it('cluster editor: the page and the live validation mark the offending lines in a gutter with the message', async () => {
    const page = await call(app, view, 'GET', '/clusters/lab');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('id="xml-gutter"');
    expect(page.body).not.toContain('class="ln err"');
    expect(page.body).toContain('hx-trigger="input changed delay:700ms from:#xml"');
    const broken = clusterXml('lab').replace(
      '<datacenter>DC0</datacenter>',
      '<datacenter>DC0</datacenter>\n  <bogus/>',
    );
    const line = broken.split('\n').findIndex((l) => l.includes('<bogus/>')) + 1;
    const v = await call(app, view, 'POST', '/ui/clusters/lab/validate', `xml=${encodeURIComponent(broken)}`, FORM);
    expect(v.statusCode).toBe(200);
    expect(v.body).toContain('issue(s)');
    expect(v.body).toMatch(/<div class="gutter" id="xml-gutter" aria-hidden="true" hx-swap-oob="true">/);
    const mark = new RegExp(`<span class="ln err" title="([^"]*)">${line}</span>`).exec(v.body);
    expect(mark?.[1]).toMatch(new RegExp(`^${line}:\\d+ .*bogus`));
    expect(v.body).toMatch(
      new RegExp(
        `<div class="row err" data-line="${line}"><span class="txt">  &lt;bogus/&gt;</span><span class="msg">${line}:\\d+ [^<]*bogus`,
      ),
    );
    // Saving the broken file (admin): 422 from PUT /api/v1/clusters/:name/xml, marked the same way, nothing written.
    const before = readFileSync(join(dir, 'lab.xml'), 'utf8');
    const s = await call(app, admin, 'POST', '/ui/clusters/lab/save', `xml=${encodeURIComponent(broken)}`, FORM);
    expect(s.statusCode).toBe(422);
    expect(s.body).toMatch(new RegExp(`<span class="ln err" title="[^"]*bogus[^"]*">${line}</span>`));
    expect(readFileSync(join(dir, 'lab.xml'), 'utf8')).toBe(before);
    const unknown = await call(app, view, 'GET', '/clusters/nope');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toContain('cluster nope not found');
  });

  it('logs in and out through /api/v1/session: the form gets the session cookie, logout ends it', async () => {
    const pre = await app.inject({ url: '/login' });
    expect(pre.statusCode).toBe(200);
    const cookies = cookiesOf(pre);
    expect(Object.keys(cookies)).toEqual(['sx_prelogin']);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(pre.body)![1]!;
    const wrong = await app.inject({
      method: 'POST',
      url: '/login',
      cookies,
      headers: FORM,
      payload: `_csrf=${encodeURIComponent(csrf)}&username=op&password=nope&next=%2Fhosts`,
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('wrong user name or password');
    const ok = await app.inject({
      method: 'POST',
      url: '/login',
      cookies,
      headers: FORM,
      payload: `_csrf=${encodeURIComponent(csrf)}&username=op&password=${encodeURIComponent(PASSWORD)}&next=%2Fhosts`,
    });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe('/hosts');
    const session = cookiesOf(ok, cookies);
    expect(session['sx_session']).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(session['sx_prelogin']).toBeUndefined();
    expect((await store.audit.list(1))[0]).toMatchObject({ actor: 'op', action: 'session.login' });
    const hosts = await app.inject({ url: '/hosts', cookies: session });
    expect(hosts.statusCode).toBe(200);
    const token = /name="_csrf" value="([^"]+)"/.exec(hosts.body)![1]!;
    const out = await app.inject({
      method: 'POST',
      url: '/logout',
      cookies: session,
      headers: FORM,
      payload: `_csrf=${encodeURIComponent(token)}`,
    });
    expect(out.statusCode).toBe(303);
    expect((await app.inject({ url: '/api/v1/hosts', cookies: session })).statusCode).toBe(401);
  });
});

describe('web console: job page steps live over /api/v1/jobs/:id/events', () => {
  it('sends a job event when a step changes while the job state stays running, and the page renders the steps', async () => {
    const { app, store } = await makeApp({}, [['view', 'viewer']], undefined);
    const view = await loginAs(app, 'view');
    await store.jobs.create({ id: 'j1', kind: 'configure-host', target: U1, at: 1 });
    await store.jobs.markRunning('j1', 2);
    const [s1, s2] = await store.jobs.appendSteps('j1', [
      { name: 'AddHost_Task', target: 'esx1.lab.example', args: {}, before: null, after: null },
      { name: 'UpdateNtp', target: 'esx1.lab.example', args: {}, before: null, after: null },
    ]);
    const page = await call(app, view, 'GET', '/jobs/j1');
    expect(page.body).toMatch(/<ol class="plan" id="job-steps" aria-live="polite">[\s\S]*AddHost_Task[\s\S]*s-pending/);
    const stream = call(app, view, 'GET', '/api/v1/jobs/j1/events');
    await new Promise((r) => setTimeout(r, 150));
    await store.jobs.stepStarted('j1', s1!, 3);
    await new Promise((r) => setTimeout(r, 600));
    await store.jobs.stepDone('j1', s1!, 4, null);
    await store.jobs.stepStarted('j1', s2!, 4);
    await new Promise((r) => setTimeout(r, 600));
    await store.jobs.finish('j1', 'succeeded', 5);
    const body = (await stream).body;
    const events = body
      .split('\n\n')
      .filter((b) => b.startsWith('event: job'))
      .map((b) => JSON.parse(b.split('\ndata: ')[1]!) as { state: string; steps: Array<{ state: string }> });
    const states = events.map((e) => `${e.state}:${e.steps.map((s) => s.state).join(',')}`);
    expect(states).toEqual([
      'running:pending,pending',
      'running:running,pending',
      'running:done,running',
      'succeeded:done,running',
    ]);
    await app.close();
    store.close();
  });
});
