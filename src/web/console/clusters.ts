/**
 * Console clusters: the list, the cluster-file editor with its issues marked on their lines, and the
 * validate, save, plan, drift and apply fragments.
 */
import type { FastifyPluginCallback } from 'fastify';
import { HttpProblem } from '../problem.js';
import { unlessMissing } from './api-call.js';
import { many, type Form } from './forms.js';
import { signedIn, type ConsoleOptions } from './render.js';

/** The held members, due rejoins and warnings that `GET …/plan` and `…/drift` answer with (rendered by `_plan`). */
interface LifecycleView {
  held: { uuid: string; fqdn: string; reason: string; detail: string }[];
  rejoins: { uuid: string; fqdn: string; phonedHomeAt: number; failedJob?: string }[];
  warnings?: { uuid: string; fqdn: string; reason: string; reported: string; detail: string }[];
}

/** The `_plan` fragment's lifecycle parts of a plan or drift answer (`warnings` empty when absent). */
function lifecycleOf(r: LifecycleView): Required<LifecycleView> {
  return { held: r.held, rejoins: r.rejoins, warnings: r.warnings ?? [] };
}

const enc = encodeURIComponent;

/** A cluster-file issue (ClusterIssue, or a 422 problem's field error): message, element path, 1-based line/column. */
interface Issue {
  message: string;
  path?: string;
  line?: number;
  column?: number;
}

/** One line of the cluster editor's overlay: its text and the messages of the issues on it. */
interface EditorLine {
  n: number;
  text: string;
  messages: string[];
}

/**
 * The lines of a cluster file with the issues that name a line attached (an issue past the end is
 * shown on the last line). Issues without a line are listed only, not marked.
 */
export function editorLines(xml: string, issues: Issue[]): EditorLine[] {
  const lines = xml.split(/\r?\n/).map((text, i) => ({ n: i + 1, text, messages: [] as string[] }));
  for (const i of issues) {
    if (!i.line || i.line < 1) continue;
    lines[Math.min(i.line, lines.length) - 1]!.messages.push(
      i.column ? `${i.line}:${i.column} ${i.message}` : i.message,
    );
  }
  return lines;
}

/** Registers `/clusters`, `/clusters/:name`, `/ui/clusters/:name/*`. */
export const clusterPages: FastifyPluginCallback<ConsoleOptions> = (app, { api, page, fragment }, done) => {
  app.get('/clusters', async (req, reply) =>
    page(req, reply, 'clusters', {
      title: 'Clusters',
      clusters: await unlessMissing(api(req, reply)('GET', '/api/v1/clusters')),
    }),
  );
  app.get<{ Params: { name: string } }>('/clusters/:name', async (req, reply) => {
    const call = api(req, reply);
    const xml = await call<string>('GET', `/api/v1/clusters/${enc(req.params.name)}/xml`);
    // The listing carries each file's validation issues: a GET page makes GET calls only.
    const summary = (await call<Array<{ name: string; errors: Issue[] }>>('GET', '/api/v1/clusters')).find(
      (c) => c.name === req.params.name,
    );
    const issues = summary?.errors ?? [];
    return page(req, reply, 'cluster', {
      title: `Cluster ${req.params.name}`,
      name: req.params.name,
      xml,
      issues,
      lines: editorLines(xml, issues),
    });
  });
  app.post<{ Params: { name: string }; Body: Form }>('/ui/clusters/:name/validate', signedIn, async (req, reply) => {
    const xml = many(req.body, 'xml')[0] ?? '';
    const r = await api(req, reply)<{ issues: Issue[] }>('POST', `/api/v1/clusters/${enc(req.params.name)}/validate`, {
      xml,
    });
    return fragment(reply, '_issues', {
      issues: r.issues,
      saved: false,
      lines: editorLines(xml, r.issues),
      oob: true,
    });
  });
  app.post<{ Params: { name: string }; Body: Form }>('/ui/clusters/:name/save', signedIn, async (req, reply) => {
    const xml = many(req.body, 'xml')[0] ?? '';
    try {
      await api(req, reply)('PUT', `/api/v1/clusters/${enc(req.params.name)}/xml`, { xml });
    } catch (e) {
      if (e instanceof HttpProblem && e.status === 422 && e.errors) {
        return fragment(reply.code(422), '_issues', {
          issues: e.errors,
          saved: false,
          lines: editorLines(xml, e.errors),
          oob: true,
        });
      }
      throw e;
    }
    return fragment(reply, '_issues', { issues: [], saved: true, lines: editorLines(xml, []), oob: true });
  });
  app.get<{ Params: { name: string } }>('/ui/clusters/:name/plan', async (req, reply) => {
    const r = await api(req, reply)<LifecycleView & { steps: unknown[] }>(
      'GET',
      `/api/v1/clusters/${enc(req.params.name)}/plan`,
    );
    return fragment(reply, '_plan', { steps: r.steps, ...lifecycleOf(r), what: 'plan' });
  });
  app.get<{ Params: { name: string } }>('/ui/clusters/:name/drift', async (req, reply) => {
    const r = await api(req, reply)<LifecycleView & { driftSteps: unknown[]; missingHosts: string[] }>(
      'GET',
      `/api/v1/clusters/${enc(req.params.name)}/drift`,
    );
    return fragment(reply, '_plan', {
      steps: r.driftSteps,
      missingHosts: r.missingHosts,
      ...lifecycleOf(r),
      what: 'drift',
    });
  });
  app.post<{ Params: { name: string } }>('/ui/clusters/:name/apply', signedIn, async (req, reply) =>
    fragment(reply, '_job-queued', {
      job: await api(req, reply)('POST', `/api/v1/clusters/${enc(req.params.name)}/apply`),
    }),
  );
  done();
};
